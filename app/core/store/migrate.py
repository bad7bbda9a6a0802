"""Schema migrations (Alembic) run on the keyed connection, from the first version on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

from app.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]*)?=\s*(?:\"([^\"]*)\"|None)", re.M)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415 — Alembic (+Mako, ~30 MB) only to migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest schema revision this build knows."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def head_from_files() -> str | None:
    """The head revision read from the version files' ``revision``/``down_revision`` lines
    without importing Alembic; None unless exactly one head (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (parents if down else revisions).add(value)
    heads = revisions - parents - {""}
    return heads.pop() if len(heads) == 1 else None


def current_revision(connection: Connection) -> str | None:
    """The store's schema revision (Alembic's version table), read with plain SQL."""
    has_table = connection.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
    ).first()
    if has_table is None:
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return rows[0][0] if len(rows) == 1 else None


def upgrade(connection: Connection, target: str = "head") -> None:
    """Bring the schema to `target` inside the caller's transaction.

    A store written by a newer Novamind (a revision this build does not know) is refused with
    a clear message before anything runs, rather than Alembic's "Can't locate revision".
    """
    current = current_revision(connection)
    if target == "head" and current is not None and current == head_from_files():
        return  # already at head: nothing to run, and Alembic is never imported
    from alembic import command  # noqa: PLC0415
    from alembic.script import ScriptDirectory  # noqa: PLC0415
    from alembic.util import CommandError  # noqa: PLC0415

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
