"""System alerts: raised once per open condition, seen and acted on by supervisors and IT only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.config import ConfigError, read_policy
from app.core.domain import Role
from app.core.errors import PermissionDeniedError, ValidationError
from app.core.store.models import AuditEvent, OutboxEvent
from app.core.store.store import SYSTEM
from app.services import ops_policy
from app.services.context import AppContext
from app.services.system_alerts import (
    list_system_alerts,
    raise_system_alert,
    transition_system_alert,
)


def _raise(ctx: AppContext, subject: str = "relapse_6m") -> str | None:
    return ctx.store.write(
        lambda uow: raise_system_alert(
            uow,
            SYSTEM,
            source="model",
            rule="psi_alert",
            severity="warning",
            subject=subject,
            summary="Input drift above the policy threshold",
            evidence=[{"feature": "phq9_total", "psi": 0.31}],
        )
    )


def test_same_open_condition_raises_one_alert_and_is_audited(ctx: AppContext, clinic) -> None:
    first = _raise(ctx)
    assert first is not None
    assert _raise(ctx) is None  # still open: not raised again
    assert _raise(ctx, subject="hosp_90d") is not None  # another subject is another alert
    supervisor = clinic["users"][Role.SUPERVISOR]
    open_alerts = list_system_alerts(ctx, supervisor)
    assert sorted(a.subject for a in open_alerts) == ["hosp_90d", "relapse_6m"]
    assert open_alerts[0].evidence  # evidence kept

    def events(session):  # one audit link and one outbox event per raised alert
        audits = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "system_alert.raised")
        ).all()
        outbox = session.scalars(
            select(OutboxEvent.event).where(OutboxEvent.event == "AlertTriggered")
        ).all()
        return len(audits), len(outbox)

    assert ctx.store.read(events) == (2, 2)

    transition_system_alert(ctx, supervisor, first, "resolved")
    assert _raise(ctx) is not None  # resolved, so the condition may raise again


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.RESEARCHER, Role.ADMIN])
def test_other_roles_cannot_see_or_act(ctx: AppContext, clinic, role: Role) -> None:
    alert_id = _raise(ctx)
    assert alert_id is not None
    user = clinic["users"][role]
    with pytest.raises(PermissionDeniedError):
        list_system_alerts(ctx, user)
    with pytest.raises(PermissionDeniedError):
        transition_system_alert(ctx, user, alert_id, "acknowledged")
    it = clinic["users"][Role.IT]
    assert [a.status for a in list_system_alerts(ctx, it)] == ["new"]


def test_dismissal_needs_a_reason_and_bad_transitions_change_nothing(
    ctx: AppContext, clinic
) -> None:
    alert_id = _raise(ctx)
    assert alert_id is not None
    it = clinic["users"][Role.IT]
    with pytest.raises(ValidationError):
        transition_system_alert(ctx, it, alert_id, "dismissed", "no")
    transition_system_alert(ctx, it, alert_id, "acknowledged")
    with pytest.raises(ValidationError):
        transition_system_alert(ctx, it, alert_id, "new")
    assert [a.status for a in list_system_alerts(ctx, it)] == ["acknowledged"]


def test_policy_thresholds_override_and_typos_are_refused(ctx: AppContext, tmp_path: Path) -> None:
    assert ops_policy.section(ctx.settings, "models")["psi_alert"] == 0.25
    policy = tmp_path / "policy.toml"
    policy.write_text("[policy.operations.models]\npsi_alert = 0.2\n", encoding="utf-8")
    tuned = replace(ctx.settings, **read_policy(policy))
    assert ops_policy.section(tuned, "models")["psi_alert"] == 0.2
    for bad, message in [
        ("[policy.operations.models]\npsi_alret = 0.2\n", "psi_alret"),
        ("[policy.operations.models]\npsi_alert = 'high'\n", "psi_alert"),
        ("[policy.operations.modles]\npsi_alert = 0.2\n", "modles"),
        ("[policy.operations.health]\nsync_failing_hours = 1.5\n", "whole number"),
    ]:
        policy.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            ops_policy.section(replace(ctx.settings, **read_policy(policy)), "models")
            ops_policy.section(replace(ctx.settings, **read_policy(policy)), "health")
