"""FHIR exchange of assessments: export a patient's results as a Bundle, import one back.

Uses ``fhir.resources.R4B`` (FHIR 4.3.0): the installed fhir.resources 8 ships R5 by default plus
R4B and STU3, with no separate R4 package. Questionnaire, QuestionnaireResponse, Observation and
Bundle have the same R4 structure for every element used here, so the JSON is valid R4.

Export: one Questionnaire per instrument used, one QuestionnaireResponse per administration, one
Observation per administration (total with its LOINC code where one exists, band and subscales
as components, derivedFrom the response). Import: the Bundle is validated with the FHIR model,
every response is re-scored with the local instrument definition, and Observations that
disagree with the recomputed score are rejected. Any problem raises ValidationError and nothing
is returned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pydantic
from fhir.resources.R4B.bundle import Bundle

from app.errors import ValidationError
from engines.scoring.conditions import Leaf
from engines.scoring.definitions import Instrument, builtin_instruments
from engines.scoring.engine import ScoreResult, score

LOINC = "http://loinc.org"
URL_PREFIX = "urn:novamind:instrument:"
SCORE_SYSTEM = "urn:novamind:score"
PARAM_EXT = "urn:novamind:fhir:StructureDefinition:scoring-parameter"
ORDINAL_EXT = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
CATEGORY_SURVEY = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "survey",
    "display": "Survey",
}
_NS = uuid.UUID("6f1c3a52-1d55-4e8e-9d0e-2b9a3f0f7c11")


@dataclass(frozen=True)
class AssessmentRecord:
    """One scored administration as exchanged: ids, time and the engine's result."""

    assessment_id: str
    patient_id: str
    authored: datetime
    result: ScoreResult


def _fhir_id(raw: str) -> str:
    out = raw.replace("_", "-")
    if not out or len(out) > 64 or not all(c.isalnum() or c in "-." for c in out):
        raise ValidationError(f"FHIR export: id '{raw}' is not a valid FHIR id")
    return out


def _full_url(kind: str, rid: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, f'{kind}/{rid}')}"


def _answer_system(inst: Instrument) -> str:
    return f"{URL_PREFIX}{inst.id}:answers"


def _coding(inst: Instrument, item_id: str, value: int) -> dict[str, Any]:
    opt = inst.item(item_id).option(value)
    coding: dict[str, Any] = {
        "system": _answer_system(inst),
        "code": str(opt.value),
        "display": opt.label,
        "extension": [{"url": ORDINAL_EXT, "valueDecimal": opt.value}],
    }
    return coding


def questionnaire(inst: Instrument) -> dict[str, Any]:
    """The instrument as a FHIR Questionnaire (skip logic as enableWhen where expressible)."""
    items = []
    for it in inst.items:
        entry: dict[str, Any] = {
            "linkId": it.id,
            "text": it.text,
            "type": "choice",
            "required": it.required,
            "answerOption": [{"valueCoding": _coding(inst, it.id, o.value)} for o in it.options],
        }
        if it.loinc:
            entry["code"] = [{"system": LOINC, "code": it.loinc}]
        if isinstance(it.ask_if, Leaf) and it.ask_if.kind == "item" and it.ask_if.op == "==":
            entry["enableWhen"] = [
                {
                    "question": it.ask_if.name,
                    "operator": "=",
                    "answerCoding": {
                        "system": _answer_system(inst),
                        "code": str(int(it.ask_if.value)),
                    },
                }
            ]
        items.append(entry)
    q: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": _fhir_id(inst.id),
        "url": f"{URL_PREFIX}{inst.id}",
        "version": inst.version,
        "title": f"{inst.short_name}: {inst.name}",
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"Time frame: {inst.time_frame}. Source: {inst.citation}",
        "copyright": inst.licence,
        "item": items,
    }
    if inst.loinc_panel:
        q["code"] = [{"system": LOINC, "code": inst.loinc_panel}]
    return q


def _response(rec: AssessmentRecord, inst: Instrument) -> dict[str, Any]:
    res = rec.result
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _fhir_id(rec.assessment_id),
        "questionnaire": f"{URL_PREFIX}{inst.id}|{inst.version}",
        "status": "completed",
        "subject": {"reference": f"Patient/{rec.patient_id}"},
        "authored": rec.authored.isoformat(),
        "item": [
            {"linkId": k, "answer": [{"valueCoding": _coding(inst, k, v)}]} for k, v in res.answers
        ],
    }
    if res.parameters:
        qr["extension"] = [
            {
                "url": PARAM_EXT,
                "extension": [
                    {"url": "name", "valueString": name},
                    {"url": "value", "valueDecimal": value},
                ],
            }
            for name, value in res.parameters
        ]
    return qr


def _observation(rec: AssessmentRecord, inst: Instrument, qr_url: str) -> dict[str, Any]:
    res = rec.result
    codings = [{"system": SCORE_SYSTEM, "code": f"{inst.id}.total", "display": "total score"}]
    if inst.loinc_total:
        codings.insert(0, {"system": LOINC, "code": inst.loinc_total})
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _fhir_id(f"{rec.assessment_id}-score"),
        "status": "final",
        "category": [{"coding": [CATEGORY_SURVEY]}],
        "code": {"coding": codings, "text": f"{inst.short_name} total score"},
        "subject": {"reference": f"Patient/{rec.patient_id}"},
        "effectiveDateTime": rec.authored.isoformat(),
        "derivedFrom": [{"reference": qr_url}],
        "component": [
            {
                "code": {"coding": [{"system": SCORE_SYSTEM, "code": f"{inst.id}.band"}]},
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": f"{URL_PREFIX}{inst.id}:bands",
                            "code": res.band.code,
                            "display": res.band.label,
                        }
                    ]
                },
            }
        ]
        + [
            {
                "code": {"coding": [{"system": SCORE_SYSTEM, "code": f"{inst.id}.score.{s.id}"}]},
                "valueQuantity": {"value": s.value},
            }
            for s in res.subscales
        ],
    }
    if res.total is not None:
        obs["valueInteger"] = res.total
    else:
        obs["dataAbsentReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "not-applicable",
                }
            ],
            "text": "instrument has no total score; see band component",
        }
    return obs


def export_bundle(
    records: Sequence[AssessmentRecord],
    *,
    instruments: Mapping[str, Instrument] | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """One patient's assessments as a validated FHIR collection Bundle (JSON-ready dict)."""
    instruments = instruments or builtin_instruments()
    patients = {r.patient_id for r in records}
    if len(patients) > 1:
        raise ValidationError("FHIR export: records of more than one patient")
    entries: list[dict[str, Any]] = []
    used: dict[str, Instrument] = {}
    for rec in records:
        inst = instruments.get(rec.result.instrument_id)
        if inst is None:
            raise ValidationError(f"FHIR export: unknown instrument '{rec.result.instrument_id}'")
        used.setdefault(inst.id, inst)
    for inst in used.values():
        entries.append(
            {"fullUrl": _full_url("Questionnaire", inst.id), "resource": questionnaire(inst)}
        )
    for rec in records:
        inst = used[rec.result.instrument_id]
        qr_url = _full_url("QuestionnaireResponse", rec.assessment_id)
        entries.append({"fullUrl": qr_url, "resource": _response(rec, inst)})
        entries.append(
            {
                "fullUrl": _full_url("Observation", rec.assessment_id),
                "resource": _observation(rec, inst, qr_url),
            }
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": (timestamp or datetime.now(UTC)).isoformat(),
        "entry": entries,
    }
    _validate_model(bundle)  # never hand out something our own import would refuse
    return bundle


def export_bundle_json(records: Sequence[AssessmentRecord], **kwargs: Any) -> str:
    """export_bundle as FHIR JSON text."""
    return json.dumps(export_bundle(records, **kwargs), indent=2, ensure_ascii=False)


def _where(error: Any) -> str:
    """An error's location; an unknown key is the file's own text, so it is not repeated."""
    loc = [str(p) for p in error["loc"]]
    if error.get("type") == "extra_forbidden" and loc:
        loc[-1] = "(unknown field)"
    return ".".join(loc)


def _validate_model(doc: Any) -> Bundle:
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise ValidationError("FHIR bundle: top-level resourceType must be 'Bundle'")
    try:
        return Bundle.model_validate(doc)
    except pydantic.ValidationError as exc:
        # Locations and messages only: the offending values may be clinical content.
        problems = [f"{_where(e)}: {e['msg']}" for e in exc.errors()[:5]]
        more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise ValidationError("FHIR bundle: invalid: " + "; ".join(problems) + more) from None
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"FHIR bundle: invalid: {type(exc).__name__}") from None


def import_bundle(
    data: str | bytes | Mapping[str, Any],
    *,
    instruments: Mapping[str, Instrument] | None = None,
) -> tuple[AssessmentRecord, ...]:
    """Validate a Bundle and return its assessments re-scored locally; all or nothing."""
    instruments = instruments or builtin_instruments()
    if isinstance(data, str | bytes):
        try:
            doc = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", "?")
            raise ValidationError(f"FHIR bundle: not valid JSON (line {line})") from None
    else:
        doc = dict(data)
    model = _validate_model(doc)
    entries = [e.resource for e in (model.entry or []) if e.resource is not None]
    url_of = {id(e.resource): e.fullUrl for e in (model.entry or []) if e.resource is not None}

    records: list[AssessmentRecord] = []
    by_ref: dict[str, AssessmentRecord] = {}
    seen_ids: set[str] = set()
    patients: set[str] = set()
    for res in entries:
        if res.get_resource_type() != "QuestionnaireResponse":
            continue
        rec = _read_response(res, instruments)
        if rec.assessment_id in seen_ids:
            raise ValidationError(
                f"FHIR bundle: QuestionnaireResponse/{rec.assessment_id} appears twice"
            )
        seen_ids.add(rec.assessment_id)
        patients.add(rec.patient_id)
        records.append(rec)
        for ref in (url_of.get(id(res)), f"QuestionnaireResponse/{rec.assessment_id}"):
            if ref:
                by_ref[ref] = rec
    if len(patients) > 1:
        raise ValidationError("FHIR bundle: responses belong to more than one patient")
    for res in entries:
        if res.get_resource_type() == "Observation":
            _check_observation(res, by_ref)
    return tuple(records)


def _read_response(qr: Any, instruments: Mapping[str, Instrument]) -> AssessmentRecord:
    where = f"QuestionnaireResponse/{qr.id or '?'}"
    if not qr.id:
        raise ValidationError(f"{where}: id is required")
    if qr.status != "completed":
        raise ValidationError(f"{where}.status: must be 'completed'")
    canonical = qr.questionnaire or ""
    url, _, version = canonical.partition("|")
    if not url.startswith(URL_PREFIX) or url[len(URL_PREFIX) :] not in instruments:
        raise ValidationError(f"{where}.questionnaire: unknown questionnaire")
    inst = instruments[url[len(URL_PREFIX) :]]
    if version and version != inst.version:
        raise ValidationError(
            f"{where}.questionnaire: version {version} does not match local {inst.version}"
        )
    ref = qr.subject.reference if qr.subject is not None else None
    if not ref or not ref.startswith("Patient/") or len(ref) <= len("Patient/"):
        raise ValidationError(f"{where}.subject: must reference Patient/<id>")
    if qr.authored is None:
        raise ValidationError(f"{where}.authored: is required")
    authored = qr.authored
    if not isinstance(authored, datetime) or authored.tzinfo is None:
        raise ValidationError(f"{where}.authored: must be a date-time with a time zone")

    answers: dict[str, int] = {}
    for i, item in enumerate(qr.item or []):
        link = item.linkId
        if link in answers:
            raise ValidationError(f"{where}.item[{i}]: linkId '{link}' appears twice")
        if item.item:
            raise ValidationError(f"{where}.item[{i}]: nested items are not supported")
        if not item.answer:
            continue
        if len(item.answer) != 1:
            raise ValidationError(f"{where}.item[{i}]: exactly one answer expected")
        answers[link] = _answer_value(item.answer[0], inst, f"{where}.item[{i}]")

    params: dict[str, float] = {}
    for ext in qr.extension or []:
        if ext.url != PARAM_EXT:
            continue
        parts = {e.url: e for e in ext.extension or []}
        if "name" not in parts or "value" not in parts or parts["value"].valueDecimal is None:
            raise ValidationError(f"{where}.extension: scoring-parameter needs name and value")
        params[parts["name"].valueString] = float(parts["value"].valueDecimal)
    try:
        result = score(inst, answers, params)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc}") from None
    return AssessmentRecord(qr.id, ref[len("Patient/") :], authored, result)


def _answer_value(answer: Any, inst: Instrument, where: str) -> int:
    if answer.valueInteger is not None:
        return int(answer.valueInteger)
    coding = answer.valueCoding
    if coding is None:
        raise ValidationError(f"{where}.answer: valueCoding or valueInteger required")
    if coding.system == _answer_system(inst):
        try:
            return int(coding.code)
        except (TypeError, ValueError):
            raise ValidationError(f"{where}.answer: code is not an option value") from None
    if coding.system == LOINC:
        for it in inst.items:
            for o in it.options:
                if o.loinc and o.loinc == coding.code:
                    return o.value
    raise ValidationError(f"{where}.answer: unknown answer code system or code")


def _check_observation(obs: Any, by_ref: Mapping[str, AssessmentRecord]) -> None:
    where = f"Observation/{obs.id or '?'}"
    refs = [r.reference for r in obs.derivedFrom or [] if r.reference in by_ref]
    if not refs:
        return  # not one of ours: informational, nothing to check
    rec = by_ref[refs[0]]
    res = rec.result
    if obs.valueInteger is not None and obs.valueInteger != res.total:
        raise ValidationError(f"{where}.valueInteger: does not match the recomputed total")
    if obs.valueInteger is None and res.total is not None:
        raise ValidationError(f"{where}: total score missing")
    for comp in obs.component or []:
        codes = {c.code for c in comp.code.coding or [] if c.system == SCORE_SYSTEM}
        if f"{res.instrument_id}.band" in codes:
            concept = comp.valueCodeableConcept
            got = {c.code for c in (concept.coding or [] if concept is not None else [])}
            if res.band.code not in got:
                raise ValidationError(f"{where}.component: band does not match the recomputed band")
