"""The audit log as a keyed hash chain.

Each event's hash is HMAC-SHA256 over its content, its sequence number and the previous hash,
keyed by a random key kept in the OS keyring (entry `audit:<store id>`), never in the store, so
whoever can open the store but not the keyring cannot rewrite history. Signed heads anchored
in the clinic's Object Lock audit bucket (sync.anchors) catch a rewrite even with that key.
The chain head (last seq and hash) is kept in the meta table, so deleting the newest entries
is detected as well as any edit, deletion or reordering in the middle.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.store.models import AuditEvent, Meta, new_id, utcnow

GENESIS = "0" * 64
HEAD_KEY = "audit_head"


def _digest(key: bytes, ev: AuditEvent) -> str:
    at: datetime = ev.at
    content = json.dumps(
        [
            ev.seq,
            ev.id,
            at.isoformat(),
            ev.actor_id,
            ev.actor_role,
            ev.action,
            ev.patient_id,
            ev.record_type,
            ev.record_id,
            ev.detail_json,
            ev.prev_hash,
        ],
        separators=(",", ":"),
    )
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


def head(session: Session) -> tuple[int, str]:
    """The recorded chain head (last seq, its hash); (0, GENESIS) for an empty chain."""
    return _head(session)


def _head(session: Session) -> tuple[int, str]:
    row = session.get(Meta, HEAD_KEY)
    if row is None:
        return 0, GENESIS
    seq, digest = row.value.split(":", 1)
    return int(seq), digest


def append(
    session: Session,
    key: bytes,
    *,
    actor_id: str,
    actor_role: str,
    action: str,
    patient_id: str | None = None,
    record_type: str = "",
    record_id: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add the next link; must run inside the writer's transaction."""
    seq, prev = _head(session)
    ev = AuditEvent(
        seq=seq + 1,
        id=new_id(),
        at=utcnow(),
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        patient_id=patient_id,
        record_type=record_type,
        record_id=record_id,
        detail_json=json.dumps(detail or {}, sort_keys=True),
        prev_hash=prev,
    )
    ev.hash = _digest(key, ev)
    session.add(ev)
    session.merge(Meta(key=HEAD_KEY, value=f"{ev.seq}:{ev.hash}"))
    return ev


@dataclass(frozen=True)
class AuditReport:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)
    anchors: int = 0  # signed heads in the audit bucket the chain was checked against
    anchored: str = ""  # object key of the head anchored by this verification, if any

    def summary(self) -> str:
        against = f", {self.anchors} anchored head(s) matched" if self.anchors else ""
        if self.ok:
            return f"audit chain intact: {self.checked} events verified{against}"
        return f"audit chain BROKEN: {len(self.problems)} problem(s) in {self.checked} events"


def verify(session: Session, key: bytes) -> AuditReport:
    """Walk the chain in order and report every broken link (ids and seq numbers only)."""
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS
    count = 0
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        count += 1
        if ev.seq != expected_seq:
            problems.append(f"seq {expected_seq}: missing (next present is {ev.seq})")
        if ev.prev_hash != prev:
            problems.append(f"seq {ev.seq}: does not link to the previous event")
        if not hmac.compare_digest(_digest(key, ev), ev.hash):
            problems.append(f"seq {ev.seq}: content does not match its hash (edited)")
        expected_seq, prev = ev.seq + 1, ev.hash
    head_seq, head_hash = _head(session)
    if (head_seq, head_hash) != (expected_seq - 1, prev):
        problems.append(
            f"chain ends at seq {expected_seq - 1} but the recorded head is seq {head_seq} "
            "(events removed from the end, or the head was altered)"
        )
    return AuditReport(ok=not problems, checked=count, problems=problems)
