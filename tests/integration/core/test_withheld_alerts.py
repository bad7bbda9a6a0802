"""A model withheld as a risk score (Brier skill below the minimum, issue 20 item 2) raises no
alert: its stored predictions are not rule inputs, while a shown model's still are. Real store,
real rule engine, real signed XGBoost models; a site rule that fires on any relapse probability
proves the path would alert."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import Alert, Prediction
from app.services import assessments, predictions, site_rules
from app.services.context import AppContext
from tests.support.noskill_model import activate_noskill_model

RULE = {
    "id": "site_relapse_any",
    "name": "Any relapse probability (test)",
    "description": "Fires on every relapse prediction: proves a prediction reaches the rules.",
    "severity": "critical",  # critical rules fire again on new evidence
    # no group: the built-in risk rules' group would keep only one of them
    "params": {},
    "condition": {"metric": "risk.relapse_6m", "op": ">=", "value": 0.0, "window_days": 30},
}


@pytest.fixture
def relapse_rule(ctx: AppContext) -> Iterator[None]:
    site_rules.install(replace(ctx.settings, alert_rules=(RULE,)))
    yield
    site_rules._active = None  # other tests expect the built-ins alone


def _evidence_of(ctx: AppContext, pid: str, rule: str | None = None) -> list[str]:
    """Every evidence id of the patient's alerts (of one rule, or of any)."""

    def read(session) -> list[str]:
        q = select(Alert.evidence_json).where(Alert.patient_id == pid)
        rows = session.scalars(q.where(Alert.rule == rule) if rule else q)
        return [e for row in rows for e in json.loads(row)["evidence"]]

    return ctx.store.read(read)


def _relapse(ctx, me, pid):
    return next(v for v in predictions.latest(ctx, me, pid) if v.target == "relapse_6m")


def test_withheld_model_raises_no_alert_a_shown_one_does(
    ctx: AppContext, clinic: dict, relapse_rule: None
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    since = datetime.now(UTC) - timedelta(days=1)

    # the demo relapse model is shown as a risk score: its probability fires the rule
    predictions.predict(ctx, me, pid)
    shown = _relapse(ctx, me, pid)
    assert shown.withheld is None
    assert f"{shown.id}/risk.relapse_6m" in _evidence_of(ctx, pid, RULE["id"])

    # the same rules, a withheld model: no alert of any rule cites it; it is no rule input
    card = activate_noskill_model(ctx, "relapse_6m")
    predictions.predict(ctx, me, pid)
    withheld = _relapse(ctx, me, pid)
    assert withheld.id != shown.id and withheld.withheld == card["skill"]["reason"]
    assert not any(e.startswith(withheld.id) for e in _evidence_of(ctx, pid))
    obs = ctx.store.read(lambda s: assessments.patient_observations(s, pid, since))
    ids = {o.id for o in obs}
    assert f"{withheld.id}/risk.relapse_6m" not in ids
    assert f"{shown.id}/risk.relapse_6m" in ids  # the shown model's row is still an input
    # other targets scored in the same run by shown models still feed the rules
    hosp = next(v for v in predictions.latest(ctx, me, pid) if v.target == "hosp_90d")
    assert hosp.withheld is None and f"{hosp.id}/risk.hosp_90d" in ids


def test_rows_from_before_the_field_still_feed_the_rules(ctx: AppContext, clinic: dict) -> None:
    """A provenance without "withheld" (older rows) or stored as plain text is an input."""
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)

    def strip(uow) -> None:
        rows = list(uow.session.scalars(select(Prediction).where(Prediction.patient_id == pid)))
        for i, row in enumerate(rows):
            if i == 0:
                row.provenance = "plain text provenance"
            else:
                prov = json.loads(row.provenance)
                prov.pop("withheld", None)
                row.provenance = json.dumps(prov)

    ctx.store.write(strip)
    since = datetime.now(UTC) - timedelta(days=1)
    obs = ctx.store.read(lambda s: assessments.patient_observations(s, pid, since))
    risk = [o for o in obs if o.metric.startswith("risk.")]
    assert len(risk) == len(predictions.latest(ctx, me, pid))
