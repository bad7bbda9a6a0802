"""The System alerts page over a real store: supervisors and IT see open alerts (most severe
first), filter them, and acknowledge, resolve or dismiss them with a reason, audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import AuditEvent
from app.core.store.store import SYSTEM
from app.services.context import AppContext
from app.services.system_alerts import list_system_alerts, raise_system_alert
from ui.dashboard.system_alerts_page import SystemAlertsPage


def _raise(ctx: AppContext, source: str, rule: str, severity: str, subject: str) -> str:
    alert = ctx.store.write(
        lambda uow: raise_system_alert(
            uow,
            SYSTEM,
            source=source,
            rule=rule,
            severity=severity,
            subject=subject,
            summary=f"{rule} on {subject}",
            evidence=[17, 0.31],
        )
    )
    assert alert is not None
    return alert


@pytest.fixture
def two_alerts(ctx: AppContext) -> dict[str, str]:
    return {
        "drift": _raise(ctx, "model", "psi_alert", "warning", "relapse_6m"),
        "backup": _raise(ctx, "health", "backup_overdue", "critical", "backup"),
    }


def _column(page: SystemAlertsPage, col: int) -> list[str]:
    return [page.table.item(r, col).text() for r in range(page.table.rowCount())]


def _load(page: SystemAlertsPage, qtbot, show) -> None:
    with qtbot.waitSignal(page.loaded, timeout=20000):
        show(page, 1000, 520)


def test_open_alerts_most_severe_first_and_filtered(ctx, clinic, two_alerts, qtbot, show) -> None:
    page = SystemAlertsPage(ctx, clinic["users"][Role.SUPERVISOR], None)
    _load(page, qtbot, show)
    assert _column(page, 0) == ["critical", "warning"]
    assert _column(page, 2) == ["backup_overdue", "psi_alert"]
    assert _column(page, 5) == ["17, 0.31", "17, 0.31"]
    assert page.info.text() == "2 alerts (open)"
    with qtbot.waitSignal(page.loaded, timeout=20000):
        page.source.setCurrentIndex(page.source.findData("health"))
    assert _column(page, 2) == ["backup_overdue"]
    # nothing selected: no step is offered
    assert not any(b.isEnabled() for b in page.buttons.values())


def test_acknowledge_resolve_and_dismiss_with_reason(ctx, clinic, two_alerts, qtbot, show) -> None:
    it = clinic["users"][Role.IT]
    page = SystemAlertsPage(ctx, it, None)
    _load(page, qtbot, show)
    page.table.selectRow(0)  # the backup alert
    buttons = page.buttons
    assert buttons["acknowledged"].isEnabled() and buttons["resolved"].isEnabled()
    assert not buttons["dismissed"].isEnabled()  # no reason typed yet
    with qtbot.waitSignal(page.acted, timeout=20000) as acted:
        buttons["acknowledged"].click()
    assert acted.args == [two_alerts["backup"], "acknowledged"]
    qtbot.waitUntil(lambda: "acknowledged" in _column(page, 6), timeout=20000)

    row = _column(page, 2).index("psi_alert")
    page.table.selectRow(row)
    qtbot.keyClicks(page.reason, "known seasonal shift")
    assert buttons["dismissed"].isEnabled()
    with qtbot.waitSignal(page.acted, timeout=20000):
        buttons["dismissed"].click()
    qtbot.waitUntil(lambda: _column(page, 2) == ["backup_overdue"], timeout=20000)
    assert page.reason.text() == ""

    with qtbot.waitSignal(page.loaded, timeout=20000):
        page.show_which.setCurrentIndex(page.show_which.findData(False))
    assert "dismissed — known seasonal shift" in _column(page, 6)
    assert [a.rule for a in list_system_alerts(ctx, it)] == ["backup_overdue"]
    actions = ctx.store.read(
        lambda s: s.scalars(
            select(AuditEvent.action).where(AuditEvent.actor_id == it.user_id)
        ).all()
    )
    assert "system_alert.acknowledged" in actions and "system_alert.dismissed" in actions


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.RESEARCHER, Role.ADMIN])
def test_other_roles_see_no_alerts(ctx, clinic, two_alerts, qtbot, show, role) -> None:
    page = SystemAlertsPage(ctx, clinic["users"][role], None)
    show(page, 1000, 520)
    qtbot.waitUntil(lambda: "supervisors and IT" in page.status.text(), timeout=20000)
    assert page.table.rowCount() == 0


def test_an_alert_raised_while_open_appears(ctx, settings, clinic, qtbot, show) -> None:
    from dataclasses import replace

    from app.services import system_health

    page = SystemAlertsPage(ctx, clinic["users"][Role.SUPERVISOR], None)
    _load(page, qtbot, show)
    assert page.table.rowCount() == 0 and page.status.text() == "No system alerts."
    tight = AppContext(
        replace(settings, operations={"health": {"min_free_disk_gb": 10**7}}), ctx.store, ctx.bus
    )
    with qtbot.waitSignal(page.loaded, timeout=20000):
        system_health.raise_critical(tight)  # the schedule's health check, on this thread
    assert _column(page, 2) == ["low_disk"]
    assert _column(page, 5)[0].startswith("free_gb=")
