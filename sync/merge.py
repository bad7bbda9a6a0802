"""Merge: apply verified remote records to the store, field by field, never losing an edit.

Per field the store keeps [clock, base]: the HLC of the write that produced the value and the
clock of the value it overwrote. A remote write whose base is our current clock descends from
what we have (fast-forward). Equal clocks are the same write. Anything else is a concurrent
edit: the higher clock wins on every device (so all converge) and both values go to the
conflict queue for a person to confirm or change. Signed notes are append-only; tombstones
(deleted_at) are sticky.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RowMapping, insert, update
from sqlalchemy.orm import Session

from app.core.errors import ValidationError
from app.core.store import blobs
from app.core.store.models import ActigraphyChunk, SyncConflict, SyncRecordState
from sync import collisions, records
from sync.envelope import BundleError
from sync.hlc import Clock, HybridClock

BATCH = 500


@dataclass
class MergeStats:
    """What one merge did (counts only, safe to log)."""

    inserted: int = 0
    updated: int = 0
    conflicts: int = 0
    unchanged: int = 0
    # (table, record id, patient id — the record's own id for patients, "" where none) of each
    # inserted or updated row: the bus events after the merge name the patient
    changed: list[tuple[str, str, str]] = field(default_factory=list)
    closed: list[SyncConflict] = field(default_factory=list)  # auto-closed: the caller audits


def validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Check every record of a decrypted body before anything is merged; raises BundleError."""
    entries = body.get("records")
    if not isinstance(entries, list):
        raise BundleError("body has no record list")
    for e in entries:
        if not isinstance(e, dict):
            raise BundleError("record entry is not an object")
        table, rid, values, clocks = e.get("t"), e.get("id"), e.get("v"), e.get("c")
        if not isinstance(table, str) or table not in records.TABLES:
            raise BundleError("record entry names an unknown table or a bad id")
        if not isinstance(rid, str) or len(rid) > 36:
            raise BundleError("record entry names an unknown table or a bad id")
        if not isinstance(values, dict) or not isinstance(clocks, dict):
            raise BundleError("record entry lacks values or clocks")
        if set(values) != set(records.columns(table)) or set(clocks) != set(values):
            raise BundleError(f"record entry for {table} has the wrong fields")
        for col, value in values.items():
            try:
                records.from_json(table, col, value)
                pair = clocks[col]
                if not isinstance(pair, list) or len(pair) != 2:
                    raise ValueError
                Clock.parse(pair[0])
                Clock.parse(pair[1]) if pair[1] != "0000000000000-00000-" else None
            except (ValueError, TypeError, AttributeError):
                raise BundleError(f"record entry for {table}.{col} is malformed") from None
        chunks = e.get("chunks")
        if chunks is not None:
            _validate_chunks(table, chunks)
    return entries


def _validate_chunks(table: str, chunks: Any) -> None:  # noqa: ANN401
    """Each chunk well-formed, of the known codec, and inflating (capped) to what it declares."""
    if table != "actigraphy_series" or not isinstance(chunks, list):
        raise BundleError("chunks attached to a record that has none")
    for ch in chunks:
        try:
            ok = len(ch) == 4 and isinstance(ch[0], int) and isinstance(ch[1], int)
            raw = base64.b64decode(ch[3], validate=True)
            ok = ok and ch[2] == blobs.CODEC
            if ok:
                blobs.inflate_chunk(ch[0], ch[1], raw)
        except (TypeError, KeyError, IndexError, ValueError, binascii.Error, ValidationError):
            ok = False
        if not ok:
            raise BundleError("actigraphy chunk is malformed, of an unknown codec or oversized")


def _sort_key(e: dict[str, Any]) -> tuple[int, str]:
    return records.ORDER[e["t"]], str(e["v"].get("created_at") or "")


def merge(
    session: Session,
    entries: list[dict[str, Any]],
    clock: HybridClock,
    known: Callable[[str], bool],
) -> MergeStats:
    """Apply validated entries inside the caller's transaction."""
    stats = MergeStats()
    by_table: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(entries, key=_sort_key):
        by_table[e["t"]].append(e)
    for name in records.TABLES:
        todo = by_table.get(name, [])
        for i in range(0, len(todo), BATCH):
            _merge_batch(session, clock, known, name, todo[i : i + BATCH], stats)
    return stats


def _decode(name: str, values: dict[str, Any]) -> dict[str, Any]:
    return {c: records.from_json(name, c, v) for c, v in values.items()}


def _patient_of(name: str, rid: str, values: dict[str, Any]) -> str:
    """The patient a merged row belongs to, from its synced values ("" if it has none)."""
    if name == "patients":
        return rid
    pid = values.get("patient_id")
    return pid if isinstance(pid, str) else ""


def _merge_batch(
    session: Session,
    clock: HybridClock,
    known: Callable[[str], bool],
    name: str,
    batch: list[dict[str, Any]],
    stats: MergeStats,
) -> None:
    table = records.TABLES[name]
    ids = [e["id"] for e in batch]
    rows, states = records.rows_and_states(session, name, ids)
    now = datetime.now(UTC)
    new_rows: list[dict[str, Any]] = []
    new_states: list[dict[str, Any]] = []
    new_chunks: list[dict[str, Any]] = []
    seen: set[str] = set()
    for e in batch:
        rid, values, clocks = e["id"], e["v"], e["c"]
        for pair in clocks.values():
            clock.observe(pair[0])
        if rid not in rows and rid not in seen:
            seen.add(rid)
            new_rows.append({**_decode(name, values), "id": rid, "version": 1, "updated_at": now})
            new_states.append(records.state_row(name, rid, values, clocks, pending=False))
            for ch in e.get("chunks") or []:
                new_chunks.append(
                    {
                        "series_id": rid,
                        "index": int(ch[0]),
                        "n_epochs": int(ch[1]),
                        "codec": str(ch[2]),
                        "data": base64.b64decode(ch[3]),
                    }
                )
            stats.inserted += 1
            stats.changed.append((name, rid, _patient_of(name, rid, values)))
            continue
        if rid in seen:  # a second entry for a record inserted in this batch: merge into state
            continue
        _merge_existing(
            session, name, rid, rows[rid], states.get(rid), values, clocks, now, stats, known, clock
        )
    if new_rows:
        new_rows, new_states, clashes = collisions.settle_new_rows(
            session, name, new_rows, new_states, clock.now
        )
        stats.conflicts += clashes
        kept = {r["id"] for r in new_rows}
        new_chunks = [c for c in new_chunks if c["series_id"] in kept]
    if new_rows:
        session.execute(insert(table), new_rows)
    if new_states:
        session.execute(insert(SyncRecordState), new_states)
    if new_chunks:
        session.execute(insert(ActigraphyChunk), new_chunks)


def _merge_existing(
    session: Session,
    name: str,
    rid: str,
    row: RowMapping,
    st: SyncRecordState | None,
    values: dict[str, Any],
    clocks: dict[str, list[str]],
    now: datetime,
    stats: MergeStats,
    known: Callable[[str], bool],
    clock: HybridClock,
) -> None:
    local_values = records.row_values(name, row)
    if st is None:  # a row that exists locally but was never captured: treat every field as new
        st = SyncRecordState(
            table_name=name,
            record_id=rid,
            values_json=json.dumps(local_values),
            clocks_json=json.dumps({f: ["0000000000000-00000-", ""] for f in local_values}),
            pending=True,
        )
        session.add(st)
    local_clocks: dict[str, list[str]] = json.loads(st.clocks_json)
    out_values = dict(local_values)
    out_clocks = dict(local_clocks)
    if name == "clinical_notes" and local_values.get("status") == "signed":
        stats.unchanged += 1  # signed content is append-only: nothing about it changes
        return
    take_all = name == "clinical_notes" and values.get("status") == "signed"
    for f, (rc, rb) in clocks.items():
        lc = local_clocks.get(f, ["0000000000000-00000-", ""])[0]
        remote_v, local_v = values[f], local_values[f]
        if take_all:
            out_values[f], out_clocks[f] = remote_v, [rc, rb]
            continue
        if rc == lc:
            continue
        if f == "deleted_at" and local_v is not None:
            continue  # tombstones are sticky
        if f == "deleted_at" and remote_v is not None:
            out_values[f], out_clocks[f] = remote_v, [rc, rb]
            continue
        if rb == lc:  # remote built on our value: fast-forward
            out_values[f], out_clocks[f] = remote_v, [rc, rb]
            collisions.close_superseded(session, name, rid, f, stats.closed)
            continue
        if known(rc):  # a write we already have (and have since replaced): stale
            continue
        # concurrent edit of one field: the higher clock wins everywhere, both are kept
        winner_remote = rc > lc
        if remote_v != local_v or winner_remote:  # older conflicts on the field are now stale
            collisions.close_superseded(session, name, rid, f, stats.closed)
        if remote_v != local_v:
            collisions.add_conflict(session, name, rid, f, local_v, remote_v, lc, rc)
            stats.conflicts += 1
        if winner_remote:
            out_values[f], out_clocks[f] = remote_v, [rc, rb]
    if out_values == local_values and out_clocks == local_clocks:
        stats.unchanged += 1
        return
    changes = {
        c: records.from_json(name, c, v) for c, v in out_values.items() if v != local_values[c]
    }
    key = collisions.TEXT_KEYS.get(name)
    if key in changes and changes[key] is not None:
        value, clash = collisions.settle_changed_value(session, name, rid, changes[key], clock.now)
        changes[key] = out_values[key] = value
        stats.conflicts += clash
    if changes:
        table = records.TABLES[name]
        session.execute(
            update(table)
            .where(table.c.id == rid)
            .values(**changes, version=row["version"] + 1, updated_at=now)
        )
        stats.updated += 1
        stats.changed.append((name, rid, _patient_of(name, rid, out_values)))
    else:
        stats.unchanged += 1
    st.values_json = records.compact_json(out_values)
    st.clocks_json = records.compact_json(out_clocks)
