"""The alert inbox: list, acknowledge, resolve or dismiss — each step audited with who and why."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, AlertRecord, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.events import PatientDataUpdated, RecordType
from app.core.security import rbac
from app.core.store.models import Alert, utcnow
from app.core.store.store import UnitOfWork
from app.services import phi_audit
from app.services.context import AppContext, actor_of

TRANSITIONS = {
    "new": {"acknowledged", "resolved", "dismissed"},
    "acknowledged": {"resolved", "dismissed"},
}


def _record(a: Alert) -> AlertRecord:
    return AlertRecord(
        a.id, a.patient_id, a.rule, a.severity, a.status, a.triggered_at, a.resolution
    )


def list_open_alerts(ctx: AppContext, principal: Principal) -> list[AlertRecord]:
    """Open alerts on the patients this user may see, most severe first."""

    def read(session: Session) -> list[AlertRecord]:
        rbac.require(session, principal, Action.LIST_PATIENTS)
        q = select(Alert).where(
            Alert.status.in_(("new", "acknowledged")), Alert.deleted_at.is_(None)
        )
        scope = rbac.visible_patient_ids(principal)
        if scope is not None:
            q = q.where(Alert.patient_id.in_(scope))
        order = {"critical": 0, "warning": 1, "info": 2}
        rows = sorted(session.scalars(q), key=lambda a: (order.get(a.severity, 3), a.triggered_at))
        return [_record(a) for a in rows]

    result = ctx.store.read(read)
    phi_audit.audit_read(
        ctx, principal, "alert.list", record_type="alert", shown=(a.patient_id for a in result)
    )
    return result


def transition(
    ctx: AppContext, principal: Principal, alert_id: str, status: str, reason: str = ""
) -> AlertRecord:
    """Move an alert along new → acknowledged → resolved/dismissed (a dismissal needs a reason)."""
    if status == "dismissed" and len(reason.strip()) < 5:
        raise ValidationError("Say why the alert is dismissed.")

    def do(uow: UnitOfWork) -> AlertRecord:
        alert = uow.session.get(Alert, alert_id)
        if alert is None:
            raise NotFoundError("That alert does not exist.")
        rbac.require(uow.session, principal, Action.ACT_ON_ALERT, alert.patient_id)
        if status not in TRANSITIONS.get(alert.status, set()):
            raise ValidationError(f"An alert that is {alert.status} cannot become {status}.")
        alert.status, alert.acted_by, alert.acted_at = status, principal.user_id, utcnow()
        alert.resolution = reason.strip()
        uow.session.flush()
        uow.audit(
            actor_of(principal),
            f"alert.{status}",
            patient_id=alert.patient_id,
            record_type="alert",
            record_id=alert.id,
            detail={"reason": reason.strip()},
        )
        uow.emit(
            PatientDataUpdated(
                patient_id=alert.patient_id, record_type=RecordType.ALERT, record_id=alert.id
            )
        )
        return _record(alert)

    return ctx.store.write(do)
