"""Storing a new clinical record the one way every service does it: add, flush (for its id),
audit in the same transaction, and queue the event published after commit."""

from __future__ import annotations

from typing import Any

from app.core.events import Change, PatientDataUpdated, RecordType
from app.core.store.models import RecordMixin
from app.core.store.store import Actor, UnitOfWork


def add_audited(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    row: RecordMixin,
    *,
    patient_id: str,
    record_type: str,
    detail: dict[str, Any] | None = None,
) -> str:
    """Add ``row`` and audit ``action`` on it; returns the row's new id."""
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        actor, action, patient_id=patient_id, record_type=record_type, record_id=row.id,
        detail=detail,
    )  # fmt: skip
    return row.id


def emit_created(uow: UnitOfWork, patient_id: str, record_type: RecordType, record_id: str) -> None:
    """Tell listeners (after commit) that a record of the patient was created (ids only)."""
    uow.emit(
        PatientDataUpdated(
            patient_id=patient_id,
            record_type=record_type,
            record_id=record_id,
            change=Change.CREATED,
        )  # fmt: skip
    )
