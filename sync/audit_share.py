"""The clinic's audit history travels with sync (issue 17).

Each change bundle carries this device's audit events after the last one it sent (body key
`audit`), so the bundle's Ed25519 signature vouches for them and the clinic key encrypts them
like every record. Receivers keep other devices' events in `remote_audit_events`, never in
their own chain, and accept them only if each device's events link by `prev_hash` without a
gap: a device that re-sends a different event under a seq already held (a rewritten history)
has its bundle quarantined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.security.audit import GENESIS
from app.core.store.models import AuditEvent, RemoteAuditEvent
from sync import state
from sync.envelope import BundleError

MAX_PER_BUNDLE = 5000
FIELDS = (
    "seq",
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "patient_id",
    "record_type",
    "record_id",
    "detail_json",
    "prev_hash",
    "hash",
)
_TEXT_LIMITS = {
    "id": 36,
    "actor_id": 64,
    "actor_role": 16,
    "action": 48,
    "record_type": 32,
    "record_id": 36,
    "prev_hash": 64,
    "hash": 64,
}


def _as_entry(ev: AuditEvent | RemoteAuditEvent) -> dict[str, Any]:
    out = {f: getattr(ev, f) for f in FIELDS}
    out["at"] = ev.at.isoformat()
    return out


def pending(s: Session) -> tuple[list[dict[str, Any]], int]:
    """This device's audit events not yet packed, oldest first, and the seq sent after them."""
    sent = int(state.get(s, state.AUDIT_SENT) or "0")
    q = select(AuditEvent).where(AuditEvent.seq > sent).order_by(AuditEvent.seq)
    events = [_as_entry(ev) for ev in s.scalars(q.limit(MAX_PER_BUNDLE))]
    return events, (events[-1]["seq"] if events else sent)


def mark_sent(s: Session, seq: int) -> None:
    state.put(s, state.AUDIT_SENT, str(seq))


def validate(raw: Any) -> list[dict[str, Any]]:  # noqa: ANN401 — decrypted JSON
    """Shape-check a bundle's audit list (absent in bundles of older builds: empty)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BundleError("audit list is malformed")
    for e in raw:
        if not isinstance(e, dict) or set(e) != set(FIELDS):
            raise BundleError("audit event has the wrong fields")
        if isinstance(e["seq"], bool) or not isinstance(e["seq"], int) or e["seq"] < 1:
            raise BundleError("audit event has a bad seq")
        for f, limit in _TEXT_LIMITS.items():
            if not isinstance(e[f], str) or len(e[f]) > limit:
                raise BundleError(f"audit event field {f} is malformed")
        if not isinstance(e["detail_json"], str) or not (
            e["patient_id"] is None or isinstance(e["patient_id"], str)
        ):
            raise BundleError("audit event is malformed")
        try:
            if datetime.fromisoformat(e["at"]).tzinfo is None:
                raise ValueError
        except (TypeError, ValueError):
            raise BundleError("audit event time is malformed") from None
    return raw


def _held_head(s: Session, device: str) -> tuple[int, str]:
    seq = s.scalar(
        select(func.max(RemoteAuditEvent.seq)).where(RemoteAuditEvent.device_id == device)
    )
    if not seq:
        return 0, GENESIS
    return int(seq), s.get_one(RemoteAuditEvent, (device, seq)).hash


def check_links(s: Session, device: str, events: list[dict[str, Any]]) -> None:
    """Raise BundleError unless `events` extend what is held of `device`'s chain."""
    seq, prev = _held_head(s, device)
    for e in events:
        if e["seq"] <= seq:
            held = s.get(RemoteAuditEvent, (device, e["seq"]))
            if held is None or held.hash != e["hash"]:
                raise BundleError(
                    f"audit event {e['seq']} differs from the one already held (history rewritten)"
                )
            continue
        if e["seq"] != seq + 1:
            raise BundleError(f"audit chain gap: expected event {seq + 1}, found {e['seq']}")
        if e["prev_hash"] != prev:
            raise BundleError(f"audit event {e['seq']} does not link to the previous one")
        seq, prev = e["seq"], e["hash"]


def store(s: Session, device: str, events: list[dict[str, Any]]) -> int:
    """Keep the new events of `device` (call check_links first); returns how many were new."""
    new = 0
    for e in events:
        if s.get(RemoteAuditEvent, (device, e["seq"])) is not None:
            continue
        values = {**e, "at": datetime.fromisoformat(e["at"])}
        s.add(RemoteAuditEvent(device_id=device, **values))
        new += 1
    s.flush()
    return new


def held_by_device(s: Session) -> dict[str, list[dict[str, Any]]]:
    """Every remote device's events held here (relayed in snapshots to new workstations)."""
    out: dict[str, list[dict[str, Any]]] = {}
    q = select(RemoteAuditEvent).order_by(RemoteAuditEvent.device_id, RemoteAuditEvent.seq)
    for ev in s.scalars(q):
        out.setdefault(ev.device_id, []).append(_as_entry(ev))
    return out


def own_events(s: Session) -> list[dict[str, Any]]:
    """This device's whole chain as entries (for snapshots)."""
    return [_as_entry(ev) for ev in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
