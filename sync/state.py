"""Small helpers over the store's meta table for sync's own settings and counters."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.store.models import Meta

DEVICE_ID = "sync.device_id"
CLINIC_ID = "sync.clinic_id"
EVENT_BUS = "sync.event_bus"
HLC = "sync.hlc"
CAPTURE_AT = "sync.capture_at"
CAPTURE_OUTBOX = "sync.capture_outbox_seq"
HEAD_SEQ = "sync.head_seq"
HEAD_SHA = "sync.head_sha"
LAST_SYNC = "sync.last_sync_at"
LAST_ERROR = "sync.last_error"
FORMAT = "sync.format"  # "2" once enrolled with signed bundles (absent: version 1 or never)
IT_PUBLIC = "sync.it_public_key"  # hex: the clinic IT key pinned at enrolment
REGISTRY = "sync.registry"  # every verified registry entry (JSON list of base64)
FEED_AFTER = "sync.feed_after_ms"  # newest feed marker seen (writer's milliseconds)
FEED_HEADS = "sync.feed_heads"  # {device: highest bundle number a marker announced} (JSON)
FULL_SCAN_AT = "sync.full_scan_ms"  # when every device prefix was last listed (local ms)
AUDIT_SENT = "sync.audit_sent_seq"  # highest own audit seq packed into a bundle (sync.audit_share)
AUDIT_ANCHOR = "sync.audit_anchor"  # "seq:hash" of the newest head anchored in the audit bucket


def get(session: Session, key: str, default: str = "") -> str:
    """A meta value, or `default` when unset."""
    row = session.get(Meta, key)
    return default if row is None else row.value


def put(session: Session, key: str, value: str) -> None:
    """Set a meta value (inside the caller's write transaction)."""
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
