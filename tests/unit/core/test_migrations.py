from __future__ import annotations

import secrets
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from app.core.security import keys
from app.core.store import migrate
from app.core.store.models import Base
from app.core.store.store import Store
from app.services import admin
from app.services.context import AppContext, cli_actor


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db", secrets.token_bytes(32))
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    store.close()
    assert diff == [], f"models changed without a migration: {diff}"


def test_new_store_is_at_head(ctx: AppContext) -> None:
    assert ctx.store.schema_revision() == migrate.head_revision()


def test_rotate_key_reopens_with_new_key(ctx: AppContext, clinic: dict, memory_keyring) -> None:
    settings = ctx.settings
    old = keys.load_db_key(settings.keyring_service, settings.db_path, create=False)
    admin.rotate_db_key(ctx, cli_actor())
    ctx.close()
    new = keys.load_db_key(settings.keyring_service, settings.db_path, create=False)
    assert new != old
    reopened = AppContext.open(settings)
    try:
        assert admin.verify_audit(reopened, cli_actor()).ok
    finally:
        reopened.close()


def test_interrupted_rotation_is_recovered(ctx: AppContext, memory_keyring) -> None:
    """Crash after the re-key but before the keyring update: the pending key is adopted."""
    settings = ctx.settings
    new_key = secrets.token_bytes(32)
    keys.park_pending_key(settings.keyring_service, settings.db_path, new_key)
    ctx.store.rekey(new_key)
    ctx.close()  # "crash": the keyring still holds the old key as current
    reopened = AppContext.open(settings)
    reopened.close()
    assert keys.load_db_key(settings.keyring_service, settings.db_path, create=False) == new_key
    assert keys.pending_db_key(settings.keyring_service, settings.db_path) is None
