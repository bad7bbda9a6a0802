"""Predictions panel and caseload view, driven like a user over real signed XGBoost models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from app.core.domain import Role
from app.services import assessments, predictions
from app.services.context import AppContext
from ui.panels.caseload import CaseloadWidget
from ui.panels.charts import TOP_K, plain_words
from ui.panels.model_card import ModelCardDialog
from ui.panels.predictions import PredictionsPanel, RiskCard


def _phq(ctx: AppContext, me: object, pid: str, total_items: list[int], days_ago: int) -> None:
    assessments.submit(
        ctx,
        me,
        pid,
        "phq9",
        {f"q{i + 1}": v for i, v in enumerate(total_items)},
        administered_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


def test_panel_shows_targets_bars_and_treatments(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)
    panel = PredictionsPanel(ctx, me, pid)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    views = predictions.latest(ctx, me, pid)
    cards = panel.findChildren(RiskCard)
    assert {c.view.target for c in cards} == {"relapse_6m", "hosp_90d"}
    for c in cards:
        assert c.value.text() == f"{c.view.probability:.0%}"
    # suicide risk is not an ML score, and the synthetic label is on screen
    assert "C-SSRS" in panel.suicide.text() and panel.suicide.isVisible()
    assert "synthetic data" in panel.synthetic.text() and panel.synthetic.isVisible()

    # bars: sign and order match the stored contributions, missing inputs "not recorded"
    relapse = next(v for v in views if v.target == "relapse_6m" and v.option is None)
    panel.explain("relapse_6m")
    expected = sorted(relapse.contributions, key=lambda c: -abs(c["contribution"]))[:TOP_K]
    drawn = panel.chart.bars()
    assert [f for f, _ in drawn] == [c["feature"] for c in expected]
    for (_, length), c in zip(drawn, expected, strict=True):
        assert abs(length - c["contribution"]) < 1e-9
    ticks = [t for _, t in panel.chart.getAxis("left")._tickLevels[0]]
    assert ticks == [plain_words(c) for c in expected]
    missing = [c for c in expected if c["value"] is None]
    assert all(plain_words(c).endswith("not recorded") for c in missing)

    # the other target's explanation through its card's Explain button
    hosp_card = next(c for c in cards if c.view.target == "hosp_90d")
    from PySide6.QtWidgets import QPushButton

    explain = next(b for b in hosp_card.findChildren(QPushButton) if b.text() == "Explain")
    qtbot.mouseClick(explain, Qt.MouseButton.LeftButton)
    assert panel.explain_for.currentData() == "hosp_90d"
    hosp = next(v for v in views if v.target == "hosp_90d")
    top = max(hosp.contributions, key=lambda c: abs(c["contribution"]))
    assert panel.chart.bars()[0][0] == top["feature"]

    # treatment comparison: six options, highest predicted response first, demo-only label
    t = panel.treatments
    assert t.rowCount() == 6
    probs = [float(t.item(r, 1).text().rstrip("%")) for r in range(6)]
    assert probs == sorted(probs, reverse=True)
    assert all("demonstration only" in t.item(r, 3).text() for r in range(6))


def test_score_now_and_model_card(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    panel = PredictionsPanel(ctx, me, pid)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    assert panel.empty.isVisible() and not panel.findChildren(RiskCard)
    with qtbot.waitSignal(panel.loaded, timeout=30000):
        qtbot.mouseClick(panel.score, Qt.MouseButton.LeftButton)
    cards = panel.findChildren(RiskCard)
    assert len(cards) == 2 and not panel.empty.isVisible()

    panel.open_model_card("relapse_6m")
    qtbot.waitUntil(lambda: bool(panel._dialogs), timeout=20000)
    dlg = panel._dialogs[0]
    assert isinstance(dlg, ModelCardDialog) and dlg.isVisible()
    card = dlg.card
    rel = [
        (b["mean_predicted"], b["observed"]) for b in card["calibration"]["reliability"] if b["n"]
    ]
    assert dlg.reliability.series["reliability"] == rel
    labels = [
        w.text()
        for w in dlg.findChildren(type(panel.status))
        if w.accessibleName() == "model label"
    ]
    assert any("synthetic data — demonstration only" in t for t in labels)
    assert dlg.features.rowCount() == len(card["features"])
    auc = card["metrics"]["held_out"]["auc"]
    assert dlg.metrics.item(0, 1).text().startswith(f"{auc['value']:.3f}")
    # the Monitoring tab fills in the background (two predictions: too few to judge drift)
    status = dlg.monitoring.status
    qtbot.waitUntil(lambda: "Checking" not in status.text(), timeout=60000)
    print("monitoring status:", status.text())
    assert "insufficient" in status.text().lower() and not dlg.monitoring.banner.isVisible()
    dlg.close()
    qtbot.waitUntil(lambda: not panel._dialogs, timeout=2000)


def test_caseload_sorted_by_risk_in_one_batch(ctx, clinic, qtbot, show) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    me = clinic["users"][Role.CLINICIAN]
    _phq(ctx, me, clinic["mine"], [3] * 9, 1)  # severe now
    _phq(ctx, clinic["other"], clinic["theirs"], [0] * 9, 1)  # minimal
    w = CaseloadWidget(ctx, sup)
    with qtbot.waitSignal(w.loaded, timeout=30000):
        show(w)
    view = w.view
    assert view is not None and len(view.rows) == 2
    probs = [r.probability for r in view.rows]
    assert probs == sorted(probs, reverse=True)
    assert all(r.interval_low <= r.probability <= r.interval_high for r in view.rows)
    assert w.table.item(0, 2).text() == f"{probs[0]:.0%}"
    # the same model on the same record gives the same probability as the per-patient path
    predictions.predict(ctx, me, clinic["mine"])
    single = next(
        v for v in predictions.latest(ctx, me, clinic["mine"]) if v.target == "relapse_6m"
    )
    row = next(r for r in view.rows if r.patient_id == clinic["mine"])
    assert abs(row.probability - single.probability) < 1e-6
    # a clinician sees only their own patient
    mine = CaseloadWidget(ctx, me)
    with qtbot.waitSignal(mine.loaded, timeout=30000):
        show(mine)
    assert [r.patient_id for r in mine.view.rows] == [clinic["mine"]]
    with qtbot.waitSignal(w.patient_activated, timeout=2000) as sig:
        w.table.cellActivated.emit(0, 0)
    assert sig.args == [view.rows[0].patient_id]
