"""The clinic dashboard's real widgets over the fixed history of tests/support/dashboard_history:
filters reload the figures, drill-down lists only permitted patients and opens one in the
workspace, exports are written and audited, each role sees its own pages, and the shell offers
View → Clinic dashboard only to roles that have some page of it."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QDate
from PySide6.QtWidgets import QWidget
from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import AuditEvent
from app.services import phi_audit
from tests.support.dashboard_history import PERIOD, build_history
from tests.ui.shell_driver import idle, signed_in
from ui.dashboard.pages import CompletionPage, ResponsePage, RiskPage
from ui.dashboard.window import ClinicDashboard


@pytest.fixture
def history(ctx, clinic, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    return build_history(ctx, clinic, monkeypatch)


@pytest.fixture
def opened() -> Iterator:
    """open_(widget): show it now, close and delete it at teardown."""
    widgets: list[QWidget] = []

    def _open(w: QWidget) -> QWidget:
        w.show()
        widgets.append(w)
        return w

    yield _open
    for w in widgets:
        if shiboken6.isValid(w):
            w.close()
            w.deleteLater()


def _dashboard(ctx, principal, qtbot, opened) -> ClinicDashboard:
    """A dashboard showing the fixed history's period (custom dates), loaded."""
    from ui.tasks import TaskManager

    tasks = TaskManager(ctx)
    d = ClinicDashboard(ctx, principal, tasks)
    tasks.setParent(d)
    opened(d)
    qtbot.waitUntil(lambda: d.scope is not None, timeout=20000)
    with qtbot.waitSignal(d.loaded, timeout=20000):
        d.period.setCurrentIndex(d.period.findData(0))  # custom
        d.first.setDate(QDate(PERIOD.first.year, PERIOD.first.month, PERIOD.first.day))
        d.last.setDate(QDate(PERIOD.last.year, PERIOD.last.month, PERIOD.last.day))
    qtbot.waitUntil(lambda: d.dash is not None and d.dash.filter.first == PERIOD.first)
    qtbot.waitUntil(lambda: not tasks.busy, timeout=20000)
    return d


def _table(t) -> list[list[str]]:
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def _page(d: ClinicDashboard, cls):
    return next(p for p in d.pages if isinstance(p, cls))


def test_supervisor_filters_by_clinician_and_period(ctx, clinic, history, qtbot, opened) -> None:
    d = _dashboard(ctx, clinic["users"][Role.SUPERVISOR], qtbot, opened)
    completion = _page(d, CompletionPage)
    rows = _table(completion.table)
    assert ["PHQ-9", "All clinicians", "9", "4", "44%", "2"] in rows
    assert {r[1] for r in rows} >= {"All clinicians", "user.clinician", "user.other"}
    assert len(_table(completion.overdue)) == 4
    assert [t for t in (d.tabs.tabText(i) for i in range(d.tabs.count()))] == [
        "Assessment completion", "Alert response", "Caseload risk", "Note findings",
        "Actigraphy coverage", "Health", "System alerts",
    ]  # fmt: skip
    response = _table(_page(d, ResponsePage).table)
    assert response[0][:8] == ["critical", "3", "2", "2", "4.0 h", "6.0 h", "18.0 h", "24.0 h"]
    with qtbot.waitSignal(d.loaded, timeout=20000):
        d.clinician.setCurrentIndex(d.clinician.findData(history["other"].user_id))
    assert d.dash.patients == 1
    assert [r[1] for r in _table(completion.overdue)] == ["T-2"]
    with qtbot.waitSignal(d.loaded, timeout=20000):
        d.last.setDate(QDate(2026, 4, 30))  # to April's end: T-2's PHQ-9 of Apr 20 is on time
    assert [r[1:] for r in _table(completion.overdue)] == [["T-2", "GAD-7", "never", "never done"]]
    assert [p.as_of.isoformat() for p in d.dash.risk] == ["2026-04-30"]


def test_drill_down_lists_permitted_patients_and_opens_one(
    ctx, clinic, history, qtbot, opened
) -> None:
    me = history["me"]
    d = _dashboard(ctx, me, qtbot, opened)
    assert not d.clinician.isEnabled() and d.clinician.count() == 1
    risk = _page(d, RiskPage)
    response = _page(d, ResponsePage)
    with qtbot.waitSignal(d.tasks.finished, timeout=20000):
        response.table.cellDoubleClicked.emit(0, 0)  # critical: overdue open alerts
    qtbot.waitUntil(lambda: d.drill_dialog is not None and d.drill_dialog.isVisible())
    assert [r[1] for r in _table(d.drill_dialog.table)] == ["T-3"]
    with qtbot.waitSignal(d.open_patient, timeout=5000) as sig:
        d.drill_dialog.table.cellDoubleClicked.emit(0, 0)
    assert sig.args == [history["t3"]]
    assert risk.drillable

    def drills(session):
        return session.scalars(
            select(AuditEvent.detail_json).where(AuditEvent.action == "dashboard.drill")
        ).all()

    (detail,) = ctx.store.read(drills)
    assert phi_audit.decode_ids(json.loads(detail)) == [history["t3"]]


def test_exports_write_files_and_record_disclosures(
    ctx, clinic, history, qtbot, opened, tmp_path: Path
) -> None:
    d = _dashboard(ctx, clinic["users"][Role.SUPERVISOR], qtbot, opened)
    for kind in ("csv", "pdf"):
        d.choose_file = lambda k, kind=kind: tmp_path / f"dash.{kind}"  # type: ignore[method-assign]
        with qtbot.waitSignal(d.exported, timeout=20000):
            d.export(kind)
    assert (tmp_path / "dash.pdf").read_bytes().startswith(b"%PDF")
    rows = list(csv.reader((tmp_path / "dash.csv").read_text("utf-8").splitlines()))
    assert ["Patients in scope", "3"] in rows

    def disclosures(session):
        return [
            json.loads(x)["format"]
            for x in session.scalars(
                select(AuditEvent.detail_json).where(AuditEvent.action == phi_audit.DISCLOSURE)
            )
        ]

    assert sorted(ctx.store.read(disclosures)) == ["csv", "pdf"]


def test_researcher_sees_suppressed_aggregates_without_drill_down(
    ctx, clinic, history, qtbot, opened
) -> None:
    d = _dashboard(ctx, clinic["users"][Role.RESEARCHER], qtbot, opened)
    assert d.research_notice.isVisible() and "< 5" not in d.research_notice.text()
    completion = _page(d, CompletionPage)
    assert not completion.overdue.isVisible()
    assert all(r[1] == "All clinicians" for r in _table(completion.table))
    assert _table(completion.table)[0][2:4] == ["9", "< 5"]  # due shown, done (4) hidden
    assert d.tabs.count() == 5  # no Health / System alerts for researchers
    completion.table.cellDoubleClicked.emit(0, 0)
    assert d.drill_dialog is None  # nothing to list: de-identified


def test_it_gets_only_the_operations_pages(ctx, clinic, qtbot, opened) -> None:
    from ui.tasks import TaskManager

    tasks = TaskManager(ctx)
    d = ClinicDashboard(ctx, clinic["users"][Role.IT], tasks)
    tasks.setParent(d)
    opened(d)
    assert [d.tabs.tabText(i) for i in range(d.tabs.count())] == ["Health", "System alerts"]
    assert not d.filters.isVisible() and d.pages == []
    qtbot.waitUntil(lambda: not tasks.busy, timeout=20000)


@pytest.mark.parametrize(
    ("role", "offered"),
    [(Role.SUPERVISOR, True), (Role.RESEARCHER, True), (Role.IT, True), (Role.ADMIN, False)],
)
def test_view_menu_offers_the_dashboard_by_role(
    ctx, clinic, qtbot, make_shell, role, offered
) -> None:
    w = make_shell()
    signed_in(qtbot, w, f"user.{role.value}")
    idle(qtbot, w)
    assert w.act_clinic_dashboard.isVisible() is offered
    if offered:
        w.act_clinic_dashboard.trigger()
        qtbot.waitUntil(lambda: w.clinic_dashboard is not None and w.clinic_dashboard.isVisible())
        idle(qtbot, w)
        w.clinic_dashboard.reject()
        qtbot.waitUntil(lambda: w.clinic_dashboard is None)


def test_sign_in_runs_the_due_monitoring_checks(
    ctx, clinic, qtbot, make_shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services import ops_schedule

    calls: list[object] = []
    real = ops_schedule.run_due_checks
    monkeypatch.setattr(ops_schedule, "run_due_checks", lambda c, **k: calls.append(c) or real(c))
    w = make_shell()
    signed_in(qtbot, w, "user.clinician")
    idle(qtbot, w)
    assert calls == [ctx] and w.ops_timer.isActive()
    assert w.ops_timer.interval() == 60 * 60 * 1000
    w.sign_out()
    assert not w.ops_timer.isActive()
