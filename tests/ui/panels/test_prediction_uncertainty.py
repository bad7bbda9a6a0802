"""Honest uncertainty on screen (issue 20, item 2), driven over real signed XGBoost models and the
real store: the interval beside each probability, the missing inputs named, a model no better
than the base rate withheld (its reason, no score, not a caseload sort key), and the model card's
coverage, skill and per-input sources."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.core.domain import Role
from app.services import assessments, model_cards, predictions
from tests.support.noskill_model import activate_noskill_model
from ui.panels.caseload import CaseloadWidget
from ui.panels.model_card import ModelCardDialog
from ui.panels.predictions import PredictionsPanel, RiskCard

PERCENT = re.compile(r"\d+(\.\d+)?\s?%")


def _texts(w) -> list[str]:
    return [lbl.text() for lbl in w.findChildren(QLabel) if lbl.isVisible()]


def _panel(ctx, me, pid, qtbot, show) -> PredictionsPanel:
    panel = PredictionsPanel(ctx, me, pid)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    # cards added to a shown panel appear on the next turn of the event loop
    qtbot.waitUntil(lambda: all(c.isVisible() for c in panel.findChildren(RiskCard)))
    return panel


def test_card_shows_interval_and_names_missing_inputs(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    assessments.submit(
        ctx, me, pid, "phq9", {f"q{i + 1}": 2 for i in range(9)},
        administered_at=datetime.now(UTC) - timedelta(days=1),
    )  # fmt: skip
    predictions.predict(ctx, me, pid)
    panel = _panel(ctx, me, pid, qtbot, show)
    shown = [c for c in panel.findChildren(RiskCard) if c.view.withheld is None]
    assert shown, "at least one risk model is shown as a score"
    for card in shown:
        v = card.view
        assert v.interval_low <= v.probability <= v.interval_high
        # the interval sits beside the probability, with its nominal level
        assert card.interval is not None and card.interval.isVisible()
        assert card.interval.text() == (
            f"({v.interval_level} interval {v.interval_low:.0%}–{v.interval_high:.0%})"
        )
        assert v.interval_level == "90%"
        # the stored missing inputs are exactly the inputs scored without a value
        gaps = [c["label"] for c in v.contributions if c["value"] is None]
        assert gaps and list(v.missing_inputs) == gaps
        assert [m["label"] for m in v.provenance["missing_inputs"]] == gaps
        text = card.missing.text()
        assert text.startswith("Missing inputs: ")
        for g in gaps:
            assert g.casefold() in text.casefold()
        assert card.missing.isVisible()


def test_withheld_model_shows_its_reason_and_no_score(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    card_doc = activate_noskill_model(ctx, "relapse_6m")
    assert card_doc["skill"]["shown_as_risk_score"] is False
    assert card_doc["skill"]["brier_skill"] < card_doc["skill"]["minimum"] == 0.02
    predictions.predict(ctx, me, pid)
    view = next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")
    assert view.withheld and view.provenance["withheld"] == view.withheld

    panel = _panel(ctx, me, pid, qtbot, show)
    card = next(c for c in panel.findChildren(RiskCard) if c.view.target == "relapse_6m")
    assert card.interval is None
    assert card.value.text() == model_cards.not_shown_text(view.withheld)
    assert card.value.text().startswith("Not shown as a risk score: ")
    assert card.value.isVisible()
    # no probability, interval or band anywhere on the card
    names = [w.accessibleName() for w in card.findChildren(QLabel)]
    assert not any(n.startswith(("probability", "risk band")) for n in names)
    reason_free = [t for t in _texts(card) if t != card.value.text()]
    assert not any(PERCENT.search(t) for t in reason_free), reason_free
    assert card.missing.isVisible() and card.missing.text()

    # the card button opens the model card, which says why
    qtbot.mouseClick(card.card_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(panel._dialogs), timeout=20000)
    dlg = panel._dialogs[0]
    assert dlg.card["version"] == card_doc["version"]
    assert dlg.skill_verdict.text() == model_cards.not_shown_text(card_doc["skill"]["reason"])
    dlg.close()
    qtbot.waitUntil(lambda: not panel._dialogs, timeout=2000)


def test_caseload_is_not_ranked_by_a_withheld_model(ctx, clinic, qtbot, show) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    card_doc = activate_noskill_model(ctx, "relapse_6m")
    w = CaseloadWidget(ctx, sup)
    with qtbot.waitSignal(w.loaded, timeout=30000):
        show(w)
    view = w.view
    assert view is not None and view.target == "relapse_6m"
    assert view.model_version == f"relapse_6m@{card_doc['version']}"
    assert view.withheld == card_doc["skill"]["reason"]
    assert len(view.rows) == 2
    assert all(r.probability is None and r.interval_low is None and not r.band for r in view.rows)
    names = [r.display_name for r in view.rows]
    assert names == sorted(names, key=str.casefold)  # listed by name, not by risk
    for i in range(w.table.rowCount()):
        cell = w.table.item(i, 2)
        assert cell.text() == "withheld"
        assert cell.toolTip() == model_cards.not_shown_text(view.withheld)
        assert not PERCENT.search(w.table.item(i, 3).text())
    assert "Not shown as a risk score" in w.label.text() and "listed by name" in w.label.text()

    # a shown model still ranks, with its interval beside the score
    w.target.setCurrentIndex(w.target.findData("hosp_90d"))
    qtbot.waitUntil(lambda: w.view is not None and w.view.target == "hosp_90d", timeout=30000)
    hosp = w.view
    if hosp.withheld is None:
        probs = [r.probability for r in hosp.rows]
        assert probs == sorted(probs, reverse=True)
        r0 = hosp.rows[0]
        assert w.table.item(0, 3).text() == f"{r0.interval_low:.0%}–{r0.interval_high:.0%}"
        assert w.table.horizontalHeaderItem(3).text() == f"{hosp.interval_level} interval"


def test_model_card_shows_coverage_skill_and_input_sources(qtbot) -> None:
    card = model_cards.model_card("relapse_6m")
    dlg = ModelCardDialog(card)
    qtbot.addWidget(dlg)
    dlg.show()
    unc = card["uncertainty"]
    cov = unc["coverage"]
    assert cov["measured"]
    assert dlg.coverage.rowCount() == 3 and dlg.coverage.isVisible()
    for row, key in enumerate(("overall", "with_missing", "complete")):
        assert dlg.coverage.item(row, 1).text().startswith(f"{cov[key]['value']:.1%}")
        assert f"{cov[key]['n']:,} patients" in dlg.coverage.item(row, 1).text()
    assert 0.87 <= cov["overall"]["value"] <= 0.93
    assert "nominal 90%" in dlg.interval_method.text()
    assert unc["method"] in dlg.interval_method.text()

    skill = card["skill"]
    assert f"{skill['brier_skill']:.3f}" in dlg.skill_value.text()
    assert "minimum 0.02" in dlg.skill_value.text()
    verdict = dlg.skill_verdict.text()
    assert verdict.startswith("Shown as a risk score" if skill["shown_as_risk_score"] else "Not")

    sources = [f["source"] for f in card["features"]]
    assert all(sources)
    assert [dlg.features.item(i, 4).text() for i in range(len(sources))] == sources
    dlg.close()


def test_model_card_from_before_the_rule_says_what_it_lacks(qtbot) -> None:
    card = model_cards.model_card("relapse_6m")
    old = {k: v for k, v in card.items() if k not in ("skill", "uncertainty")}
    old["features"] = [{k: v for k, v in f.items() if k != "source"} for f in card["features"]]
    dlg = ModelCardDialog(old)
    qtbot.addWidget(dlg)
    dlg.show()
    ho, base = card["metrics"]["held_out"]["brier"]["value"], card["metrics"]["no_skill_brier"]
    assert f"{1 - ho / base:.3f}" in dlg.skill_value.text()
    assert "predates the minimum-skill rule" in dlg.skill_verdict.text()
    assert not dlg.coverage.isVisible()
    assert "no measured coverage" in " ".join(_texts(dlg))
    col = [dlg.features.item(i, 4).text() for i in range(dlg.features.rowCount())]
    assert set(col) == {"not stated on this card"}
    dlg.close()
