"""Capture: turn local edits into per-field clocked changes waiting to be packed.

Candidates come from the transactional outbox (events name the records they touch) and, as a
safety net for writes that emit no event, from rows whose `updated_at` is recent. A candidate
is a change only if one of its travelling fields differs from what sync last knew; each such
field gets a fresh hybrid-logical-clock timestamp whose base is the clock it overwrote.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.core.store.models import OutboxEvent, SyncConflict, SyncRecordState
from sync import collisions, records, state
from sync.hlc import ZERO, HybridClock

SCAN_MARGIN = timedelta(0)  # writes are serial on one thread: no overlap to cover
BATCH = 500


def _hints(session: Session) -> tuple[dict[str, set[str]], int]:
    """(table -> ids) named by outbox rows after the capture cursor, and the newest outbox seq."""
    after = int(state.get(session, state.CAPTURE_OUTBOX, "0"))
    out: dict[str, set[str]] = defaultdict(set)
    last = after
    q = select(OutboxEvent.seq, OutboxEvent.event, OutboxEvent.payload_json).where(
        OutboxEvent.seq > after
    )
    for seq, event, payload_json in session.execute(q):
        last = max(last, seq)
        try:
            payload: dict[str, Any] = json.loads(payload_json)
        except ValueError:
            continue
        if event in records.EVENT_ID_FIELDS:
            table, key = records.EVENT_ID_FIELDS[event]
            if payload.get(key):
                out[table].add(str(payload[key]))
        record_table = records.RECORD_TYPE_TABLE.get(str(payload.get("record_type", "")))
        if record_table and payload.get("record_id"):
            out[record_table].add(str(payload["record_id"]))
        if payload.get("patient_id"):
            out["patients"].add(str(payload["patient_id"]))
    return out, last


def _recent(session: Session, since: datetime | None) -> dict[str, set[str]]:
    """Ids of rows changed since `since` (all rows when None: the first capture)."""
    out: dict[str, set[str]] = defaultdict(set)
    for name, table in records.TABLES.items():
        q = select(table.c.id)
        if since is not None:
            q = q.where(table.c.updated_at >= since - SCAN_MARGIN)
        out[name].update(session.scalars(q))
    return out


def capture(session: Session, clock: HybridClock, closed: list[SyncConflict] | None = None) -> int:
    """Record local edits since the last capture as pending changes; returns how many records.

    A local edit of a field settles that field's open conflicts here too, as the same edit
    merged elsewhere settles them there (sync.merge): no workstation keeps a stale conflict
    whose "keep local" would write an overwritten value back. They go to `closed` to be audited.
    """
    hints, last_outbox = _hints(session)
    since_text = state.get(session, state.CAPTURE_AT)
    since = datetime.fromisoformat(since_text) if since_text else None
    started = datetime.now(UTC)
    for name, recent in _recent(session, since).items():
        hints[name].update(recent)
    changed = 0
    for name in records.TABLES:
        ids = sorted(hints.get(name, ()))
        for i in range(0, len(ids), BATCH):
            changed += _capture_batch(session, clock, name, ids[i : i + BATCH], closed)
    state.put(session, state.CAPTURE_OUTBOX, str(last_outbox))
    state.put(session, state.CAPTURE_AT, started.isoformat())
    state.put(session, state.HLC, clock.state())
    return changed


def _capture_batch(
    session: Session,
    clock: HybridClock,
    name: str,
    ids: list[str],
    closed: list[SyncConflict] | None,
) -> int:
    rows, states = records.rows_and_states(session, name, ids)
    conflicted = _with_open_conflicts(session, name, ids)
    new_rows: list[dict[str, Any]] = []
    changed = 0
    for rid, row in rows.items():
        values = records.row_values(name, row)
        st = states.get(rid)
        if st is None:
            now = clock.now()
            clocks = {f: [now, ZERO] for f in values}
            new_rows.append(records.state_row(name, rid, values, clocks, pending=True))
            changed += 1
            continue
        old = json.loads(st.values_json)
        dirty = [f for f, v in values.items() if old.get(f, ZERO) != v]
        if not dirty:
            continue
        now = clock.now()
        clocks = json.loads(st.clocks_json)
        for f in dirty:
            cur, base = clocks.get(f, [ZERO, ZERO])
            # an unpublished local write is replaced, not built upon: keep its base
            unpublished = st.pending and cur.endswith("-" + clock.device)
            clocks[f] = [now, base if unpublished else cur]
            if rid in conflicted:
                collisions.close_superseded(session, name, rid, f, closed)
        st.values_json = records.compact_json(values)
        st.clocks_json = records.compact_json(clocks)
        st.pending = True
        changed += 1
    if new_rows:
        session.execute(insert(SyncRecordState), new_rows)
    return changed


def _with_open_conflicts(session: Session, name: str, ids: list[str]) -> set[str]:
    """Ids of the batch that have an open conflict (one query per batch, usually empty)."""
    q = select(SyncConflict.record_id).where(
        SyncConflict.table_name == name,
        SyncConflict.record_id.in_(ids),
        SyncConflict.resolved_at.is_(None),
    )
    return set(session.scalars(q))


def pending_count(session: Session) -> int:
    """Records captured but not yet packed (for the status bar)."""
    q = select(func.count()).select_from(SyncRecordState).where(SyncRecordState.pending.is_(True))
    return int(session.scalar(q) or 0)
