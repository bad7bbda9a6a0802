"""Predictions as FHIR RiskAssessment: the model and its version as the method, probability,
prediction interval, band, and the provenance the desktop shows beside every model output
(what the model was trained on — synthetic or research data says so — and how the interval was
made). A prediction whose model is withheld as a risk score (Brier skill below the minimum)
carries no probability or band, only the reason, as on the desktop."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from app.services import vocabulary
from app.services.predictions import PredictionView
from gateway.resources import validated

MODEL_SYSTEM = "urn:novamind:model"  # Novamind's model names (model cards), versioned
TARGET_SYSTEM = "urn:novamind:prediction"  # what is predicted: target[:treatment option]
BAND_SYSTEM = "urn:novamind:risk-band"  # very low .. very high (engines/xgb/bands.py)
INTERVAL_EXT = "urn:novamind:fhir:StructureDefinition:prediction-interval"
PROVENANCE_EXT = "urn:novamind:fhir:StructureDefinition:model-provenance"


def _interval(v: PredictionView) -> dict[str, Any]:
    """The prediction interval (FHIR's probability[x] holds one value, so an extension)."""
    parts: list[dict[str, Any]] = [
        {
            "url": "range",
            "valueRange": {"low": {"value": v.interval_low}, "high": {"value": v.interval_high}},
        }
    ]
    if v.interval_level:
        parts.append({"url": "level", "valueString": v.interval_level})
    method = v.provenance.get("interval_method")
    if method:
        parts.append({"url": "method", "valueString": str(method)})
    return {"url": INTERVAL_EXT, "extension": parts}


def _provenance(v: PredictionView) -> dict[str, Any]:
    prov = v.provenance
    parts: list[dict[str, Any]] = [{"url": "synthetic", "valueBoolean": v.synthetic}]
    for key, name in (
        ("model", "model"),
        ("version", "version"),
        ("model_sha256", "sha256"),
        ("training_data", "trainingData"),
        ("training_description", "trainingDescription"),
    ):
        if prov.get(key):
            parts.append({"url": name, "valueString": str(prov[key])})
    return {"url": PROVENANCE_EXT, "extension": parts}


def risk_assessment(patient_id: str, v: PredictionView) -> dict[str, Any]:
    """One stored prediction as a validated RiskAssessment."""
    model = str(v.provenance.get("model") or v.target)
    what = f"{v.target}:{v.option}" if v.option else v.target
    title = vocabulary.prediction_title(v.target, v.option)
    prediction: dict[str, Any] = {"outcome": {"text": title}}
    notes = [v.provenance_summary]
    if v.withheld:
        notes.append(f"Not shown as a risk score: {v.withheld}")
    else:
        prediction["probabilityDecimal"] = v.probability
        prediction["qualitativeRisk"] = {
            "coding": [{"system": BAND_SYSTEM, "code": v.band}],
            "text": v.band,
        }
        prediction["extension"] = [_interval(v)]
    if v.notice:
        notes.append(v.notice)
    if v.missing_inputs:
        notes.append("Scored without: " + ", ".join(v.missing_inputs))
    doc: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "id": v.id,
        "extension": [_provenance(v)],
        "status": "final",
        "method": {
            "coding": [
                {
                    "system": MODEL_SYSTEM,
                    "code": model,
                    "version": v.model_version,
                    "display": model,
                }
            ],
            "text": v.model_version if model in v.model_version else f"{model} {v.model_version}",
        },
        "code": {"coding": [{"system": TARGET_SYSTEM, "code": what}], "text": title},
        "subject": {"reference": f"Patient/{patient_id}"},
        "occurrenceDateTime": v.generated_at.astimezone(UTC).isoformat(),
        "prediction": [prediction],
        "note": [{"text": n} for n in notes if n],
    }
    return validated(doc)
