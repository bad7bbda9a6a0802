"""Read models for the desktop patient workspace: overview, assessments, predictions, alerts,
actigraphy series and the patient's audit trail. Every read is RBAC-checked and audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, AlertRecord, AuditEntry, Principal
from app.core.security import rbac
from app.core.store.models import (
    ActigraphySeries,
    Alert,
    AuditEvent,
    Medication,
    Prediction,
    TreatmentPlan,
)
from app.services import phi_audit
from app.services.assessments import AssessmentRow, assessment_rows
from app.services.context import AppContext
from app.services.predictions import PredictionView, view_of

T = TypeVar("T")


@dataclass(frozen=True)
class MedicationRow:
    name: str
    drug_class: str
    dose: float
    unit: str
    frequency: str
    start: date
    adherence: float | None


@dataclass(frozen=True)
class PatientOverview:
    """What a clinician sees first: latest scores, treatment, latest risk, open alerts."""

    patient_id: str
    latest: dict[str, AssessmentRow]  # instrument -> latest response
    assessments_count: int
    medications: list[MedicationRow]
    treatment_option: str
    treatment_goals: str
    latest_prediction: PredictionView | None
    open_alerts: int
    actigraphy_series: int


def _assessments(session: Session, patient_id: str) -> list[AssessmentRow]:
    return assessment_rows(session, patient_id, newest_first=True)


def _predictions(session: Session, patient_id: str) -> list[PredictionView]:
    q = (
        select(Prediction)
        .where(Prediction.patient_id == patient_id, Prediction.deleted_at.is_(None))
        .order_by(Prediction.generated_at.desc())
    )
    return [view_of(p) for p in session.scalars(q)]


def _audit_read(ctx: AppContext, principal: Principal, patient_id: str, what: str, n: int) -> None:
    phi_audit.audit_read(ctx, principal, **phi_audit.listed(what, patient_id, n))


def patient_overview(ctx: AppContext, principal: Principal, patient_id: str) -> PatientOverview:
    """The overview tab's data in one read (audited as a PHI read)."""

    def read(session: Session) -> PatientOverview:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        rows = _assessments(session, patient_id)
        latest: dict[str, AssessmentRow] = {}
        for row in rows:
            latest.setdefault(row.instrument, row)
        meds = [
            MedicationRow(m.name, m.drug_class, m.dose, m.unit, m.frequency, m.start, m.adherence)
            for m in session.scalars(
                select(Medication).where(
                    Medication.patient_id == patient_id,
                    Medication.deleted_at.is_(None),
                    Medication.end.is_(None),
                )
            )
        ]
        plan = session.scalar(
            select(TreatmentPlan)
            .where(TreatmentPlan.patient_id == patient_id, TreatmentPlan.status == "active")
            .order_by(TreatmentPlan.start.desc())
        )
        preds = [p for p in _predictions(session, patient_id) if p.target == "relapse_6m"]
        n_alerts = len(
            session.scalars(
                select(Alert.id).where(
                    Alert.patient_id == patient_id, Alert.status.in_(("new", "acknowledged"))
                )
            ).all()
        )
        n_series = len(
            session.scalars(
                select(ActigraphySeries.id).where(ActigraphySeries.patient_id == patient_id)
            ).all()
        )
        return PatientOverview(
            patient_id=patient_id,
            latest=latest,
            assessments_count=len(rows),
            medications=meds,
            treatment_option=plan.option if plan else "",
            treatment_goals=plan.goals if plan else "",
            latest_prediction=preds[0] if preds else None,
            open_alerts=n_alerts,
            actigraphy_series=n_series,
        )

    result = ctx.store.read(read)
    _audit_read(ctx, principal, patient_id, "overview", 1)
    return result


def _patient_rows(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    what: str,
    rows_of: Callable[[Session, str], list[T]],
) -> list[T]:
    """One patient's rows of one kind: care-team scoped, audited as one PHI list read."""

    def read(session: Session) -> list[T]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        return rows_of(session, patient_id)

    rows = ctx.store.read(read)
    _audit_read(ctx, principal, patient_id, what, len(rows))
    return rows


def list_assessments(ctx: AppContext, principal: Principal, patient_id: str) -> list[AssessmentRow]:
    """All scored instruments of a patient, newest first."""
    return _patient_rows(ctx, principal, patient_id, "assessment", _assessments)


def list_patient_alerts(
    ctx: AppContext, principal: Principal, patient_id: str
) -> list[AlertRecord]:
    """Every alert of one patient (open and closed), newest first."""

    def rows(session: Session, pid: str) -> list[AlertRecord]:
        q = (
            select(Alert)
            .where(Alert.patient_id == pid, Alert.deleted_at.is_(None))
            .order_by(Alert.triggered_at.desc())
        )
        return [
            AlertRecord(
                a.id, a.patient_id, a.rule, a.severity, a.status, a.triggered_at, a.resolution
            )
            for a in session.scalars(q)
        ]

    return _patient_rows(ctx, principal, patient_id, "alert", rows)


def patient_audit(
    ctx: AppContext, principal: Principal, patient_id: str, limit: int = 500
) -> list[AuditEntry]:
    """Who touched this patient's record (supervisors and auditors), newest first."""

    def read(session: Session) -> list[AuditEntry]:
        rbac.require(session, principal, Action.VIEW_AUDIT)
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        q = (
            select(AuditEvent)
            .where(AuditEvent.patient_id == patient_id)
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        )
        return [
            AuditEntry(
                e.seq,
                e.at,
                e.actor_id,
                e.actor_role,
                e.action,
                e.patient_id,
                e.record_type,
                e.record_id,
            )
            for e in session.scalars(q)
        ]

    rows = ctx.store.read(read)
    _audit_read(ctx, principal, patient_id, "audit", len(rows))
    return rows
