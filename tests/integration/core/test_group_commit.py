"""Group commit in the store's writer (issue 23 item 6): writes queued together share one
transaction, each all-or-nothing in its own savepoint, and each caller returns only after the
shared COMMIT. A held writer (a plain task waiting on an event) makes the batches certain.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from app.core.domain import Role
from app.core.events import Change, PatientDataUpdated, RecordType
from app.core.security import audit
from app.core.store.models import AuditEvent, Meta, PatientFeatureRow
from app.core.store.store import SYSTEM, Store, UnitOfWork
from app.services import assessments, feature_rows, patients
from app.services.context import AppContext
from tests.support.records import add_patient, make_user

PHQ9 = {f"q{i}": 1 for i in range(1, 10)}
_REFRESH_HOOK = feature_rows.refresh_stale  # importing the module installs its before_commit hook


@dataclass
class Opened:
    store: Store
    key: bytes
    audit_key: bytes
    path: Path


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[Opened]:
    key, akey = secrets.token_bytes(32), secrets.token_bytes(32)
    path = tmp_path / "group.db"
    store = Store.open(path, key, audit_key=akey, busy_timeout_s=2)
    yield Opened(store, key, akey, path)
    store.close()


def _commits(store: Store) -> list[int]:
    """A counter of COMMITs on the store's engine (the writer's and any other)."""
    seen = [0]

    def on_commit(_conn: Any) -> None:  # noqa: ANN401 — SQLAlchemy's connection
        seen[0] += 1

    event.listen(store.engine, "commit", on_commit)
    return seen


class HeldWriter:
    """Keeps the writer thread busy until released, so that the writes queued meanwhile are
    taken as one batch."""

    def __init__(self, store: Store) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.done = store._writer.submit(self._hold)
        if not self.started.wait(10):
            raise RuntimeError("the writer did not start the held task")

    def _hold(self) -> None:
        self.started.set()
        self.gate.wait(30)

    def release(self) -> None:
        self.gate.set()
        self.done.result(10)


def _queue(store: Store, fns: list[Callable[[UnitOfWork], Any]]) -> list[Future[Any]]:
    """Queue `fns` as writes, in order, from as many threads (as callers would)."""
    return [store.submit_write(fn) for fn in fns]


def _put(key: str, *, fail: bool = False) -> Callable[[UnitOfWork], str]:
    def do(uow: UnitOfWork) -> str:
        uow.session.merge(Meta(key=key, value="v"))
        uow.audit(SYSTEM, "test.put", record_type="meta", record_id=key)
        uow.emit(PatientDataUpdated(record_type=RecordType.NOTE, record_id=key))
        if fail:
            raise ValueError("refused")
        return key

    return do


def _keys(store: Store) -> set[str]:
    return set(store.read(lambda s: list(s.scalars(select(Meta.key).where(Meta.key.like("k%"))))))


def _chain(store: Store) -> audit.AuditReport:
    return store.read(lambda s: audit.verify(s, store.audit_key))


def test_concurrent_writers_share_one_commit_and_all_are_durable(opened: Opened) -> None:
    store = opened.store
    commits = _commits(store)
    held = HeldWriter(store)
    with ThreadPoolExecutor(20) as pool:
        calls = [pool.submit(store.write, _put(f"k{i:02}")) for i in range(20)]
        while len(store._writer._items) < 20:  # every thread's write is queued
            threading.Event().wait(0.01)
        before = commits[0]
        held.release()
        assert sorted(c.result(30) for c in calls) == [f"k{i:02}" for i in range(20)]
    assert commits[0] - before == 1  # one transaction for all twenty
    report = _chain(store)
    assert report.ok and report.checked == 20
    store.close()
    again = Store.open(opened.path, opened.key, audit_key=opened.audit_key)  # durable on disk
    try:
        assert _keys(again) == {f"k{i:02}" for i in range(20)}
        assert _chain(again).ok
    finally:
        again.close()
    opened.store = Store.open(opened.path, opened.key, audit_key=opened.audit_key)


def test_a_failing_write_rolls_back_alone_and_its_caller_gets_the_error(opened: Opened) -> None:
    store = opened.store
    store.write(_put("k-existing"))
    published: list[str] = []
    store.bus.subscribe(PatientDataUpdated, lambda e: published.append(e.record_id))

    def duplicate(uow: UnitOfWork) -> None:  # a database error, not a Python one
        uow.session.execute(text("INSERT INTO meta (key, value) VALUES ('k-existing', 'x')"))

    held = HeldWriter(store)
    futures = _queue(store, [_put("k1"), _put("k2", fail=True), duplicate, _put("k3")])
    held.release()
    assert futures[0].result(10) == "k1" and futures[3].result(10) == "k3"
    with pytest.raises(ValueError, match="refused"):
        futures[1].result(10)
    with pytest.raises(IntegrityError):
        futures[2].result(10)
    assert _keys(store) == {"k-existing", "k1", "k3"}  # nothing of the failed writes
    assert published == ["k1", "k3"]  # once each, none for the failed write
    report = _chain(store)
    assert report.ok and report.checked == 3  # the failed write's audit link is gone too


def test_events_are_published_once_after_the_shared_commit(opened: Opened) -> None:
    store = opened.store
    seen: list[tuple[str, bool]] = []

    def on_event(e: PatientDataUpdated) -> None:
        # another connection sees the row only once the shared transaction committed
        visible = store.read(lambda s: s.get(Meta, e.record_id) is not None)
        seen.append((e.record_id, visible))

    store.bus.subscribe(PatientDataUpdated, on_event)
    held = HeldWriter(store)
    futures = _queue(store, [_put(f"k{i}") for i in range(5)])
    held.release()
    for f in futures:
        f.result(10)
    assert seen == [(f"k{i}", True) for i in range(5)]


def test_a_nested_write_joins_its_batch_write(opened: Opened) -> None:
    store = opened.store

    def outer(uow: UnitOfWork) -> str:
        uow.session.merge(Meta(key="k-outer", value="v"))
        inner = store.write(_put("k-inner"))  # joins this write (a savepoint)
        try:
            store.write(_put("k-inner-bad", fail=True))
        except ValueError:
            pass  # the inner failure undoes the inner write only
        return inner

    held = HeldWriter(store)
    futures = _queue(store, [_put("k-before"), outer, _put("k-after")])
    held.release()
    assert [f.result(10) for f in futures] == ["k-before", "k-inner", "k-after"]
    assert _keys(store) == {"k-before", "k-outer", "k-inner", "k-after"}
    assert _chain(store).ok


def _care_team_row(patient_id: str) -> str:
    return (
        "INSERT INTO care_team (id, patient_id, user_id, team_role, active, created_at, "
        f"updated_at, version) VALUES ('{secrets.token_hex(8)}', '{patient_id}', 'nobody', 'x', "
        "1, '2026-01-01', '2026-01-01', 1)"
    )


def test_a_write_with_deferred_foreign_keys_fails_alone_at_commit(opened: Opened) -> None:
    """A sync merge defers its foreign-key checks to COMMIT: if they fail, it alone is rolled
    back; the writes before it commit, and the ones after it check their keys at once."""
    store = opened.store

    def deferring(uow: UnitOfWork) -> None:
        uow.session.execute(text("PRAGMA defer_foreign_keys = ON"))
        uow.session.merge(Meta(key="k-deferring", value="v"))
        uow.session.execute(text(_care_team_row("no-such-patient")))  # fails only at COMMIT

    def immediate(uow: UnitOfWork) -> None:
        uow.session.execute(text(_care_team_row("no-such-patient")))  # fails at once

    held = HeldWriter(store)
    futures = _queue(store, [_put("k1"), deferring, immediate, _put("k2")])
    held.release()
    assert futures[0].result(10) == "k1" and futures[3].result(10) == "k2"
    for bad in futures[1:3]:
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            bad.result(10)
    assert _keys(store) == {"k1", "k2"}
    assert store.read(lambda s: s.execute(text("SELECT count(*) FROM care_team")).scalar()) == 0
    assert _chain(store).ok


def test_a_cancelled_queued_write_never_runs(opened: Opened) -> None:
    store = opened.store
    held = HeldWriter(store)
    futures = _queue(store, [_put("k1"), _put("k2"), _put("k3")])
    assert futures[1].cancel()
    held.release()
    assert futures[0].result(10) == "k1" and futures[2].result(10) == "k3"
    assert _keys(store) == {"k1", "k3"}


def test_a_lock_held_by_another_process_fails_every_write_of_the_batch_clearly(
    opened: Opened,
) -> None:
    from app.core.errors import StoreError
    from app.core.store.engine import connect_raw

    store = opened.store
    other = connect_raw(store.path, opened.key)  # stands in for another process
    other.execute("BEGIN IMMEDIATE")
    try:
        held = HeldWriter(store)
        futures = _queue(store, [_put("k1"), _put("k2")])
        held.release()
        for f in futures:
            with pytest.raises(StoreError, match="the store is busy"):
                f.result(30)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.write(_put("k3")) == "k3"  # the writer carries on
    assert _keys(store) == {"k3"}


def test_service_writes_and_audited_reads_from_many_threads(ctx: AppContext) -> None:
    """Real service calls (assessments, audited patient reads) from 16 threads at once: every
    one done, the audit chain intact, and every feature row brought current by the
    before_commit refresh of the write that made it stale."""
    clinician = make_user(ctx, "dr.batch", Role.CLINICIAN)
    pids = [add_patient(ctx, clinician, f"MRN-B{i}") for i in range(4)]
    before = ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(AuditEvent)))

    def work(n: int) -> None:
        pid = pids[n % len(pids)]
        if n % 2:
            assessments.submit(ctx, clinician, pid, "phq9", dict(PHQ9))
        else:
            patients.get_patient(ctx, clinician, pid)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(64)))
    report = _chain(ctx.store)
    assert report.ok and report.checked >= (before or 0) + 64
    rows = ctx.store.read(lambda s: list(s.scalars(select(PatientFeatureRow))))
    assert {r.patient_id for r in rows} >= set(pids) and not any(r.stale for r in rows)
    history = [assessments.history(ctx, clinician, pid) for pid in pids]
    assert sum(len(h) for h in history) == 32


def test_a_write_from_an_event_handler_on_the_writer_thread_commits(opened: Opened) -> None:
    """A handler published on the writer thread may write (it commits alone, after the
    batch that published it)."""
    store = opened.store
    done = threading.Event()

    def on_event(e: PatientDataUpdated) -> None:
        if e.record_id == "k1" and e.change == Change.UPDATED:
            store.write(_put("k-from-handler"))
            done.set()

    store.bus.subscribe(PatientDataUpdated, on_event)
    store.write(_put("k1"))
    assert done.is_set()
    assert _keys(store) == {"k1", "k-from-handler"}


def test_the_audit_chain_stays_whole_through_failed_nested_and_orm_links(opened: Opened) -> None:
    """Links written by the writer's chain head, by the ORM (a write that holds the head row
    in its session), by a rolled-back write and by a rolled-back nested write, in one batch:
    the chain verifies and holds exactly the committed links, in order."""
    store = opened.store

    def orm_path(uow: UnitOfWork) -> None:
        uow.session.get(Meta, audit.HEAD_KEY)  # the head row is now an object of this session
        uow.audit(SYSTEM, "test.orm", record_id="orm-1")
        uow.audit(SYSTEM, "test.orm", record_id="orm-2")

    def nested_fails(uow: UnitOfWork) -> None:
        uow.audit(SYSTEM, "test.outer", record_id="outer-1")

        def inner(w: UnitOfWork) -> None:
            w.audit(SYSTEM, "test.inner")
            raise ZeroDivisionError

        try:
            store.write(inner)
        except ZeroDivisionError:
            pass
        uow.audit(SYSTEM, "test.outer", record_id="outer-2")

    def audited_then_fails(uow: UnitOfWork) -> None:
        uow.audit(SYSTEM, "test.lost")
        raise ValueError("refused")

    held = HeldWriter(store)
    futures = _queue(
        store,
        [_put("k1"), audited_then_fails, orm_path, _put("k2"), nested_fails, _put("k3")],
    )
    held.release()
    with pytest.raises(ValueError):
        futures[1].result(10)
    for i in (0, 2, 3, 4, 5):
        futures[i].result(10)
    report = _chain(store)
    assert report.ok, report.problems
    got = store.read(
        lambda s: [
            (e.action, e.record_id) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        ]
    )
    assert got == [
        ("test.put", "k1"), ("test.orm", "orm-1"), ("test.orm", "orm-2"), ("test.put", "k2"),
        ("test.outer", "outer-1"), ("test.outer", "outer-2"), ("test.put", "k3"),
    ]  # fmt: skip
    assert store.write(_put("k4")) == "k4"  # a later transaction continues the chain
    assert _chain(store).ok


def _audit_only(n: int) -> Callable[[UnitOfWork], None]:
    return lambda uow: uow.audit(SYSTEM, "test.read", record_id=f"r{n}")


def test_audit_only_writes_send_no_statements_of_their_own(opened: Opened) -> None:
    """Thirty audited reads committed together: their links go in one INSERT at the COMMIT,
    not a savepoint, a head read and two statements each."""
    store = opened.store
    statements: list[str] = []
    event.listen(
        store.engine, "before_cursor_execute", lambda *a: statements.append(str(a[2])[:30])
    )
    held = HeldWriter(store)
    futures = _queue(store, [_audit_only(i) for i in range(30)])
    held.release()
    for f in futures:
        f.result(10)
    assert statements == ["BEGIN IMMEDIATE"]  # the links: the driver's own INSERT, then COMMIT
    report = _chain(store)
    assert report.ok and report.checked == 30


def test_a_write_sees_the_links_of_the_audit_only_writes_before_it(opened: Opened) -> None:
    store = opened.store

    def count_links(uow: UnitOfWork) -> int:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEvent)) or 0)

    held = HeldWriter(store)
    futures = _queue(store, [_audit_only(0), _audit_only(1), count_links, _audit_only(2)])
    held.release()
    assert futures[2].result(10) == 2  # as if each link had been written at once
    assert _chain(store).checked == 3


def test_links_written_by_the_batch_store_times_as_the_orm_does(
    opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A time on a whole second is stored with its six zero digits, as SQLAlchemy writes it
    (the driver's own conversion would drop them)."""
    import datetime as dt

    monkeypatch.setattr(audit, "utcnow", lambda: dt.datetime(2026, 12, 7, 9, 0, 0, tzinfo=dt.UTC))
    store = opened.store
    store.write(_audit_only(0))
    raw = store.read(lambda s: s.execute(text("SELECT at FROM audit_events")).scalar())
    assert raw == "2026-12-07 09:00:00.000000"
    assert _chain(store).ok


def test_a_write_that_audits_then_writes_then_fails_leaves_no_link(opened: Opened) -> None:
    store = opened.store

    def audits_writes_fails(uow: UnitOfWork) -> None:
        uow.audit(SYSTEM, "test.lost", record_id="lost")  # made before its first statement
        uow.session.merge(Meta(key="k-lost", value="v"))
        uow.session.flush()
        raise ValueError("refused")

    held = HeldWriter(store)
    futures = _queue(store, [_audit_only(0), audits_writes_fails, _audit_only(1)])
    held.release()
    with pytest.raises(ValueError):
        futures[1].result(10)
    futures[0].result(10)
    futures[2].result(10)
    got = store.read(
        lambda s: list(s.scalars(select(AuditEvent.record_id).order_by(AuditEvent.seq)))
    )
    assert got == ["r0", "r1"] and _keys(store) == set()
    assert _chain(store).ok
