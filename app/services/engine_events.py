"""The platform events services publish for engine results.

The engines return plain results and know nothing of the app's events; once a service has
stored a result it builds the event here (ids, codes and numbers only, never PHI).
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.events import (
    AlertTriggered,
    AssessmentCompleted,
    DigitalTwinUpdated,
    NLPAnalysisCompleted,
    PredictionGenerated,
)
from engines.llm.results import NoteAnalysis
from engines.pat.screen import ScreenResult
from engines.scoring.alerts import AlertCandidate
from engines.scoring.engine import ScoreResult
from engines.twin.state import TwinState
from engines.xgb.predict import Prediction


def assessment_completed_event(
    result: ScoreResult,
    *,
    patient_id: str,
    assessment_id: str,
    occurred_at: datetime | None = None,
) -> AssessmentCompleted:
    """AssessmentCompleted for an instrument the service has scored and stored."""
    return AssessmentCompleted(
        patient_id=patient_id,
        occurred_at=occurred_at or datetime.now(UTC),
        assessment_id=assessment_id,
        instrument=result.instrument_id,
        total=None if result.total is None else float(result.total),
        band=result.band.code,
        source="instrument",
    )


def screen_completed_event(
    result: ScreenResult, patient_id: str, assessment_id: str
) -> AssessmentCompleted:
    """AssessmentCompleted (source 'pat') for a stored actigraphy screen."""
    return AssessmentCompleted(
        patient_id=patient_id,
        assessment_id=assessment_id,
        instrument=f"{result.model_name}@{result.model_version}",
        total=round(result.probability, 4),
        band="screen positive" if result.positive else "screen negative",
        source="pat",
    )


def alert_triggered_event(candidate: AlertCandidate, *, alert_id: str) -> AlertTriggered:
    """AlertTriggered once the service has stored the alert."""
    return AlertTriggered(
        patient_id=candidate.patient_id,
        alert_id=alert_id,
        rule=candidate.rule_id,
        severity=candidate.severity,
    )


def prediction_event(prediction: Prediction, prediction_id: str) -> PredictionGenerated:
    """PredictionGenerated after the service has persisted ``prediction``."""
    return PredictionGenerated(
        patient_id=prediction.patient_id,
        prediction_id=prediction_id,
        target=prediction.target,
        probability=round(prediction.probability, 6),
        band=prediction.band,
        model_version=prediction.model_version,
    )


def twin_updated_event(
    state: TwinState, *, patient_id: str, snapshot_id: str
) -> DigitalTwinUpdated:
    """DigitalTwinUpdated after the service has persisted ``state`` as ``snapshot_id``."""
    return DigitalTwinUpdated(patient_id=patient_id, snapshot_id=snapshot_id, version=state.version)


def analysis_completed_event(analysis: NoteAnalysis, patient_id: str) -> NLPAnalysisCompleted:
    """NLPAnalysisCompleted for a stored note analysis (ids and model identity only)."""
    return NLPAnalysisCompleted(
        patient_id=patient_id,
        analysis_id=analysis.analysis_id,
        note_id=analysis.note_id,
        model_name=analysis.model.name,
        model_sha256=analysis.model.sha256,
    )
