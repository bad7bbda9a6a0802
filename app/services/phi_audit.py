"""Audit events for PHI reads and disclosures, naming the patients by id (HIPAA §164.312(b)).

A list read names every patient it showed, not just a count: the sorted ids are compressed
(zlib, base64) into the event's detail, with a SHA-256 digest and the count, so an auditor can
answer "who saw patient X on day Y" with `decode_ids`. The detail is bounded: past
`MAX_LISTED_IDS` ids only the first ones are kept and the event says so (the digest and count
still cover the whole list).

Exports (PDF, PNG, FHIR) are "disclosure" events. Their destination is recorded as the file's
suffix and a SHA-256 of its absolute path, never the name itself: people name files after the
patient, and a name in the audit detail would be PHI in the log. `destination_digest` lets an
auditor confirm that a file found somewhere is the one disclosed.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.core.domain import Action, Principal
from app.core.errors import ValidationError
from app.core.security import rbac
from app.services.context import AppContext, actor_of

MAX_LISTED_IDS = 2000  # about 50 KB of detail at most
DISCLOSURE = "disclosure"
EXPORT_KINDS = frozenset({"pdf", "png", "fhir", "csv"})


def encode_ids(ids: Iterable[str]) -> dict[str, Any]:
    """{count, ids_sha256, ids_z[, truncated]} for a list of patient ids (order-free)."""
    unique = sorted(set(ids))
    joined = "\n".join(unique).encode()
    kept = unique[:MAX_LISTED_IDS]
    out: dict[str, Any] = {
        "count": len(unique),
        "ids_sha256": hashlib.sha256(joined).hexdigest(),
        "ids_z": base64.b64encode(zlib.compress("\n".join(kept).encode(), 9)).decode(),
    }
    if len(kept) < len(unique):
        out["truncated"] = True
    return out


def decode_ids(detail: dict[str, Any]) -> list[str]:
    """The patient ids an audit event's detail names (for auditors); [] when it names none."""
    blob = detail.get("ids_z")
    if not blob:
        return []
    text = zlib.decompress(base64.b64decode(blob)).decode()
    return text.split("\n") if text else []


def audit_read(
    ctx: AppContext,
    principal: Principal,
    action: str,
    *,
    patient_id: str | None = None,
    record_type: str = "",
    record_id: str = "",
    shown: Iterable[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One PHI read event: the patient (one record) and/or the ids `shown` (a list)."""
    full = dict(detail or {})
    if shown is not None:
        full.update(encode_ids(shown))
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal),
            action,
            patient_id=patient_id,
            record_type=record_type,
            record_id=record_id,
            detail=full,
        )
    )


def listed(record_type: str, patient_id: str, count: int) -> dict[str, Any]:
    """``audit_read`` arguments for a read of one patient's list of ``record_type`` records."""
    return {
        "action": f"{record_type}.list",
        "patient_id": patient_id,
        "record_type": record_type,
        "detail": {"count": count},
    }


def destination_digest(path: Path | str) -> str:
    """SHA-256 of the absolute path a disclosure went to (see the module docstring)."""
    return hashlib.sha256(str(Path(path).expanduser().absolute()).encode()).hexdigest()


def record_disclosure(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    kind: str,
    destination: Path | str,
    records: int = 0,
) -> None:
    """Audit that this patient's data left the store as a file (the UI calls this after it
    wrote a PDF report or a PNG screenshot, the FHIR export after it wrote the bundle); refused
    unless the user may read the record."""
    if kind not in EXPORT_KINDS:
        raise ValidationError(f"unknown export kind '{kind}' (one of {sorted(EXPORT_KINDS)})")
    ctx.store.read(lambda s: rbac.require(s, principal, Action.READ_PHI, patient_id))
    dest = Path(destination)
    detail = {
        "format": kind,
        "destination_suffix": dest.suffix.lower(),
        "destination_sha256": destination_digest(dest),
        "records": records,
    }
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal),
            DISCLOSURE,
            patient_id=patient_id,
            record_type="export",
            detail=detail,
        )
    )
