"""Upgrading the app keeps the data: a real SQLCipher store written at the PREVIOUS schema
revision (realistic rows: the demo clinic's staff, patients, assessments, notes and audit chain)
is opened the way the app opens it (AppContext.open migrates on open) and comes out at head with
every row intact; a store from a NEWER, unknown revision is refused with a clear error and left
untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, insert, inspect, select, text

from app.core.config import Settings, load_settings
from app.core.errors import NovamindError
from app.core.security import keys
from app.core.store import migrate
from app.core.store.engine import enable_wal, make_engine
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import admin, auth, patients
from app.services.context import AppContext, cli_actor

# tables whose rows the check compares (the clinical record and its audit trail)
CORE = ("users", "patients", "care_team", "assessment_responses", "clinical_notes", "audit_events")


def previous_revision() -> str:
    """The revision just before head (moves along when a new migration lands)."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    head = script.get_revision(script.get_current_head())
    prev = head.down_revision
    assert isinstance(prev, str), "head must have exactly one parent revision"
    return prev


def _settings(tmp_path: Path, name: str) -> Settings:
    return load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp_path / name), "NOVAMIND_POLICY": str(tmp_path / "none.toml")}
    )


def _engine(settings: Settings) -> Engine:
    """A raw engine on the store (no migration, no audit-key set-up), keyed as the app keys it."""
    key = keys.load_db_key(settings.keyring_service, settings.db_path, create=True)
    return make_engine(settings.db_path, key)


def _rows(
    engine: Engine, tables: list[str], columns: dict[str, list[str]] | None = None
) -> dict[str, list[tuple]]:
    """Every row of `tables` (only `columns` where given: those an older revision had), in a
    stable order, as plain tuples."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        meta = MetaData()
        meta.reflect(conn, only=tables)
        for name in tables:
            t = meta.tables[name]
            cols = [t.c[c] for c in columns[name]] if columns else list(t.c)
            query = select(*cols).order_by(*t.primary_key)
            out[name] = [tuple(r) for r in conn.execute(query)]
    return out


@pytest.fixture(scope="module")
def source_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """Realistic rows: the demo clinic, made by the current code in a scratch store."""
    import keyring

    from tests.support.keyring_backends import MemoryKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        ctx = AppContext.open(_settings(tmp_path_factory.mktemp("src"), "data"))
        try:
            create_demo_clinic(ctx, patients=3, days=30, actigraphy_days=1)
            with ctx.store.engine.connect() as conn:
                names = inspect(conn).get_table_names()
                meta = MetaData()
                meta.reflect(conn, only=[n for n in names if n != "alembic_version"])
                rows = {
                    n: [dict(r._mapping) for r in conn.execute(select(t))]
                    for n, t in meta.tables.items()
                }
            # a store of the previous revision kept its audit-chain key in its meta table
            rows["meta"].append({"key": "audit_chain_key", "value": ctx.store.audit_key.hex()})
            return rows
        finally:
            ctx.close()
    finally:
        keyring.set_keyring(previous)


def make_previous_store(settings: Settings, rows: dict[str, list[dict]]) -> dict[str, int]:
    """An encrypted store at the previous revision holding `rows` (only that revision's
    tables and columns), keyed from the keyring as the app keys it; returns row counts."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = _engine(settings)
    enable_wal(
        settings.db_path, keys.load_db_key(settings.keyring_service, settings.db_path, create=False)
    )
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            migrate.upgrade(conn, previous_revision())
        with engine.begin() as conn:
            assert migrate.current_revision(conn) == previous_revision()
            meta = MetaData()
            meta.reflect(conn)
            for table in meta.sorted_tables:  # parents before children (foreign keys)
                name = table.name
                if name == "alembic_version" or not rows.get(name):
                    continue
                cols = set(table.columns.keys())
                conn.execute(
                    insert(table), [{k: v for k, v in r.items() if k in cols} for r in rows[name]]
                )
                counts[name] = len(rows[name])
    finally:
        engine.dispose()
    return counts


def test_previous_revision_store_is_migrated_on_open_with_data_intact(
    tmp_path: Path, source_rows: dict[str, list[dict]]
) -> None:
    settings = _settings(tmp_path, "data")
    counts = make_previous_store(settings, source_rows)
    assert counts["patients"] == 3 and counts["assessment_responses"] > 0
    engine = _engine(settings)
    before = _rows(engine, list(CORE))
    with engine.connect() as conn:
        old_columns = {t: [c["name"] for c in inspect(conn).get_columns(t)] for t in CORE}
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == previous_revision() != migrate.head_revision()
    engine.dispose()

    ctx = AppContext.open(settings)  # what the app does at start-up: migrates to head
    try:
        assert ctx.store.schema_revision() == migrate.head_revision()
        assert _rows(ctx.store.engine, list(CORE), old_columns) == before
        with ctx.store.engine.connect() as conn:
            present = set(inspect(conn).get_table_names())
        assert set(source_rows) <= present  # the head schema is complete
        # the app works on the migrated data: sign-in, care-team listing, intact audit chain
        me = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
        assert len(patients.list_patients(ctx, me)) > 0
        report = admin.verify_audit(ctx, cli_actor())
        assert report.ok, report.problems
        assert report.checked >= len(before["audit_events"])
        # ...with its key moved out of the store into the keyring
        with ctx.store.engine.connect() as conn:
            moved = conn.execute(text("SELECT value FROM meta WHERE key='audit_chain_key'"))
            assert moved.first() is None
    finally:
        ctx.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _newer_store(tmp_path: Path, rows: dict[str, list[dict]]) -> tuple[Settings, str, dict]:
    """A store last written by a NEWER build (a schema revision this build does not know)."""
    settings = _settings(tmp_path, "data")
    make_previous_store(settings, rows)
    AppContext.open(settings).close()  # at head; then "a newer build" moves it on
    engine = _engine(settings)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    before = _rows(engine, list(CORE))
    engine.dispose()
    return settings, _digest(settings.db_path), before


def test_store_from_a_newer_unknown_revision_is_refused_unchanged(
    tmp_path: Path, source_rows: dict[str, list[dict]]
) -> None:
    settings, digest, before = _newer_store(tmp_path, source_rows)
    with pytest.raises(Exception):  # noqa: B017 — which error is the next test's business
        AppContext.open(settings)
    assert _digest(settings.db_path) == digest
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == "9999_future"
        assert _rows(engine, list(CORE)) == before
    finally:
        engine.dispose()


def test_newer_store_error_is_clear(tmp_path: Path, source_rows: dict[str, list[dict]]) -> None:
    settings, _, _ = _newer_store(tmp_path, source_rows)
    with pytest.raises(NovamindError) as err:
        AppContext.open(settings)
    message = err.value.user_message()
    assert "9999_future" in message and "newer" in message
