"""Unique-key collisions during merge become conflicts for a person, never a failed pull.

Two workstations can register the same MRN, or create the same user name, offline. Every
device settles such a pair the same way, so the clinic converges:

- **Text keys** (`patients.mrn`, `users.username`): the record with the smaller id keeps the
  value; the other gets `<value>~<first 8 characters of its id>` and a conflict names both
  ids, for the clinician or IT to merge or renumber.
- **Pair keys** (`care_team` patient+user, `twin_snapshots` patient+version,
  `actigraphy_results` series+kind): the record with the smaller id is kept, the other is
  set aside (an incoming one is not inserted, a local one is removed with its sync state),
  and a conflict (field `__duplicate__`) keeps the set-aside record's values for a person.

Conflict rows hold ids and the colliding key only; logs and exceptions see neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.core.store.models import SyncConflict, SyncRecordState
from app.core.store.store import SYSTEM, UnitOfWork
from sync import records, state
from sync.hlc import ZERO, HybridClock

TEXT_KEYS = {"patients": "mrn", "users": "username"}
PAIR_KEYS = {
    "care_team": ("patient_id", "user_id"),
    "twin_snapshots": ("patient_id", "snapshot_version"),
    "actigraphy_results": ("series_id", "kind"),
}
DUPLICATE = "__duplicate__"
Rows = list[dict[str, Any]]  # rows (or sync states) about to be bulk-inserted
Settled = tuple[Rows, Rows, int]  # (rows, states, conflicts) once collisions are settled


def renamed(value: str, rid: str) -> str:
    return f"{value}~{rid[:8]}"


def open_conflict(
    session: Session,
    table: str,
    rid: str,
    field: str,
    local: Any,
    remote: Any,  # noqa: ANN401
) -> bool:
    """Queue a conflict unless the same one is already open; True when a new one was added."""
    q = select(SyncConflict.id).where(
        SyncConflict.table_name == table,
        SyncConflict.record_id == rid,
        SyncConflict.field == field,
        SyncConflict.resolved_at.is_(None),
    )
    if session.scalar(q) is not None:
        return False
    add_conflict(session, table, rid, field, local, remote)
    return True


def add_conflict(
    session: Session,
    table: str,
    rid: str,
    field: str,
    local: Any,  # noqa: ANN401 — a field's JSON value
    remote: Any,  # noqa: ANN401
    local_clock: str = "",
    remote_clock: str = "",
) -> None:
    """Queue a conflict of one field for a person to settle (both values kept)."""
    session.add(
        SyncConflict(
            table_name=table,
            record_id=rid,
            field=field,
            local_json=json.dumps(local),
            remote_json=json.dumps(remote),
            local_clock=local_clock,
            remote_clock=remote_clock,
            resolution="",
        )
    )


def settle_new_rows(
    session: Session,
    table: str,
    new_rows: Rows,
    new_states: Rows,
    now_clock: Callable[[], str],
) -> Settled:
    """Resolve collisions of rows about to be inserted; returns (rows, states, conflicts).
    Pair keys are settled by `_settle_pairs`, text keys here."""
    if table in PAIR_KEYS:
        return _settle_pairs(session, table, new_rows, new_states)
    if table not in TEXT_KEYS:
        return new_rows, new_states, 0
    col = TEXT_KEYS[table]
    t = records.TABLES[table]
    values = [r[col] for r in new_rows if r.get(col) is not None]
    if not values:
        return new_rows, new_states, 0
    holders = dict(session.execute(select(t.c[col], t.c.id).where(t.c[col].in_(values))).all())
    states = {s["record_id"]: s for s in new_states}
    conflicts = 0
    for row in new_rows:
        value, rid = row.get(col), row["id"]
        other = holders.get(value)
        if value is None or other is None or other == rid:
            holders[value] = rid
            continue
        row[col], clash = settle_clash(session, table, col, value, rid, other, now_clock)
        conflicts += clash
        if row[col] == value:
            holders[value] = rid
        else:  # the incoming record arrives renamed: its sync state says so too
            st = states[rid]
            kept = json.loads(st["values_json"])
            kept[col] = row[col]
            st["values_json"] = records.compact_json(kept)
    return new_rows, new_states, conflicts


def settle_changed_value(
    session: Session, table: str, rid: str, value: str, now_clock: Callable[[], str]
) -> tuple[str, int]:
    """A remote edit gives a record a unique value another local record holds: settle it.
    Returns (the value the edited record gets, conflicts opened)."""
    col = TEXT_KEYS[table]
    t = records.TABLES[table]
    other = session.scalar(select(t.c.id).where(t.c[col] == value, t.c.id != rid))
    if other is None:
        return value, 0
    return settle_clash(session, table, col, value, rid, other, now_clock)


def settle_clash(
    session: Session,
    table: str,
    col: str,
    value: str,
    incoming: str,
    holder: str,
    now_clock: Callable[[], str],
) -> tuple[str, int]:
    """The smaller id keeps `value`; the other is renamed (a local loser as a fresh local
    write, so the rename travels). Returns (the incoming record's value, conflicts opened)."""
    if incoming > holder:
        loser, kept = incoming, renamed(value, incoming)
    else:
        rename_local(session, table, holder, col, renamed(value, holder), now_clock)
        loser, kept = holder, value
    return kept, int(open_conflict(session, table, loser, col, renamed(value, loser), value))


def rename_local(
    session: Session, table: str, rid: str, col: str, value: str, now_clock: Callable[[], str]
) -> None:
    """Give a local record a new unique value as a fresh local write (so it syncs)."""
    t = records.TABLES[table]
    session.execute(update(t).where(t.c.id == rid).values({col: value}))
    q = select(SyncRecordState).where(
        SyncRecordState.table_name == table, SyncRecordState.record_id == rid
    )
    st = session.scalars(q).first()
    if st is None:
        return  # never captured: the next capture sends it with its new value
    vals, clocks = json.loads(st.values_json), json.loads(st.clocks_json)
    vals[col] = value
    clocks[col] = [now_clock(), clocks.get(col, ["", ""])[0]]
    st.values_json = records.compact_json(vals)
    st.clocks_json = records.compact_json(clocks)
    st.pending = True


def _settle_pairs(
    session: Session,
    table: str,
    new_rows: Rows,
    new_states: Rows,
) -> Settled:
    a, b = PAIR_KEYS[table]
    t = records.TABLES[table]
    firsts = [r[a] for r in new_rows]
    holders = {
        (x, y): rid
        for rid, x, y in session.execute(select(t.c.id, t.c[a], t.c[b]).where(t.c[a].in_(firsts)))
    }
    states = {s["record_id"]: s for s in new_states}
    keep_rows, parked, conflicts = [], set(), 0
    for row in new_rows:
        pair = (row[a], row[b])
        other = holders.get(pair)
        if other is None or other == row["id"]:
            holders[pair] = row["id"]
            keep_rows.append(row)
            continue
        if row["id"] > other:  # the incoming duplicate loses: never inserted
            parked.add(row["id"])
            kept = json.loads(states[row["id"]]["values_json"])
            conflicts += open_conflict(session, table, row["id"], DUPLICATE, other, kept)
            continue
        conflicts += _set_aside_local(session, table, other, row["id"])
        holders[pair] = row["id"]
        keep_rows.append(row)
    return keep_rows, [s for s in new_states if s["record_id"] not in parked], conflicts


def _set_aside_local(session: Session, table: str, rid: str, winner: str) -> int:
    """Remove a local duplicate the incoming record outranks; its values go to the conflict."""
    t = records.TABLES[table]
    q = select(SyncRecordState).where(
        SyncRecordState.table_name == table, SyncRecordState.record_id == rid
    )
    st = session.scalars(q).first()
    kept = json.loads(st.values_json) if st is not None else {}
    if st is not None:
        session.delete(st)
    session.execute(delete(t).where(t.c.id == rid))
    return int(open_conflict(session, table, rid, DUPLICATE, winner, kept))


AUTO_CLOSED = "superseded"


def close_superseded(
    session: Session, table: str, rid: str, field: str, closed: list[SyncConflict] | None
) -> None:
    """A later edit of a field (local or merged) settles that field's open clock conflicts.

    Unique-key collisions (no clocks) stay open: a person still has to look at both records.
    The closed conflicts go to `closed` so the caller audits them in the same transaction.
    """
    q = select(SyncConflict).where(
        SyncConflict.table_name == table,
        SyncConflict.record_id == rid,
        SyncConflict.field == field,
        SyncConflict.resolved_at.is_(None),
        SyncConflict.remote_clock != "",
    )
    for c in session.scalars(q):
        c.resolved_at = datetime.now(UTC)
        c.resolution = AUTO_CLOSED
        if closed is not None:
            closed.append(c)


def audit_closed(uow: UnitOfWork, closed: list[SyncConflict]) -> None:
    """Audit each auto-closed conflict (ids and the field name only, never a value)."""
    for c in closed:
        uow.audit(
            SYSTEM,
            "sync.conflict_autoclose",
            record_type=c.table_name,
            record_id=c.record_id,
            detail={"field": c.field, "conflict_id": c.id, "reason": "field edited later"},
        )
    closed.clear()


def is_stale(session: Session, c: SyncConflict) -> bool:
    """Was the conflict's field changed after the conflict was raised?

    When a clock conflict is raised the field holds the winner of the two writes, whose clock
    is the higher of the two the conflict recorded. Any later write (merged, or captured
    locally) gives the field a new clock; a local edit not yet captured shows as a value that
    differs from what sync last knew. Either way "keep local/remote" would overwrite a newer
    value with an old one. Unique-key collisions (no clocks) are never stale.
    """
    if not c.remote_clock or c.field == DUPLICATE:
        return False
    st = session.scalar(
        select(SyncRecordState).where(
            SyncRecordState.table_name == c.table_name, SyncRecordState.record_id == c.record_id
        )
    )
    if st is None:
        return False
    clocks = json.loads(st.clocks_json)
    current = clocks.get(c.field, [""])[0]
    if current != max(c.local_clock, c.remote_clock):
        return True
    table = records.TABLES[c.table_name]
    row = session.execute(select(table).where(table.c.id == c.record_id)).mappings().first()
    if row is None:
        return False
    known = json.loads(st.values_json)
    return records.row_values(c.table_name, row).get(c.field) != known.get(c.field)


def record_resolution(session: Session, c: SyncConflict, chosen: Any) -> None:  # noqa: ANN401
    """A resolve is a new write of the field, even when it keeps the value it holds.

    It gets a fresh clock built on the value it replaces, so every other workstation merges it
    as a fast-forward and closes its own copy of the conflict (the counts stay equal).
    """
    st = session.scalar(
        select(SyncRecordState).where(
            SyncRecordState.table_name == c.table_name, SyncRecordState.record_id == c.record_id
        )
    )
    device = state.get(session, state.DEVICE_ID)
    if st is None or not device:
        return  # never captured or not enrolled: the next capture records the new value
    clock = HybridClock(device, state.get(session, state.HLC))
    values, clocks = json.loads(st.values_json), json.loads(st.clocks_json)
    cur, base = clocks.get(c.field, [ZERO, ZERO])
    unpublished = st.pending and cur.endswith("-" + device)
    clocks[c.field] = [clock.now(), base if unpublished else cur]
    values[c.field] = chosen
    st.values_json = records.compact_json(values)
    st.clocks_json = records.compact_json(clocks)
    st.pending = True
    state.put(session, state.HLC, clock.state())
