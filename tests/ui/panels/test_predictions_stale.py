"""The Predictions tab says when the records the models read changed after scoring."""

from __future__ import annotations

from datetime import date

from app.core.domain import Role
from app.services import history, predictions


def test_changed_records_mark_the_scores_out_of_date_until_rescored(
    ctx, clinic, qtbot, show
) -> None:
    from ui.panels.predictions import PredictionsPanel

    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    predictions.predict(ctx, me, pid)
    panel = PredictionsPanel(ctx, me, pid)
    panel.follow(ctx.bus)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    assert not panel.stale.isVisible()
    assert not predictions.inputs_changed_since_scored(ctx, me, pid)

    # an intake recorded after scoring: the stored scores no longer describe the record
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        history.record_intake(ctx, me, pid, history.IntakeHistory(prior_episodes=3))
    assert predictions.inputs_changed_since_scored(ctx, me, pid)
    assert panel.stale.isVisible()

    # scoring the current record clears it
    with qtbot.waitSignal(panel.loaded, timeout=30000):
        panel.score_now()
    assert not panel.stale.isVisible()

    # a new medication is a model input too
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        history.add_medication(
            ctx, me, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
            frequency="once daily", start=date(2026, 1, 5),
        )  # fmt: skip
    assert panel.stale.isVisible()


def test_a_patient_never_scored_is_not_out_of_date(ctx, clinic) -> None:
    me = clinic["users"][Role.CLINICIAN]
    assert not predictions.inputs_changed_since_scored(ctx, me, clinic["mine"])
