"""Whose record a synced hint names: the patient id of an alert, assessment or twin snapshot.

Rows merged by sync reach the hub without their patient id. This reads that one id column by
record id (an identifier, never chart content) so the subscription can ask the service layer,
as its client, for the record: the permission decision and the audited read stay the service's.
"""

from __future__ import annotations

from sqlalchemy import select

from app.core.store.models import Alert, AssessmentResponse, TwinSnapshot
from app.services.context import AppContext
from gateway.hub import ALERT, ASSESSMENT, TWIN

_QUERIES = {
    ALERT: lambda rid: select(Alert.patient_id).where(Alert.id == rid),
    ASSESSMENT: lambda rid: select(AssessmentResponse.patient_id).where(
        AssessmentResponse.id == rid
    ),
    TWIN: lambda rid: select(TwinSnapshot.patient_id).where(TwinSnapshot.id == rid),
}


def patient_of(ctx: AppContext, kind: str, record_id: str) -> str | None:
    """The record's patient id, or None for an unknown kind or a missing record."""
    query = _QUERIES.get(kind)
    if query is None or not record_id:
        return None
    found: str | None = ctx.store.read(lambda s: s.scalar(query(record_id)))
    return found
