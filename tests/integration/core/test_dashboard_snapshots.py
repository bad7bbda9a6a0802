"""The dashboard's arrays kept in the store (migration 0012, issue 22 item 5): a new process
loads the stored snapshot instead of reading every administration again, and what changed
since (inserts, edits, tombstones, deletions, bulk SQL that bypasses the services) is caught
up, giving exactly what a full read gives; an unusable snapshot is read again with a log line;
the tables never travel by sync and go with a migration down.

The oracle is a full read of the same store (the arrays every test before 0012 compared with
the SQL path) and the SQL metrics themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from alembic import command
from sqlalchemy import select, text

from app.core.config import Settings
from app.core.domain import Role
from app.core.store import migrate
from app.core.store.engine import connect_raw
from app.core.store.models import AssessmentResponse, Prediction, SyncRecordState
from app.services import clinic_dashboard, dashboard_cache
from app.services import dashboard_metrics as m
from app.services.context import AppContext
from engines.xgb.bands import BANDS
from sync import capture, records
from sync.hlc import HybridClock
from tests.support.dashboard_history import NOW, PERIOD, assess, at, build_history

PRED = dashboard_cache._predictions_spec("relapse_6m", BANDS)
SPECS = (dashboard_cache.ASSESSMENTS, PRED)


@pytest.fixture
def history(ctx: AppContext, clinic, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    return build_history(ctx, clinic, monkeypatch)


def _both(ctx: AppContext) -> tuple[dashboard_cache.Sorted, dashboard_cache.Sorted]:
    a = dashboard_cache.assessments(ctx)
    p = dashboard_cache.predictions(ctx, "relapse_6m", BANDS)
    assert a is not None and p is not None
    return a, p


def _entries(s: dashboard_cache.Sorted, groups: int) -> list[tuple[str, int, int]]:
    """(patient, value, seconds) in array order, whatever codes the patients got."""
    who = {c: pid for pid, c in s.codes.items()}
    return [
        (who[int(g) // groups], int(v), int(t))
        for g, v, t in zip(s.group, s.value, s.time, strict=True)
    ]


def _full(ctx: AppContext, spec) -> dashboard_cache.Sorted:
    return ctx.store.read(lambda s: dashboard_cache._build(s, spec, *dashboard_cache._now(s, spec)))


def _check(ctx: AppContext) -> None:
    """Both sets equal a full read of the store (entries and order), and the figures equal
    the SQL path's for every patient."""
    got = _both(ctx)
    for spec, s in zip(SPECS, got, strict=True):
        assert np.all(np.diff(s.key()) >= 0)
        assert _entries(s, spec.groups) == _entries(_full(ctx, spec), spec.groups)
        assert (s.token, s.seq) == ctx.store.read(
            lambda sess, sp=spec: dashboard_cache._now(sess, sp)
        )
    a = got[0]
    ids = ctx.store.read(lambda s: list(s.scalars(text("SELECT id FROM patients"))))
    every = 28
    done, last = dashboard_cache.windows_and_last(a, ids, PERIOD.start, PERIOD.end, NOW, every)
    assert sorted(done) == sorted(
        ctx.store.read(lambda s: m.windows_done(s, ids, PERIOD.start, PERIOD.end, every))
    )
    sql_last = ctx.store.read(lambda s: m.last_administered(s, ids, NOW))
    assert {k: datetime.fromtimestamp(v, UTC) for k, v in last.items()} == sql_last


@pytest.fixture
def stored(ctx: AppContext, history) -> Iterator[Settings]:
    """The history's arrays built once and stored; the store closed (a new process opens it)."""
    _both(ctx)
    dashboard_cache.flush(ctx)
    assert dashboard_cache.stats(ctx) == {"rebuilt": 2, "stored": 2}
    ctx.close()
    yield ctx.settings


@pytest.fixture
def reopened(stored: Settings) -> Iterator[AppContext]:
    again = AppContext.open(stored)
    yield again
    dashboard_cache.flush(again)
    again.close()


def _raw(settings: Settings, ctx: AppContext, sql: str, params: tuple = ()) -> None:
    """Bulk SQL on the file from another connection, past every service (as a tool would)."""
    conn = connect_raw(settings.db_path, ctx.store._key)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql, params)
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_new_process_loads_the_snapshot_instead_of_reading_it_all(
    stored: Settings, reopened: AppContext, clinic
) -> None:
    _check(reopened)
    assert dashboard_cache.stats(reopened) == {"loaded": 2}  # no full read, nothing re-stored
    dash = clinic_dashboard.load(reopened, clinic["users"][Role.SUPERVISOR], PERIOD, now=NOW)
    phq = next(r for r in dash.completion if r.instrument == "phq9" and r.clinician_id is None)
    assert (phq.due, phq.done, phq.overdue_patients) == (9, 4, 2)  # the hand-computed figures
    blobs = reopened.store.read(
        lambda s: dict(
            s.execute(text("SELECT name, length(payload) FROM dashboard_snapshots")).all()
        )
    )
    assert set(blobs) == {"assessments", "predictions:relapse_6m"} and min(blobs.values()) > 0


def test_records_after_the_snapshot_are_caught_up_whoever_writes(
    stored: Settings, reopened: AppContext, history
) -> None:
    ctx = reopened
    t1, t2, t3 = history["t1"], history["t2"], history["t3"]
    assess(ctx, t3, "phq9", at(6, 25))  # a new record through the store
    _check(ctx)

    def tombstone(uow) -> None:  # a deletion as a sync merge writes it: deleted_at set
        a = uow.session.scalars(
            select(AssessmentResponse).where(
                AssessmentResponse.patient_id == t1, AssessmentResponse.administered_at == at(5, 10)
            )
        ).one()
        a.deleted_at = NOW

    ctx.store.write(tombstone)
    _check(ctx)
    # bulk SQL past the services: an administration moved in time and to another patient,
    # a prediction's band changed, a GAD-7 relabelled, a prediction withdrawn
    moved = ("2026-06-29 09:00:00.000000", t3, t2)
    _raw(stored, ctx, "UPDATE assessment_responses SET administered_at = ?, patient_id = ?"
         " WHERE patient_id = ? AND instrument = 'gad7'", moved)  # fmt: skip
    _raw(stored, ctx, "UPDATE predictions SET band = 'very high' WHERE band = 'moderate'")
    _raw(stored, ctx, "UPDATE assessment_responses SET instrument = 'phq9'"
         " WHERE patient_id = ? AND instrument = 'gad7'", (t1,))  # fmt: skip
    _raw(stored, ctx, "UPDATE predictions SET deleted_at = '2026-06-30 00:00:00.000000'"
         " WHERE band = 'low'")  # fmt: skip
    _check(ctx)
    p = dashboard_cache.predictions(ctx, "relapse_6m", BANDS)
    assert p is not None and BANDS.index("very high") in p.value.tolist()
    # a hard deletion below the newest row (an erasure): caught up, not read again
    _raw(stored, ctx, "DELETE FROM assessment_responses WHERE patient_id = ? AND"
         " administered_at < '2026-04-15'", (t2,))  # fmt: skip
    _check(ctx)
    assert dashboard_cache.stats(ctx).get("rebuilt", 0) == 0
    assert dashboard_cache.stats(ctx)["caught_up"] >= 4


def test_deleting_the_newest_row_reads_it_all_again(
    stored: Settings, reopened: AppContext, history
) -> None:
    """SQLite hands the deleted newest rowid to the next insert: a rowid range would miss it."""
    ctx = reopened
    _check(ctx)
    newest = ctx.store.read(
        lambda s: s.execute(text("SELECT MAX(rowid) FROM assessment_responses")).scalar()
    )
    _raw(stored, ctx, "DELETE FROM assessment_responses WHERE rowid = ?", (newest,))
    assess(ctx, history["t3"], "gad7", at(6, 28))
    reused = ctx.store.read(
        lambda s: s.execute(text("SELECT MAX(rowid) FROM assessment_responses")).scalar()
    )
    assert reused == newest  # the case the change log's deleted rowid is for
    _check(ctx)
    assert dashboard_cache.stats(ctx)["rebuilt"] == 1


def test_an_unusable_snapshot_is_read_again_with_a_log_line(
    stored: Settings, history, caplog: pytest.LogCaptureFixture
) -> None:
    probe = AppContext.open(stored)
    key = probe.store._key
    probe.close()
    for sql, why in (
        ("UPDATE dashboard_snapshots SET payload = x'00ff00' WHERE name = 'assessments'",
         "unreadable"),
        ("UPDATE dashboard_snapshots SET layout = 99 WHERE name = 'assessments'", "layout 99"),
        ("UPDATE assessment_responses SET rowid = rowid + 1000", "renumbered"),
    ):  # fmt: skip
        conn = connect_raw(stored.db_path, key)
        conn.execute(sql)
        conn.close()
        caplog.clear()
        ctx = AppContext.open(stored)
        with caplog.at_level(logging.WARNING, logger=dashboard_cache.__name__):
            _check(ctx)
        assert dashboard_cache.stats(ctx)["rebuilt"] == 1, why
        (line,) = [r.getMessage() for r in caplog.records]
        assert line.startswith("dashboard snapshot assessments unusable (") and why in line
        dashboard_cache.flush(ctx)  # the unusable one is replaced
        ctx.close()
        ctx = AppContext.open(stored)
        _check(ctx)
        assert dashboard_cache.stats(ctx) == {"loaded": 2}
        ctx.close()


def test_a_snapshot_that_cannot_be_stored_never_breaks_the_dashboard(
    ctx: AppContext, history, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_a, **_k) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(dashboard_cache, "_save", broken)
    with caplog.at_level(logging.WARNING, logger=dashboard_cache.__name__):
        _check(ctx)
        dashboard_cache.flush(ctx)
    lines = sorted(r.getMessage() for r in caplog.records)
    assert lines == [
        "dashboard snapshot assessments not stored: OSError",
        "dashboard snapshot predictions:relapse_6m not stored: OSError",
    ]
    assert ctx.store.read(
        lambda s: s.execute(text("SELECT COUNT(*) FROM dashboard_snapshots")).scalar()
    ) == 0  # fmt: skip
    _check(ctx)


def test_storing_prunes_the_change_log(stored: Settings, reopened: AppContext, history) -> None:
    ctx = reopened
    _raw(stored, ctx, "UPDATE predictions SET band = 'high' WHERE band = 'moderate'")
    _check(ctx)
    logged = "SELECT COUNT(*) FROM dashboard_changes"
    assert ctx.store.read(lambda s: s.execute(text(logged)).scalar()) == 1
    monkey = pytest.MonkeyPatch()
    monkey.setattr(dashboard_cache, "PERSIST_AFTER", 1)  # any change makes storing pay
    try:
        _raw(stored, ctx, "UPDATE assessment_responses SET deleted_at = '2026-06-30 00:00:00'"
             " WHERE patient_id = ?", (history["t2"],))  # fmt: skip
        _check(ctx)
        dashboard_cache.flush(ctx)
    finally:
        monkey.undo()
    seqs = ctx.store.read(
        lambda s: dict(s.execute(text("SELECT name, change_seq FROM dashboard_snapshots")).all())
    )
    assert seqs["assessments"] == seqs["predictions:relapse_6m"] == seqs["~pruned:predictions"]
    assert ctx.store.read(lambda s: s.execute(text(logged)).scalar()) == 0
    # a process whose arrays predate the pruning takes the stored snapshot, then catches up
    fresh = AppContext.open(stored)
    try:
        _check(fresh)
        assert dashboard_cache.stats(fresh) == {"loaded": 2}
    finally:
        fresh.close()


def test_sync_never_carries_the_snapshots(stored: Settings, reopened: AppContext) -> None:
    assert not {"dashboard_snapshots", "dashboard_changes"} & set(records.TABLES)

    def run(s) -> None:
        capture.capture(s, HybridClock("dev"))
        s.commit()

    with reopened.store._write_sessions() as s:
        run(s)
    tables = reopened.store.read(
        lambda s: set(s.scalars(select(SyncRecordState.table_name).distinct()))
    )
    assert tables and not {"dashboard_snapshots", "dashboard_changes"} & tables


def test_migration_down_and_up(ctx: AppContext, history) -> None:
    _both(ctx)
    dashboard_cache.flush(ctx)
    with ctx.store.engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0011")
    names = (
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE '%dashb%'"
    )
    assert ctx.store.read(lambda s: list(s.scalars(text(names)))) == []
    assess(ctx, history["t3"], "phq9", at(6, 26))  # writes work without the triggers
    with ctx.store.engine.begin() as conn:
        migrate.upgrade(conn)
    assert len(ctx.store.read(lambda s: list(s.scalars(text(names))))) == 6  # 2 tables, 4 triggers
    _check(ctx)


def test_a_prediction_edit_as_the_orm_writes_it(
    stored: Settings, reopened: AppContext, clinic, history
) -> None:
    ctx = reopened

    def move(uow) -> None:
        p = uow.session.scalars(select(Prediction).where(Prediction.band == "high")).one()
        p.generated_at = at(6, 29)

    ctx.store.write(move)
    _check(ctx)
    last = dict(
        clinic_dashboard.load(ctx, clinic["users"][Role.SUPERVISOR], PERIOD, now=NOW)
        .risk[-1]
        .counts
    )
    assert last["high"] == 1 and last["low"] == 0  # T-1's "high" is now its latest
    assert dashboard_cache.stats(ctx).get("rebuilt", 0) == 0


def test_a_restored_store_brings_its_own_snapshot(ctx: AppContext, history) -> None:
    """A backup copies both tables; the restored store's snapshot is of its own rows (taken
    with the backup), so the restored app loads it, and a record written after the backup is
    not in it."""
    from app.services import backup
    from app.services.context import cli_actor

    _both(ctx)
    dashboard_cache.flush(ctx)
    m = backup.create_backup(ctx, cli_actor())
    assert m.counts["dashboard_snapshots"] == 2
    assess(ctx, history["t3"], "phq9", at(6, 27))  # after the backup: gone with the restore
    _both(ctx)
    dashboard_cache.flush(ctx)
    settings = ctx.settings
    ctx.close()
    backup.restore(settings, backup.manifest_path_of(settings, m), cli_actor())
    restored = AppContext.open(settings, create=False)
    try:
        _check(restored)
        assert dashboard_cache.stats(restored) == {"loaded": 2}
        a = dashboard_cache.assessments(restored)
        assert a is not None and a.group.size == 8  # the history's eight administrations
    finally:
        dashboard_cache.flush(restored)
        restored.close()
