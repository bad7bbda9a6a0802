"""The caseload scores with the same active model as the patient view: once IT has trained and
activated a clinic model, both use it (same probability, same version), not the demo model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.core.domain import Role
from app.services import assessments, caseload, predictions
from app.services.context import AppContext
from tests.support.clinic_model import DESCRIPTION, TARGET, activate_clinic_model


def test_caseload_uses_the_active_clinic_model_like_the_patient_view(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    assessments.submit(
        ctx,
        me,
        pid,
        "phq9",
        {f"q{i + 1}": 2 for i in range(9)},
        administered_at=datetime.now(UTC) - timedelta(days=1),
    )
    demo = caseload.score_visible(ctx, me, TARGET)
    assert (
        demo.synthetic
        and demo.model_version == predictions.registry().load(TARGET).card.model_version
    )

    version = activate_clinic_model(ctx)
    view = caseload.score_visible(ctx, me, TARGET)
    predictions.predict(ctx, me, pid)
    single = next(v for v in predictions.latest(ctx, me, pid) if v.target == TARGET)
    (row,) = view.rows
    assert row.patient_id == pid
    # the same model as the patient view: its version, not the demo's
    assert view.model_version == single.model_version != demo.model_version
    assert single.provenance["version"] == version
    assert not view.synthetic and not single.synthetic
    assert view.training_description == DESCRIPTION
    assert abs(row.probability - single.probability) < 1e-9
    assert (row.interval_low, row.interval_high) == (
        single.interval_low,
        single.interval_high,
    )
