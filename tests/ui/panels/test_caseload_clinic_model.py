"""The caseload view shows the scores of the same active model as the patient view: with a
clinic-trained model active, its version and training data are named, not the synthetic label."""

from __future__ import annotations

from app.core.domain import Role
from app.services import predictions
from engines.xgb.bands import SYNTHETIC_LABEL
from tests.support.clinic_model import DESCRIPTION, TARGET, activate_clinic_model
from ui.panels.caseload import CaseloadWidget


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
