"""The caseload view shows the scores of the same active model as the patient view: with a
clinic-trained model active, its version and training data are named, not the synthetic label,
and the model card of a prediction from it is that model's card."""

from __future__ import annotations

from app.core.domain import Role
from app.services import predictions
from engines.xgb.bands import SYNTHETIC_LABEL
from tests.support.clinic_model import DESCRIPTION, TARGET, activate_clinic_model
from ui.panels.caseload import CaseloadWidget
from ui.panels.predictions import PredictionsPanel


def test_caseload_widget_names_the_active_clinic_model(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    w = CaseloadWidget(ctx, me)
    with qtbot.waitSignal(w.loaded, timeout=30000):
        show(w)
    assert w.view is not None and w.view.synthetic
    assert SYNTHETIC_LABEL in w.label.text()

    activate_clinic_model(ctx)
    with qtbot.waitSignal(w.loaded, timeout=30000):
        w.load()
    predictions.predict(ctx, me, clinic["mine"])
    single = next(v for v in predictions.latest(ctx, me, clinic["mine"]) if v.target == TARGET)
    assert w.view.model_version == single.model_version
    assert w.table.item(0, 2).text() == f"{single.probability:.0%}"
    assert SYNTHETIC_LABEL not in w.label.text()
    assert single.model_version in w.label.text() and DESCRIPTION in w.label.text()
    assert single.model_version in w.status.text()


def test_model_card_of_a_clinic_prediction_is_the_clinic_models(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    version = activate_clinic_model(ctx)
    predictions.predict(ctx, me, pid)
    panel = PredictionsPanel(ctx, me, pid)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    panel.open_model_card(TARGET)
    qtbot.waitUntil(lambda: bool(panel._dialogs), timeout=20000)
    card = panel._dialogs[0].card
    single = panel.view_for(TARGET)
    assert card["version"] == version and card["model_sha256"] == single.provenance["model_sha256"]
    assert card["training_data"]["description"] == DESCRIPTION
    panel._dialogs[0].close()
