"""A patient's scored administrations for the FHIR searches (Observation, QuestionnaireResponse).

The service layer's `assessments.history` gives totals and bands, not answers, so sub-scores
and stored responses need the answers re-scored. This read does what a service read does — the
RBAC check on the patient, one query, one `assessment.list` PHI-read audit event naming the
count — and re-scores each stored response with the desktop's own function
(`assessments._stored_result`). It belongs in app/services/assessments.py as a public
function; it lives here until that module's owner moves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.security import rbac
from app.core.store.models import AssessmentResponse
from app.services import phi_audit
from app.services.assessments import _stored_result
from app.services.context import AppContext
from engines.scoring.fhir import AssessmentRecord


@dataclass(frozen=True)
class Found:
    """The newest matching administrations (at most the limit) and how many matched."""

    records: list[AssessmentRecord]
    matched: int


def scored_responses(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    instrument: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> Found:
    """Live (not deleted) administrations of one patient, newest first, filtered by instrument
    and by administration time (since inclusive, until exclusive); audited as one list read."""

    def read(session: Session) -> Found:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        where = [
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.deleted_at.is_(None),
        ]
        if instrument:
            where.append(AssessmentResponse.instrument == instrument)
        if since is not None:
            where.append(AssessmentResponse.administered_at >= since)
        if until is not None:
            where.append(AssessmentResponse.administered_at < until)
        matched = session.scalar(select(func.count()).where(*where)) or 0
        rows = session.scalars(
            select(AssessmentResponse)
            .where(*where)
            .order_by(AssessmentResponse.administered_at.desc())
            .limit(limit)
        )
        return Found(
            [
                AssessmentRecord(r.id, patient_id, r.administered_at, _stored_result(r))
                for r in rows
            ],
            matched,
        )

    found = ctx.store.read(read)
    listed = phi_audit.listed("assessment", patient_id, len(found.records))
    phi_audit.audit_read(ctx, principal, **listed)
    return found
