"""Stored predictions carry what the screens need to be honest (issue 20, item 2): the reason a
model is withheld as a risk score (Brier skill below the minimum) and the inputs it scored
without; older rows read without them; the caseload never ranks by a withheld model."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import Prediction
from app.services import caseload, model_cards, predictions
from app.services.context import AppContext
from tests.support.noskill_model import activate_noskill_model


def test_withheld_reason_and_missing_inputs_are_stored(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    card = activate_noskill_model(ctx, "relapse_6m")
    predictions.predict(ctx, me, pid)
    views = {(v.target, v.option): v for v in predictions.latest(ctx, me, pid)}
    relapse = views[("relapse_6m", None)]
    assert relapse.withheld == card["skill"]["reason"]
    assert relapse.provenance["withheld"] == relapse.withheld
    gaps = [(c["feature"], c["label"]) for c in relapse.contributions if c["value"] is None]
    assert gaps, "the test patient has gaps in its record"
    stored = [(m["feature"], m["label"]) for m in relapse.provenance["missing_inputs"]]
    assert stored == gaps and relapse.missing_inputs == tuple(label for _, label in gaps)
    # every other model: withheld exactly when its own card says so
    for (target, option), v in views.items():
        if (target, option) == ("relapse_6m", None):
            continue
        name = model_cards.model_name_for(target, option)
        skill = model_cards.skill_of(model_cards.model_card(name, settings=ctx.settings))
        assert (v.withheld is None) == skill.shown_as_risk_score, name


def test_rows_stored_before_the_fields_read_as_shown_with_gaps_from_contributions(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)

    def strip(uow) -> None:  # what a row written before this change holds
        for row in uow.session.scalars(select(Prediction).where(Prediction.patient_id == pid)):
            prov = json.loads(row.provenance)
            prov.pop("withheld", None)
            prov.pop("missing_inputs", None)
            row.provenance = json.dumps(prov)

    ctx.store.write(strip)
    for v in predictions.latest(ctx, me, pid):
        assert v.withheld is None
        assert v.missing_inputs == tuple(c["label"] for c in v.contributions if c["value"] is None)


def test_caseload_lists_by_name_without_scores_when_withheld(ctx: AppContext, clinic: dict) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    card = activate_noskill_model(ctx, "relapse_6m")
    view = caseload.score_visible(ctx, sup, "relapse_6m")
    assert view.model_version == f"relapse_6m@{card['version']}"
    assert view.withheld == card["skill"]["reason"]
    assert [r.display_name for r in view.rows] == sorted(
        (r.display_name for r in view.rows), key=str.casefold
    )
    assert all(
        (r.probability, r.interval_low, r.interval_high, r.band) == (None, None, None, "")
        for r in view.rows
    )
    assert len(view.rows) == 2
