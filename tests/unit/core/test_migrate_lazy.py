"""The store imports Alembic (and Mako, ~11 MB RSS) only when it must migrate: at head,
opening reads the revision with plain SQL and compares it with the version files' head."""

from __future__ import annotations

import sys

import pytest

from app.core.config import Settings
from app.core.store import migrate
from app.services.context import AppContext


def test_head_from_files_is_alembics_head() -> None:
    assert migrate.head_from_files() == migrate.head_revision() != ""


def test_a_store_at_head_opens_without_alembic(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    AppContext.open(settings).close()  # new: created and migrated with Alembic
    for name in ("alembic", "alembic.command", "alembic.config", "alembic.script"):
        monkeypatch.setitem(sys.modules, name, None)  # any import of it now raises
    ctx = AppContext.open(settings)
    try:
        assert ctx.store.schema_revision() == migrate.head_from_files()
    finally:
        ctx.close()
