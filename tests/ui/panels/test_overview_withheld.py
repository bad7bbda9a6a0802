"""The Overview tab's relapse tile is as honest as the Predictions panel (issue 20, item 2): a
shown model's probability comes with its interval and nominal level; a model no better than the
base rate shows "Not shown as a risk score" with the engine's reason on hover, and no number.
Real store, real signed XGBoost models."""

from __future__ import annotations

import re

from app.core.domain import Role
from app.services import model_cards, predictions, vocabulary
from tests.support.noskill_model import activate_noskill_model
from ui.workspace.overview import WITHHELD, OverviewTab

PERCENT = re.compile(r"\d+(\.\d+)?\s?%")


def _overview(ctx, me, pid, qtbot, show) -> OverviewTab:
    tab = OverviewTab(ctx, me)
    show(tab, 1100, 500)
    tab.set_patient(pid)
    qtbot.waitUntil(lambda: tab.loaded_for == pid, timeout=20000)
    return tab


def _relapse(ctx, me, pid):
    return next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")


def test_shown_model_has_its_interval_on_the_tile(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)
    v = _relapse(ctx, me, pid)
    assert v.withheld is None and v.interval_level == "90%"
    tab = _overview(ctx, me, pid, qtbot, show)
    assert tab.risk.value.text() == f"{v.probability:.0%}  {v.band}"
    interval = vocabulary.interval_text(v.interval_low, v.interval_high, v.interval_level)
    assert interval.startswith("90% interval ")
    assert tab.risk.detail.text().startswith(f"{interval} · ")
    assert tab.risk.toolTip() == "" and tab.risk.value.toolTip() == ""


def test_withheld_model_shows_no_number_and_its_reason(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    card = activate_noskill_model(ctx, "relapse_6m")
    predictions.predict(ctx, me, pid)
    v = _relapse(ctx, me, pid)
    assert v.withheld == card["skill"]["reason"]
    tab = _overview(ctx, me, pid, qtbot, show)
    assert tab.risk.value.text() == WITHHELD == "Not shown as a risk score"
    assert v.model_version in tab.risk.detail.text()
    why = model_cards.not_shown_text(v.withheld)
    assert tab.risk.toolTip() == why == tab.risk.value.toolTip()
    assert tab.risk.value.accessibleDescription() == why
    # neither the probability, the interval nor the band is on the tile
    for text in (tab.risk.value.text(), tab.risk.detail.text()):
        assert not PERCENT.search(text), text
        assert v.band not in text.split()
    tab.set_patient(None)  # cleared: no reason of the last patient lingers
    assert tab.risk.toolTip() == "" and tab.risk.value.text() == "—"
