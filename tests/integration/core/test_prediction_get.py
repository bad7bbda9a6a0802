"""`predictions.get`: one stored prediction by id, as `latest` shows it, audited as a read of
its patient's record; unknown, deleted and other teams' ids refused with nothing audited (and
a deleted one left out of `latest` too)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.errors import NotFoundError, PermissionDeniedError
from app.core.store.models import AuditEvent, Prediction
from app.services import assessments, auth, predictions
from app.services.context import AppContext
from tests.support.records import PASSWORD

PHQ9 = {f"q{i}": v for i, v in enumerate([2, 1, 3, 0, 2, 1, 2, 0, 0], start=1)}


def reads(ctx: AppContext) -> list[AuditEvent]:
    return ctx.store.read(
        lambda s: list(s.scalars(select(AuditEvent).where(AuditEvent.action == "prediction.read")))
    )


@pytest.fixture
def scored(ctx: AppContext, clinic: dict) -> list[predictions.PredictionView]:
    me = clinic["users"][Role.CLINICIAN]
    assessments.submit(ctx, me, clinic["mine"], "phq9", PHQ9)
    predictions.predict(ctx, me, clinic["mine"])
    return predictions.latest(ctx, me, clinic["mine"])


def test_get_is_the_view_latest_shows_and_is_audited(
    ctx: AppContext, clinic: dict, scored: list[predictions.PredictionView]
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    assert scored and all(v.patient_id == clinic["mine"] for v in scored)
    for v in scored:
        assert predictions.get(ctx, me, v.id) == v
    events = reads(ctx)
    assert [e.record_id for e in events] == [v.id for v in scored]
    assert {(e.patient_id, e.actor_id, e.record_type) for e in events} == {
        (clinic["mine"], me.user_id, "prediction")
    }
    sup = clinic["users"][Role.SUPERVISOR]  # a supervisor reads any patient's, audited too
    assert predictions.get(ctx, sup, scored[0].id) == scored[0]
    assert reads(ctx)[-1].actor_id == sup.user_id


def test_unknown_deleted_and_other_teams_ids_are_refused_unaudited(
    ctx: AppContext, clinic: dict, scored: list[predictions.PredictionView]
) -> None:
    other = auth.login(ctx, "user.other", PASSWORD)
    assessments.submit(ctx, other, clinic["theirs"], "phq9", PHQ9)
    (theirs, *_) = predictions.predict(ctx, other, clinic["theirs"])
    me = clinic["users"][Role.CLINICIAN]
    with pytest.raises(NotFoundError):
        predictions.get(ctx, me, "no-such-prediction")
    with pytest.raises(PermissionDeniedError):
        predictions.get(ctx, me, theirs)
    with pytest.raises(PermissionDeniedError):  # researchers read no identified record
        predictions.get(ctx, clinic["users"][Role.RESEARCHER], scored[0].id)

    def delete(uow: object) -> None:
        row = uow.session.get(Prediction, scored[0].id)  # type: ignore[attr-defined]
        row.deleted_at = datetime.now(UTC)

    ctx.store.write(delete)
    with pytest.raises(NotFoundError):
        predictions.get(ctx, me, scored[0].id)
    assert reads(ctx) == []
    # nor listed: the target's newest live prediction (none here: scored once) stands for it
    assert scored[0].id not in {v.id for v in predictions.latest(ctx, me, clinic["mine"])}
