"""System alerts: what clinic operations raise (model drift, security rules, system health).

Unlike clinical alerts these concern no patient, carry no PHI (a subject id, a summary and
evidence ids/numbers only) and stay on the workstation that computed them: every node runs the
same checks over the same synced store. At most one alert is open per (source, rule, subject),
so a check that keeps finding the same condition raises it once. Supervisors and IT
(Action.MONITOR_OPERATIONS) see and act on them; every step is audited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from app.core.events import AlertTriggered
from app.core.security import rbac
from app.core.store.models import SystemAlert, utcnow
from app.core.store.store import Actor, UnitOfWork
from app.services.context import AppContext, actor_of

SOURCES = frozenset({"model", "security", "health"})
SEVERITIES = ("critical", "warning", "info")
OPEN = ("new", "acknowledged")
TRANSITIONS = {
    "new": {"acknowledged", "resolved", "dismissed"},
    "acknowledged": {"resolved", "dismissed"},
}


@dataclass(frozen=True)
class SystemAlertRecord:
    id: str
    source: str
    rule: str
    subject: str
    severity: str
    status: str
    summary: str
    evidence: tuple[Any, ...]
    triggered_at: datetime
    resolution: str


def _record(a: SystemAlert) -> SystemAlertRecord:
    return SystemAlertRecord(
        a.id,
        a.source,
        a.rule,
        a.subject,
        a.severity,
        a.status,
        a.summary,
        tuple(json.loads(a.evidence_json)),
        a.triggered_at,
        a.resolution,
    )


def raise_system_alert(
    uow: UnitOfWork,
    actor: Actor,
    *,
    source: str,
    rule: str,
    severity: str,
    subject: str = "",
    summary: str = "",
    evidence: list[Any] | tuple[Any, ...] = (),
) -> str | None:
    """Store, audit and announce an alert; None when the same one is already open."""
    if source not in SOURCES:
        raise ValidationError(f"Unknown system-alert source '{source}'.")
    if severity not in SEVERITIES:
        raise ValidationError(f"Unknown severity '{severity}'.")
    existing = uow.session.scalar(
        select(SystemAlert.id).where(
            SystemAlert.source == source,
            SystemAlert.rule == rule,
            SystemAlert.subject == subject,
            SystemAlert.status.in_(OPEN),
        )
    )
    if existing is not None:
        return None
    alert = SystemAlert(
        source=source,
        rule=rule,
        subject=subject,
        severity=severity,
        status="new",
        summary=summary,
        evidence_json=json.dumps(list(evidence)),
        triggered_at=utcnow(),
        resolution="",
    )
    uow.session.add(alert)
    uow.session.flush()
    uow.audit(
        actor,
        "system_alert.raised",
        record_type="system_alert",
        record_id=alert.id,
        detail={"source": source, "rule": rule, "subject": subject, "severity": severity},
    )
    uow.emit(AlertTriggered(alert_id=alert.id, rule=f"{source}:{rule}", severity=severity))
    return alert.id


def _require(session: Session, principal: Principal) -> None:
    if Action.MONITOR_OPERATIONS not in rbac.capabilities(principal):
        raise PermissionDeniedError("Only supervisors and IT see system alerts.")


def list_system_alerts(
    ctx: AppContext, principal: Principal, *, open_only: bool = True, source: str | None = None
) -> list[SystemAlertRecord]:
    """System alerts, most severe and newest first (supervisors and IT)."""

    def read(session: Session) -> list[SystemAlertRecord]:
        _require(session, principal)
        q = select(SystemAlert)
        if open_only:
            q = q.where(SystemAlert.status.in_(OPEN))
        if source is not None:
            q = q.where(SystemAlert.source == source)
        rows = list(session.scalars(q))
        rows.sort(key=lambda a: a.triggered_at, reverse=True)
        rows.sort(key=lambda a: SEVERITIES.index(a.severity) if a.severity in SEVERITIES else 9)
        return [_record(a) for a in rows]

    return ctx.store.read(read)


def transition_system_alert(
    ctx: AppContext, principal: Principal, alert_id: str, status: str, reason: str = ""
) -> SystemAlertRecord:
    """Acknowledge, resolve or dismiss (a dismissal needs a reason); audited."""
    if status == "dismissed" and len(reason.strip()) < 5:
        raise ValidationError("Say why the alert is dismissed.")

    def do(uow: UnitOfWork) -> SystemAlertRecord:
        _require(uow.session, principal)
        alert = uow.session.get(SystemAlert, alert_id)
        if alert is None:
            raise NotFoundError("That alert does not exist.")
        if status not in TRANSITIONS.get(alert.status, set()):
            raise ValidationError(f"An alert that is {alert.status} cannot become {status}.")
        alert.status, alert.acted_by, alert.acted_at = status, principal.user_id, utcnow()
        alert.resolution = reason.strip()
        uow.session.flush()
        uow.audit(
            actor_of(principal),
            f"system_alert.{status}",
            record_type="system_alert",
            record_id=alert.id,
            detail={"reason": reason.strip()},
        )
        return _record(alert)

    return ctx.store.write(do)
