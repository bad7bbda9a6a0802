"""The patient list's relapse band comes only from a model shown as a risk score (issue 20,
item 2): a withheld model's band neither shows nor ranks/filters patients."""

from __future__ import annotations

from app.core.domain import Role
from app.services import patients, predictions
from app.services.context import AppContext
from tests.support.noskill_model import activate_noskill_model


def _band(ctx: AppContext, who, pid: str) -> str:
    return next(p for p in patients.list_patients(ctx, who) if p.id == pid).latest_risk_band


def test_list_shows_no_band_of_a_withheld_model(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)
    shown = next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")
    assert shown.withheld is None and _band(ctx, me, pid) == shown.band != ""

    activate_noskill_model(ctx, "relapse_6m")
    predictions.predict(ctx, me, pid)
    withheld = next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")
    assert withheld.withheld and withheld.band  # the engine still stores a band
    assert _band(ctx, me, pid) == ""
