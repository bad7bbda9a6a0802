"""Stale conflicts never revert data (issue 18, item 5).

A later edit of a field, local or merged, closes that field's open conflicts on every
workstation, the one that made the edit included (audited as auto-closed); resolving a
conflict whose field changed after it was raised is refused. A bounded property test runs
random edit / sync / resolve interleavings on three workstations and checks that they
converge and that no resolve brings back a value its workstation knew was overwritten.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.errors import NotFoundError
from app.core.store.models import AuditEvent, SyncConflict
from app.services import admin, sync_service
from app.services.context import cli_actor
from app.services.sync_service import StaleConflictError
from tests.conftest import make_user
from tests.integration.sync.helpers import Workstation, add_patients, dump, edit_patient

FIELD = "family_name"


def _open(ws: Workstation, pid: str) -> list[SyncConflict]:
    return ws.ctx.store.read(
        lambda s: list(
            s.scalars(
                select(SyncConflict).where(
                    SyncConflict.record_id == pid, SyncConflict.resolved_at.is_(None)
                )
            )
        )
    )


def _value(ws: Workstation, pid: str) -> Any:  # noqa: ANN401
    return dump(ws)["patients"][pid][FIELD]


def _resolver(ws: Workstation, name: str, pid: str) -> Principal:
    who = make_user(ws.ctx, name, Role.SUPERVISOR)
    admin.assign_care_team(ws.ctx, cli_actor(), username=name, patient_id=pid)
    return who


def _conflict_on_both(a: Workstation, b: Workstation, *others: Workstation) -> str:
    (pid,) = add_patients(a, 1, "S")
    for w in (a, b, *others):
        w.sync()
    edit_patient(a, pid, family_name="From-A")
    edit_patient(b, pid, family_name="From-B")
    a.sync(), b.sync(), a.sync()
    assert len(_open(a, pid)) == 1 and len(_open(b, pid)) == 1
    return pid


def test_local_edit_closes_own_conflict(stations: list[Workstation]) -> None:
    """The workstation that edits the field closes its own conflict (not only the others')."""
    a, b, _ = stations
    pid = _conflict_on_both(a, b)
    (stale,) = _open(b, pid)
    edit_patient(b, pid, family_name="Newest-B")
    b.sync()
    assert _open(b, pid) == []
    closed = b.ctx.store.read(lambda s: s.get(SyncConflict, stale.id))
    assert closed.resolution == "superseded" and closed.resolved_by is None
    audited = b.ctx.store.read(
        lambda s: list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == "sync.conflict_autoclose"))
        )
    )
    assert [e.record_id for e in audited] == [pid]
    a.sync()
    assert _open(a, pid) == []
    # the attack: resolving the old conflict as "local" would write From-B back
    who = _resolver(b, "sup.b", pid)
    with pytest.raises((NotFoundError, StaleConflictError)):
        sync_service.resolve_conflict(b.ctx, who, stale.id, "local")
    b.sync(), a.sync()
    assert _value(a, pid) == _value(b, pid) == "Newest-B"


def test_resolve_refuses_stale_conflict(stations: list[Workstation]) -> None:
    """An edit made after the conflict (not yet synced) makes the conflict out of date."""
    a, b, _ = stations
    pid = _conflict_on_both(a, b)
    who = _resolver(b, "sup.b", pid)
    (c,) = _open(b, pid)
    edit_patient(b, pid, family_name="Newest-B")
    with pytest.raises(StaleConflictError, match="out of date: the field was changed after"):
        sync_service.resolve_conflict(b.ctx, who, c.id, "local")
    assert _value(b, pid) == "Newest-B"
    assert [x.id for x in _open(b, pid)] == [c.id]  # refused: nothing changed


def test_resolve_refuses_conflict_whose_field_was_merged_later(
    stations: list[Workstation],
) -> None:
    """A concurrent write merged after the conflict makes the old conflict out of date."""
    a, b, c = stations
    pid = _conflict_on_both(a, b, c)
    (old,) = _open(a, pid)
    # c writes the field concurrently with what a now holds (c never saw the conflict)
    edit_patient(c, pid, family_name="From-C")
    c.sync(), a.sync()
    who = _resolver(a, "sup.a", pid)
    with pytest.raises((NotFoundError, StaleConflictError)):
        sync_service.resolve_conflict(a.ctx, who, old.id, "local")


def test_current_conflict_still_resolves(stations: list[Workstation]) -> None:
    a, b, _ = stations
    pid = _conflict_on_both(a, b)
    who = _resolver(b, "sup.b", pid)
    (c,) = _open(b, pid)
    sync_service.resolve_conflict(b.ctx, who, c.id, "local")
    b.sync(), a.sync()
    assert _value(a, pid) == _value(b, pid) == "From-B"
    assert _open(a, pid) == [] and _open(b, pid) == []


STEP = st.tuples(st.sampled_from(["edit", "sync", "resolve"]), st.integers(0, 2), st.booleans())


@settings(
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=2, max_size=5))
def test_random_interleavings_converge_without_resurrection(
    stations: list[Workstation], steps: list[tuple[str, int, bool]]
) -> None:
    ws = stations
    (pid,) = add_patients(ws[0], 1, f"P{uuid.uuid4().hex[:8]}")
    for w in ws:
        w.sync()
    tag = pid[:8]
    who = [_resolver(w, f"sup.{i}.{tag}", pid) for i, w in enumerate(ws)]
    for w in ws:
        w.sync()
    counter = itertools.count()
    own: list[set[str]] = [set(), set(), set()]  # values each workstation overwrote itself
    published: list[set[str]] = [set(), set(), set()]  # ... as far as its bundles carry
    known: list[set[str]] = [set(), set(), set()]  # overwritten values a workstation knows of
    # prologue: a concurrent edit on two workstations, so there are conflicts to go stale
    for i in (0, 1):
        own[i].add(_value(ws[i], pid))
        known[i].add(_value(ws[i], pid))
        edit_patient(ws[i], pid, family_name=f"v{next(counter)}-{i}")
    for i in (0, 1, 0):
        published[i] = set(own[i])
        ws[i].sync()
        known[i] |= set().union(*published)
    for op, i, keep_local in steps:
        w = ws[i]
        if op == "edit":
            own[i].add(_value(w, pid))
            known[i].add(_value(w, pid))
            edit_patient(w, pid, family_name=f"v{next(counter)}-{i}")
        elif op == "sync":
            published[i] = set(own[i])
            w.sync()
            known[i] |= set().union(*published)
        else:
            open_now = _open(w, pid)
            if not open_now:
                continue
            before = _value(w, pid)
            try:
                sync_service.resolve_conflict(
                    w.ctx, who[i], open_now[0].id, "local" if keep_local else "remote"
                )
            except StaleConflictError:
                continue
            assert _value(w, pid) not in known[i], "a resolve brought back an overwritten value"
            if _value(w, pid) != before:  # the resolve is itself an edit over `before`
                own[i].add(before)
                known[i].add(before)
    for w in [*ws, *ws]:
        w.sync()
    dumps = [dump(w) for w in ws]
    assert dumps[0] == dumps[1] == dumps[2]
