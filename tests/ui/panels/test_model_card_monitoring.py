"""The model card's Monitoring tab over the real store and the real check: a model whose inputs
drifted shows the "under review" banner; one with too little data says so and shows none."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.domain import Role
from app.services import model_cards, model_monitoring
from tests.support.model_history import relapse_predictions
from ui.panels.model_card import ModelCardDialog
from ui.tasks import TaskManager


def _open(ctx, principal, qtbot, show) -> tuple[ModelCardDialog, TaskManager]:
    dlg = ModelCardDialog(model_cards.model_card("relapse_6m", settings=ctx.settings))
    show(dlg)
    tasks = TaskManager(ctx)
    dlg.load_monitoring(tasks, ctx, principal)
    qtbot.waitUntil(lambda: dlg.monitoring.report is not None, timeout=30000)
    return dlg, tasks


def test_a_drifted_model_shows_under_review(ctx, clinic, qtbot, show) -> None:
    relapse_predictions(ctx, datetime.now(UTC), shift=10.0)
    assert len(model_monitoring.run_check(ctx).raised) == 1
    dlg, tasks = _open(ctx, clinic["users"][Role.CLINICIAN], qtbot, show)
    tabs = [dlg.tabs.tabText(i) for i in range(dlg.tabs.count())]
    assert tabs == ["Card", "Monitoring"]
    dlg.tabs.setCurrentIndex(1)
    tab = dlg.monitoring
    assert tab.banner.isVisible()
    assert "Under review" in tab.banner.text() and "input drift" in tab.banner.text()
    assert "UNDER REVIEW" in tab.status.text() and "300 predictions" in tab.status.text()
    rows = {tab.drift.item(r, 0).text(): r for r in range(tab.drift.rowCount())}
    assert tab.drift.item(rows["latest PHQ-9"], 4).text() == "alert"
    assert tab.volume.rowCount() == 13
    tasks.wait(5000)


def test_a_model_without_data_says_so_and_is_not_under_review(ctx, clinic, qtbot, show) -> None:
    dlg, tasks = _open(ctx, clinic["users"][Role.SUPERVISOR], qtbot, show)
    dlg.tabs.setCurrentIndex(1)
    assert not dlg.monitoring.banner.isVisible()
    assert "insufficient data" in dlg.monitoring.status.text()
    tasks.wait(5000)
