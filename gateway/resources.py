"""FHIR R4 resources the gateway returns, each validated with fhir.resources before it leaves.

fhir.resources 8 ships R4B (4.3.0) as its R4-family model; every element used here has the
same structure in R4 (engines/scoring/fhir.py says the same for the exchange files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.riskassessment import RiskAssessment

from app.core.domain import PatientSummary
from engines.scoring.definitions import Instrument
from engines.scoring.fhir import (
    CATEGORY_SURVEY,
    LOINC,
    SCORE_SYSTEM,
    URL_PREFIX,
    AssessmentRecord,
    questionnaire_response,
)

MRN_SYSTEM = "urn:novamind:mrn"
_MODELS: dict[str, type[Any]] = {
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "Observation": Observation,
    "OperationOutcome": OperationOutcome,
    "Patient": Patient,
    "Questionnaire": Questionnaire,
    "QuestionnaireResponse": QuestionnaireResponse,
    "RiskAssessment": RiskAssessment,
}


def validated(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` unchanged if the FHIR model accepts it; a RuntimeError (a bug of ours) if not."""
    model = _MODELS.get(doc["resourceType"])
    if model is not None:
        try:
            model.model_validate(doc)
        except pydantic.ValidationError as exc:  # locations only: values may be PHI
            where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
            raise RuntimeError(f"gateway built an invalid {doc['resourceType']}: {where}") from None
    return doc


def outcome(status: int, code: str, diagnostics: str) -> dict[str, Any]:
    """An OperationOutcome for a refusal: FHIR's issue code and a PHI-free explanation."""
    severity = "error" if status < 500 else "fatal"
    return validated(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
        }
    )


def patient(p: PatientSummary) -> dict[str, Any]:
    """A Patient: id, MRN as identifier, display name, birth date, administrative gender."""
    return validated(
        {
            "resourceType": "Patient",
            "id": p.id,
            "identifier": [{"system": MRN_SYSTEM, "value": p.mrn}],
            "name": [{"text": p.display_name}],
            "birthDate": p.birth_date.isoformat(),
            "gender": p.sex if p.sex in {"female", "male", "other", "unknown"} else "unknown",
        }
    )


def observation(rec: AssessmentRecord, inst: Instrument | None) -> dict[str, Any]:
    """An administration's total score (LOINC code where the instrument has one), its band and
    its sub-scores (the instrument's own subscales, e.g. the PCL-5 clusters; Novamind codes:
    LOINC has no codes for most of them, and none is made up here)."""
    res = rec.result
    instrument = res.instrument_id
    short = inst.short_name if inst else instrument
    total = {"system": SCORE_SYSTEM, "code": f"{instrument}.total", "display": "total score"}
    codings = [total]
    if inst is not None and inst.loinc_total:  # real LOINC codes, from the instrument files
        codings.insert(0, {"system": LOINC, "code": inst.loinc_total})
    band = {"system": f"{URL_PREFIX}{instrument}:bands", "code": res.band.code}
    if res.band.label:
        band["display"] = res.band.label
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{rec.assessment_id}-score",
        "status": "final",
        "category": [{"coding": [CATEGORY_SURVEY]}],
        "code": {"coding": codings, "text": f"{short} total score"},
        "subject": {"reference": f"Patient/{rec.patient_id}"},
        "effectiveDateTime": rec.authored.astimezone(UTC).isoformat(),
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{rec.assessment_id}"}],
        "component": [
            {
                "code": {"coding": [{"system": SCORE_SYSTEM, "code": f"{instrument}.band"}]},
                "valueCodeableConcept": {"coding": [band]},
            }
        ]
        + [
            {
                "code": {
                    "coding": [{"system": SCORE_SYSTEM, "code": f"{instrument}.score.{s.id}"}],
                    "text": s.label,
                },
                "valueQuantity": {"value": s.value},
            }
            for s in res.subscales
        ],
    }
    if res.total is None:
        obs["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "not-applicable",
                }
            ]
        }
    else:
        obs["valueInteger"] = int(res.total)
    return validated(obs)


def questionnaire_responses(
    records: Sequence[AssessmentRecord], instruments: Mapping[str, Instrument]
) -> list[dict[str, Any]]:
    """The stored responses as the desktop's FHIR export writes them (answers as the
    instrument's codings, scoring parameters as extensions), each validated: only the
    responses are built, not the export's Questionnaires and Observations around them."""
    out = []
    for rec in records:
        inst = instruments.get(rec.result.instrument_id)
        if inst is None:  # stored by a newer version with an instrument this one lacks
            raise RuntimeError("a stored response's instrument is not shipped with this gateway")
        out.append(validated(questionnaire_response(rec, inst)))
    return out


def searchset(resources: Sequence[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    """A search result Bundle; `total` is how many matched when only the first are returned.

    Each resource was validated by the function that built it; the Bundle is validated with
    one of them (its shell and entry structure), not all again: validating a 100-entry bundle
    re-parses every resource and cost as much as building them."""
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": datetime.now(UTC).isoformat(),
        "total": len(resources) if total is None else total,
    }
    validated({**bundle, "entry": entries[:1]} if entries else bundle)
    if entries:
        bundle["entry"] = entries
    return bundle


def capability_statement(version: str) -> dict[str, Any]:
    """What this gateway serves (and nothing it does not)."""

    def res(kind: str, interactions: list[str], params: list[tuple[str, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": kind, "interaction": [{"code": i} for i in interactions]}
        if params:
            out["searchParam"] = [{"name": n, "type": t} for n, t in params]
        return out

    return validated(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": datetime.now(UTC).date().isoformat(),
            "kind": "instance",
            "software": {"name": "Novamind clinic gateway", "version": version},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [
                {
                    "mode": "server",
                    "security": {
                        "description": "OAuth 2.0 client credentials (POST /oauth/token); "
                        "bearer JWT with SMART system scopes; token exchange (RFC 8693) for "
                        "a client acting for a signed-in clinician",
                    },
                    "resource": [
                        res(
                            "Patient",
                            ["read", "search-type"],
                            [("identifier", "token"), ("name", "string"), ("birthdate", "date")],
                        ),
                        res("Questionnaire", ["read", "search-type"], []),
                        res(
                            "QuestionnaireResponse",
                            ["create", "search-type"],
                            [
                                ("patient", "reference"),
                                ("questionnaire", "reference"),
                                ("authored", "date"),
                            ],
                        ),
                        res(
                            "Observation",
                            ["search-type"],
                            [("patient", "reference"), ("category", "token")],
                        ),
                        res("RiskAssessment", ["read", "search-type"], [("patient", "reference")]),
                    ],
                }
            ],
        }
    )
