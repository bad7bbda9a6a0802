"""Audit-chain anchors: signed chain heads in the clinic's Object Lock audit bucket (issue 17).

An anchor is `{"doc": {format, clinic, device, seq, hash, time}, "sig": Ed25519 by the
device key}` (sync.identity.sign_doc) at

    v2/<clinic>/audit/<device>/<seq:012d>-<ms:013d>.nma

written create-only; the bucket's default Object Lock retention (infra/) keeps it from being
overwritten or deleted, even by the workstation that wrote it. Whoever later rewrites the
local chain (even holding the HMAC key from the keyring) cannot make it match the hashes
anchored before: `check` names the first anchored seq whose hash differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from app.core.security import audit
from app.core.store.models import AuditEvent
from app.core.store.store import Store
from sync import state
from sync.identity import DeviceKeys, TrustError, sign_doc, verify_doc
from sync.membership import Identity
from sync.transport import LAYOUT, MissingError, TooLargeError, Transport

FORMAT = "novamind-audit-anchor/1"
MAX_ANCHOR = 4096


@dataclass(frozen=True)
class Anchor:
    key: str
    seq: int
    hash: str
    time: str


def anchor_prefix(clinic: str, device: str) -> str:
    return f"{LAYOUT}/{clinic}/audit/{device}/"


def anchor_key(clinic: str, device: str, seq: int, ms: int) -> str:
    return f"{anchor_prefix(clinic, device)}{seq:012d}-{ms:013d}.nma"


def write(store: Store, transport: Transport, ident: Identity, dk: DeviceKeys) -> str:
    """Anchor the chain's current head unless it is the one anchored last; returns the object
    key written ('' when nothing was)."""
    seq, digest = store.read(audit.head)
    last = store.read(lambda s: state.get(s, state.AUDIT_ANCHOR))
    if seq == 0 or last == f"{seq}:{digest}":
        return ""
    ms = int(time.time() * 1000)
    doc = {
        "format": FORMAT,
        "clinic": ident.clinic_id,
        "device": ident.device_id,
        "seq": seq,
        "hash": digest,
        "time": datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds"),
    }
    key = anchor_key(ident.clinic_id, ident.device_id, seq, ms)
    transport.put_create_only(key, sign_doc(dk.sign, doc))
    store.write(lambda uow: state.put(uow.session, state.AUDIT_ANCHOR, f"{seq}:{digest}"))
    return key


def read_all(
    transport: Transport, ident: Identity, sign_public: bytes
) -> tuple[list[Anchor], list[str]]:
    """Every anchor of this device in the bucket, signature-checked; (anchors, problems)."""
    anchors: list[Anchor] = []
    problems: list[str] = []
    for key, _ in transport.list_keys(anchor_prefix(ident.clinic_id, ident.device_id)):
        name = key.rsplit("/", 1)[-1]
        try:
            blob = transport.get(key, MAX_ANCHOR)
            doc = verify_doc(sign_public, blob)
            seq, digest = doc["seq"], doc["hash"]
            if (
                doc.get("format") != FORMAT
                or doc.get("device") != ident.device_id
                or doc.get("clinic") != ident.clinic_id
                or not isinstance(seq, int)
                or not isinstance(digest, str)
                or not name.startswith(f"{seq:012d}-")
            ):
                raise TrustError("does not name this device's chain at its key")
        except (TrustError, KeyError, TooLargeError, MissingError) as exc:
            problems.append(f"anchor {name}: refused ({exc})")
            continue
        anchors.append(Anchor(key, seq, digest, str(doc.get("time", ""))))
    return sorted(anchors, key=lambda a: (a.seq, a.time)), problems


def check(s: Session, anchors: list[Anchor]) -> list[str]:
    """Problems of the local chain against the anchored heads, earliest seq first."""
    problems: list[str] = []
    good_below = 0
    for a in anchors:
        ev = s.get(AuditEvent, a.seq)
        if ev is None:
            problems.append(
                f"seq {a.seq}: anchored at {a.time} but missing from the local chain "
                "(events removed, or the store was rolled back)"
            )
        elif ev.hash != a.hash:
            problems.append(
                f"seq {a.seq}: differs from the head anchored at {a.time} (chain rewritten "
                f"after seq {good_below})"
            )
        elif not problems:
            good_below = a.seq
    return problems
