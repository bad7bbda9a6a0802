"""Actigraphy summaries of the newest recording as FHIR Observations (category ``activity``):
one per calendar day (activity counts, active / valid / non-wear minutes) and one per night
(sleep duration, efficiency, latency, wake after sleep onset).

Codes: LOINC only where a real code exists — 93832-4 "Sleep duration" (LOINC; listed in HL7's
Personal Health Record IG value set pcd-sleep-observation-code). LOINC has no codes for
wrist-actigraphy activity counts or for these sleep-scoring parts, so those use Novamind's own
code system (``urn:novamind:actigraphy``); no LOINC code is made up. Values are the PAT
engine's stored results (engines/pat/daily.py, engines/pat/sleep.py), research-grade metrics.
"""

from __future__ import annotations

from typing import Any

from engines.scoring.fhir import LOINC
from gateway.resources import validated

ACTIGRAPHY_SYSTEM = "urn:novamind:actigraphy"
LOINC_SLEEP_DURATION = "93832-4"  # real LOINC: Sleep duration
UCUM = "http://unitsofmeasure.org"
ACTIVITY = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "activity",
    "display": "Activity",
}
# (result key, Novamind code, display, UCUM unit)
_DAY_PARTS = (
    ("total_counts", "day.total-counts", "activity counts, day total", "{counts}"),
    ("mean_counts", "day.mean-counts", "mean activity counts per valid minute", "{counts}/min"),
    ("active_minutes", "day.active-minutes", "minutes above the activity threshold", "min"),
    ("valid_minutes", "day.valid-minutes", "minutes with data", "min"),
    ("nonwear_minutes", "day.nonwear-minutes", "minutes judged not worn", "min"),
)
_NIGHT_PARTS = (
    ("sleep_efficiency", "night.sleep-efficiency", "sleep efficiency (fraction)", "1"),
    ("sol_min", "night.sleep-onset-latency", "sleep onset latency", "min"),
    ("waso_min", "night.waso", "wake after sleep onset", "min"),
)


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _components(data: dict[str, Any], parts: tuple[tuple[str, str, str, str], ...]) -> list:
    return [
        {
            "code": {"coding": [{"system": ACTIGRAPHY_SYSTEM, "code": code, "display": label}]},
            "valueQuantity": _quantity(float(data[key]), unit),
        }
        for key, code, label, unit in parts
        if isinstance(data.get(key), int | float)  # a metric the engine could not compute: left out
    ]


def _base(oid: str, patient_id: str, series_id: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [ACTIVITY]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": when,  # the calendar day (night of), as the engine dates it
        "device": {"display": f"wrist actigraphy recording {series_id}"},
    }


def observations(patient_id: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """The daily and nightly Observations of one recording's stored results."""
    series_id = str(results["series_id"])
    out: list[dict[str, Any]] = []
    for i, day in enumerate(results.get("daily") or []):
        obs = _base(f"{series_id}-day-{i}", patient_id, series_id, str(day["day"]))
        obs["code"] = {
            "coding": [
                {"system": ACTIGRAPHY_SYSTEM, "code": "day", "display": "daily activity summary"}
            ],
            "text": "Daily activity summary (actigraphy)",
        }
        if parts := _components(day, _DAY_PARTS):
            obs["component"] = parts
        out.append(validated(obs))
    for i, night in enumerate(results.get("nightly") or []):
        obs = _base(f"{series_id}-night-{i}", patient_id, series_id, str(night["night_of"]))
        obs["code"] = {
            "coding": [
                {"system": LOINC, "code": LOINC_SLEEP_DURATION, "display": "Sleep duration"},
                {"system": ACTIGRAPHY_SYSTEM, "code": "night.tst", "display": "total sleep time"},
            ],
            "text": "Sleep duration (actigraphy)",
        }
        tst = night.get("tst_min")
        if isinstance(tst, int | float):
            obs["valueQuantity"] = _quantity(float(tst), "min")
        else:
            obs["dataAbsentReason"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                        "code": "error",
                    }
                ]
            }
        if parts := _components(night, _NIGHT_PARTS):
            obs["component"] = parts
        out.append(validated(obs))
    return out
