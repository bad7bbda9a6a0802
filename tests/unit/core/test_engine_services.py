"""Services that wire the engines to the store: scoring + alerts, predictions, twin."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.errors import PermissionDeniedError, ValidationError
from app.core.events import (
    AlertTriggered,
    AssessmentCompleted,
    DigitalTwinUpdated,
    PredictionGenerated,
)
from app.core.store.models import Alert, AssessmentResponse, OutboxEvent
from app.services import assessments, predictions, twin
from app.services.context import AppContext
from tests.support.records import row_counts

PHQ9_MILD = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}  # total 8 → mild


def test_submit_scores_stores_and_publishes(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    seen = []
    ctx.bus.subscribe(AssessmentCompleted, seen.append)
    out = assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD)
    assert out.result.total == 8 and out.result.band.code == "mild"
    assert [e.assessment_id for e in seen] == [out.assessment_id]
    (row,) = assessments.history(ctx, me, clinic["mine"], "phq9")
    assert (
        row.total == 8
        and row.band == "mild"
        and "Band: Mi" in row.scoring_rule
        and "Kroenke" in row.scoring_rule
    )


def test_item9_positive_raises_critical_alert(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    alerts = []
    ctx.bus.subscribe(AlertTriggered, alerts.append)
    out = assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD | {"q9": 1})
    assert [a.rule for a in alerts] == ["phq9_item9_positive"]
    assert alerts[0].severity == "critical" and out.alert_ids == (alerts[0].alert_id,)


def test_invalid_answers_save_nothing(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]

    def counts() -> tuple[int, ...]:
        return row_counts(ctx, AssessmentResponse, OutboxEvent)

    before = counts()
    with pytest.raises(ValidationError, match="q9"):
        assessments.submit(ctx, me, clinic["mine"], "phq9", {f"q{i}": 1 for i in range(1, 9)})
    with pytest.raises(ValidationError):
        assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD | {"q1": 7})
    assert counts() == before


def test_unassigned_clinician_cannot_submit(ctx: AppContext, clinic: dict) -> None:
    with pytest.raises(PermissionDeniedError):
        assessments.submit(
            ctx, clinic["users"][Role.CLINICIAN], clinic["theirs"], "phq9", PHQ9_MILD
        )


def test_phq9_rise_warning_is_not_repeated_while_open(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    now = datetime.now(UTC)
    low = {f"q{i}": 0 for i in range(1, 10)}
    assessments.submit(
        ctx, me, clinic["mine"], "phq9", low, administered_at=now - timedelta(days=20)
    )
    assessments.submit(
        ctx, me, clinic["mine"], "phq9", PHQ9_MILD, administered_at=now - timedelta(days=10)
    )
    assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD | {"q1": 3}, administered_at=now)
    rules = ctx.store.read(lambda s: list(s.scalars(select(Alert.rule))))
    assert rules.count("phq9_rise") == 1


def test_predictions_carry_provenance_uncertainty_and_explanations(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD)
    events = []
    ctx.bus.subscribe(PredictionGenerated, events.append)
    ids = predictions.predict(ctx, me, clinic["mine"])
    assert len(ids) == 8 and len(events) == 8
    views = {(v.target, v.option): v for v in predictions.latest(ctx, me, clinic["mine"])}
    relapse = views[("relapse_6m", None)]
    assert relapse.interval_low <= relapse.probability <= relapse.interval_high
    assert relapse.synthetic and "synthetic" in relapse.notice.lower()
    assert "C-SSRS" in relapse.notice  # suicide risk is not an ML score
    # missing inputs stay missing (None), never silently zero
    by_feature = {c["feature"]: c for c in relapse.contributions}
    assert by_feature["sleep_tst_h"]["value"] is None
    assert by_feature["phq9_current"]["value"] == 8
    assert ("response", "ssri") not in views and ("response_ssri", "ssri") in views


def test_twin_snapshot_versions_and_event(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    assert twin.update(ctx, me, clinic["mine"]) is None  # no observations yet
    now = datetime.now(UTC)
    assessments.submit(
        ctx, me, clinic["mine"], "phq9", PHQ9_MILD, administered_at=now - timedelta(days=30)
    )
    assessments.submit(ctx, me, clinic["mine"], "gad7", {f"q{i}": 2 for i in range(1, 8)})
    seen = []
    ctx.bus.subscribe(DigitalTwinUpdated, seen.append)
    twin.update(ctx, me, clinic["mine"])
    twin.update(ctx, me, clinic["mine"])
    assert [e.version for e in seen] == [1, 2]
    state = twin.latest_state(ctx, me, clinic["mine"])
    assert state.version == 2 and "depression" in state.dimensions
    assert {o.source for o in state.observations} >= {"phq9.total", "gad7.total"}


def test_alert_evidence_names_the_rule(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9_MILD | {"q9": 2})
    evidence = ctx.store.read(lambda s: s.scalar(select(Alert.evidence_json)))
    data = json.loads(evidence)
    assert data["rule_text"] and data["evidence"] and data["dedup"]
