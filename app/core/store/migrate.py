"""Schema migrations (Alembic) run on the keyed connection, from the first version on."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from app.core.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest schema revision this build knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, target: str = "head") -> None:
    """Bring the schema to `target` inside the caller's transaction.

    A store written by a newer Novamind (a revision this build does not know) is refused with
    a clear message before anything runs, rather than Alembic's "Can't locate revision".
    """
    current = current_revision(connection)
    if current is not None:
        try:
            ScriptDirectory.from_config(alembic_config()).get_revision(current)
        except CommandError:
            raise StoreError(
                f"The store is at schema revision '{current}', newer than this version of "
                f"Novamind knows (newest: '{head_revision()}').",
                hint="Install the same or a newer Novamind version, or restore a backup made "
                "by this version.",
            ) from None
    command.upgrade(alembic_config(connection), target)
