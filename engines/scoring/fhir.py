"""FHIR exchange of assessments: export a patient's results as a Bundle, import one back.

Uses ``fhir.resources.R4B`` (FHIR 4.3.0): the installed fhir.resources 8 ships R5 by default plus
R4B and STU3, with no separate R4 package. Questionnaire, QuestionnaireResponse, Observation and
Bundle have the same R4 structure for every element used here, so the JSON is valid R4.

Export: one Questionnaire per instrument used, one QuestionnaireResponse per administration, one
Observation per administration (total with its LOINC code where one exists, band and subscales
as components, derivedFrom the response). Import: the Bundle is validated with the FHIR model,
every response is re-scored with the local instrument definition, and Observations that
disagree with the recomputed score are rejected. Any problem raises InputError and nothing
is returned.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import pydantic
from fhir.resources.R4B.bundle import Bundle, BundleEntry

from engines.errors import InputError
from engines.scoring.conditions import Leaf
from engines.scoring.definitions import Instrument, builtin_instruments
from engines.scoring.engine import ScoreResult, score
from engines.scoring.json_stream import (
    Event,
    JsonLimitError,
    JsonLimits,
    iter_object,
    scan_limits,
)

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
        raise InputError(f"FHIR export: id '{raw}' is not a valid FHIR id")
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


def questionnaire_response(rec: AssessmentRecord, inst: Instrument) -> dict[str, Any]:
    """One administration as a QuestionnaireResponse (answers as the instrument's codings,
    scoring parameters as extensions), as the export writes it; not validated here (the export
    validates its whole Bundle, a caller building one resource validates that)."""
    res = rec.result
    if res.instrument_id != inst.id:
        raise InputError(f"FHIR export: a {res.instrument_id} result is not a {inst.id} response")
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
        raise InputError("FHIR export: records of more than one patient")
    entries: list[dict[str, Any]] = []
    used: dict[str, Instrument] = {}
    for rec in records:
        inst = instruments.get(rec.result.instrument_id)
        if inst is None:
            raise InputError(f"FHIR export: unknown instrument '{rec.result.instrument_id}'")
        used.setdefault(inst.id, inst)
    for inst in used.values():
        entries.append(
            {"fullUrl": _full_url("Questionnaire", inst.id), "resource": questionnaire(inst)}
        )
    for rec in records:
        inst = used[rec.result.instrument_id]
        qr_url = _full_url("QuestionnaireResponse", rec.assessment_id)
        entries.append({"fullUrl": qr_url, "resource": questionnaire_response(rec, inst)})
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
        raise InputError("FHIR bundle: top-level resourceType must be 'Bundle'")
    try:
        return Bundle.model_validate(doc)
    except pydantic.ValidationError as exc:
        raise InputError("FHIR bundle: invalid: " + _problems(exc, "")) from None
    except _MODEL_ERRORS as exc:
        raise InputError(f"FHIR bundle: invalid: {type(exc).__name__}") from None


@dataclass(frozen=True)
class BundleLimits:
    """What an imported Bundle may hold: the one place the FHIR importer's limits live.

    - ``max_bytes`` of file (streamed: memory does not grow with it), ``max_depth`` of JSON
      nesting (our own export nests 9 deep), ``max_values`` JSON values in all;
    - at most ``max_entries`` entries and ``max_items`` items per response;
    - ``authored`` from ``earliest`` to now + ``future_slack`` (a clock set to 0001 or 2999 is
      a broken file, not an administration).
    """

    max_bytes: int = 128 * 1024 * 1024
    max_depth: int = 32
    max_values: int = 20_000_000
    max_entries: int = 100_000
    max_items: int = 500
    earliest: datetime = datetime(1900, 1, 1, tzinfo=UTC)
    future_slack: timedelta = timedelta(days=1)

    def json_limits(self) -> JsonLimits:
        """The raw-JSON part, checked before anything is parsed."""
        return JsonLimits(self.max_bytes, self.max_depth, self.max_values)

    def check_time(self, when: datetime, where: str, now: datetime | None = None) -> datetime:
        """``when`` in UTC if it is plausible; InputError (never OverflowError) if not."""
        latest = (now or datetime.now(UTC)) + self.future_slack
        try:
            utc = when.astimezone(UTC)
        except (OverflowError, ValueError):
            utc = None
        if utc is None or not self.earliest <= utc <= latest:
            raise InputError(
                f"{where}: date-time outside {self.earliest:%Y-%m-%d}..now+"
                f"{self.future_slack.days}d"
            )
        return when


BUNDLE_LIMITS = BundleLimits()


def import_bundle(
    data: str | bytes | Mapping[str, Any] | BinaryIO,
    *,
    instruments: Mapping[str, Instrument] | None = None,
    limits: BundleLimits = BUNDLE_LIMITS,
) -> tuple[AssessmentRecord, ...]:
    """Validate a Bundle and return its assessments re-scored locally; all or nothing.

    Text, bytes and files are checked against ``limits`` on the raw bytes first, then read one
    entry at a time (streaming), so neither deep nesting nor a large file can exhaust the stack
    or memory. Every entry is validated before anything is returned.
    """
    instruments = instruments or builtin_instruments()
    if isinstance(data, Mapping):
        entries = data.get("entry")
        header = {k: v for k, v in data.items() if k != "entry"}
        events: Iterable[Event] = [("field", k, v) for k, v in header.items()]
        if isinstance(entries, list):
            events = [*events, *(("item", "entry", e) for e in entries)]
        elif "entry" in data:
            events = [*events, ("field", "entry", entries)]
        return _import_events(events, instruments, limits)
    fh: BinaryIO = (
        io.BytesIO(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        if (isinstance(data, str | bytes))
        else data
    )
    try:
        start = fh.tell()
        scan_limits(fh, limits.json_limits())
        fh.seek(start)
        with contextlib.closing(iter_object(fh, "entry")) as events:
            return _import_events(events, instruments, limits)
    except JsonLimitError as exc:
        raise InputError(f"FHIR bundle: {exc}") from None


class _Bundle:
    """What streaming collects: records, their references, and Observations to check."""

    def __init__(self) -> None:
        self.records: list[AssessmentRecord] = []
        self.by_ref: dict[str, AssessmentRecord] = {}
        self.patients: set[str] = set()
        self.seen_ids: set[str] = set()
        self.observations: list[_ObsSummary] = []


@dataclass(frozen=True)
class _ObsSummary:
    where: str
    refs: tuple[str, ...]
    value: int | None
    band_codes: tuple[frozenset[str], ...]
    instrument_ids: tuple[frozenset[str], ...]


def _import_events(
    events: Iterable[Event], instruments: Mapping[str, Instrument], limits: BundleLimits
) -> tuple[AssessmentRecord, ...]:
    header: dict[str, Any] = {}
    acc = _Bundle()
    n = 0
    for kind, key, value in events:
        if kind == "field":
            if key == "resourceType" and value != "Bundle":
                raise InputError("FHIR bundle: top-level resourceType must be 'Bundle'")
            header[key] = value
            continue
        if n >= limits.max_entries:
            raise InputError(f"FHIR bundle: more than {limits.max_entries:,} entries")
        _read_entry(value, n, acc, instruments, limits)
        n += 1
    if header.get("resourceType") != "Bundle":
        raise InputError("FHIR bundle: top-level resourceType must be 'Bundle'")
    _validate_model(header)  # the Bundle's own fields (type, timestamp, ...)
    if len(acc.patients) > 1:
        raise InputError("FHIR bundle: responses belong to more than one patient")
    for obs in acc.observations:
        _check_observation(obs, acc.by_ref)
    return tuple(acc.records)


def _read_entry(
    raw: Any,  # noqa: ANN401 — decoded JSON
    index: int,
    acc: _Bundle,
    instruments: Mapping[str, Instrument],
    limits: BundleLimits,
) -> None:
    where = f"entry.{index}"
    if not isinstance(raw, dict):
        raise InputError(f"FHIR bundle: invalid: {where}: must be an object")
    resource = raw.get("resource")
    if isinstance(resource, dict) and resource.get("resourceType") == "QuestionnaireResponse":
        _check_raw_response(resource, f"{where}.resource", limits)
    try:
        entry = BundleEntry.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise InputError("FHIR bundle: invalid: " + _problems(exc, where)) from None
    except _MODEL_ERRORS as exc:
        raise InputError(f"FHIR bundle: invalid: {where}: {type(exc).__name__}") from None
    res = entry.resource
    if res is None:
        return
    kind = res.get_resource_type()
    if kind == "QuestionnaireResponse":
        rec = _read_response(res, instruments, limits)
        if rec.assessment_id in acc.seen_ids:
            raise InputError(
                f"FHIR bundle: QuestionnaireResponse/{rec.assessment_id} appears twice"
            )
        acc.seen_ids.add(rec.assessment_id)
        acc.patients.add(rec.patient_id)
        acc.records.append(rec)
        for ref in (entry.fullUrl, f"QuestionnaireResponse/{rec.assessment_id}"):
            if ref:
                acc.by_ref[ref] = rec
    elif kind == "Observation":
        acc.observations.append(_summarise_observation(res))


# What fhir.resources may raise besides pydantic's ValidationError on hostile input (e.g. a
# KeyError for a resourceType it cannot look up).
_MODEL_ERRORS = (ValueError, TypeError, LookupError, AttributeError, OverflowError, RecursionError)
_ANSWER_TYPES = {"valueInteger", "valueCoding"}


def _check_raw_response(qr: dict[str, Any], where: str, limits: BundleLimits) -> None:
    """Type checks the FHIR model would coerce away ("3" and true as integers, numbers as
    dates): every answer is checked against what a choice item of an instrument can hold."""
    if "authored" in qr and not isinstance(qr["authored"], str):
        raise InputError(f"FHIR bundle: invalid: {where}.authored: must be a date-time string")
    items = qr.get("item")
    if not isinstance(items, list):
        return  # absent or malformed: the model reports it
    if len(items) > limits.max_items:
        raise InputError(f"FHIR bundle: {where}.item: more than {limits.max_items} items")
    for i, item in enumerate(items):
        answers = item.get("answer") if isinstance(item, dict) else None
        for j, ans in enumerate(answers if isinstance(answers, list) else []):
            at = f"{where}.item.{i}.answer.{j}"
            if not isinstance(ans, dict):
                continue
            kinds = [k for k in ans if k.startswith("value")]
            bad = [k for k in kinds if k not in _ANSWER_TYPES]
            if bad:
                raise InputError(
                    f"FHIR bundle: invalid: {at}: {_safe_key(bad[0])} is not an answer type of "
                    "a choice item (valueCoding or valueInteger)"
                )
            if "valueInteger" in ans and (
                isinstance(ans["valueInteger"], bool) or not isinstance(ans["valueInteger"], int)
            ):
                raise InputError(f"FHIR bundle: invalid: {at}.valueInteger: must be an integer")
            coding = ans.get("valueCoding")
            if (
                isinstance(coding, dict)
                and "code" in coding
                and not isinstance(coding["code"], str)
            ):
                raise InputError(f"FHIR bundle: invalid: {at}.valueCoding.code: must be a string")
    exts = qr.get("extension")
    for i, ext in enumerate(exts if isinstance(exts, list) else []):
        parts = ext.get("extension") if isinstance(ext, dict) else None
        for part in parts if isinstance(parts, list) else []:
            dec = part.get("valueDecimal") if isinstance(part, dict) else None
            if dec is not None and not _finite_number(dec):
                raise InputError(
                    f"FHIR bundle: invalid: {where}.extension.{i}: valueDecimal: not finite"
                )


def _finite_number(value: Any) -> bool:  # noqa: ANN401 — decoded JSON
    """A JSON number that is not bool, NaN or infinite (big ints are finite: no float())."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


_FHIR_ANSWER_TYPES = frozenset(
    f"value{t}"
    for t in (
        "Boolean Decimal Integer Date DateTime Time String Uri Attachment Coding Quantity Reference"
    ).split()
)


def _safe_key(key: str) -> str:
    """A field name fit for a message: only FHIR's own answer type names are repeated."""
    return key if key in _FHIR_ANSWER_TYPES else "(unknown field)"


def _problems(exc: pydantic.ValidationError, prefix: str) -> str:
    """Locations and messages only: the offending values may be clinical content."""
    problems = [f"{prefix}.{_where(e)}" if prefix else _where(e) for e in exc.errors()[:5]]
    problems = [f"{p}: {e['msg']}" for p, e in zip(problems, exc.errors()[:5], strict=False)]
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(problems) + more


def _read_response(
    qr: Any,  # noqa: ANN401 — a fhir.resources QuestionnaireResponse
    instruments: Mapping[str, Instrument],
    limits: BundleLimits = BUNDLE_LIMITS,
) -> AssessmentRecord:
    where = f"QuestionnaireResponse/{qr.id or '?'}"
    if not qr.id:
        raise InputError(f"{where}: id is required")
    if qr.status != "completed":
        raise InputError(f"{where}.status: must be 'completed'")
    canonical = qr.questionnaire or ""
    url, _, version = canonical.partition("|")
    if not url.startswith(URL_PREFIX) or url[len(URL_PREFIX) :] not in instruments:
        raise InputError(f"{where}.questionnaire: unknown questionnaire")
    inst = instruments[url[len(URL_PREFIX) :]]
    if version and version != inst.version:
        raise InputError(
            f"{where}.questionnaire: version {version} does not match local {inst.version}"
        )
    ref = qr.subject.reference if qr.subject is not None else None
    if not ref or not ref.startswith("Patient/") or len(ref) <= len("Patient/"):
        raise InputError(f"{where}.subject: must reference Patient/<id>")
    if qr.authored is None:
        raise InputError(f"{where}.authored: is required")
    authored = qr.authored
    if not isinstance(authored, datetime) or authored.tzinfo is None:
        raise InputError(f"{where}.authored: must be a date-time with a time zone")
    limits.check_time(authored, f"{where}.authored")

    answers: dict[str, int] = {}
    known = {it.id for it in inst.items}
    for i, item in enumerate(qr.item or []):
        link = item.linkId
        if link not in known:  # named by position only: the text is the file's, not ours
            raise InputError(f"{where}.item[{i}]: linkId is not an item of {inst.id}")
        if link in answers:
            raise InputError(f"{where}.item[{i}]: linkId '{link}' appears twice")
        if item.item:
            raise InputError(f"{where}.item[{i}]: nested items are not supported")
        if not item.answer:
            continue
        if len(item.answer) != 1:
            raise InputError(f"{where}.item[{i}]: exactly one answer expected")
        answers[link] = _answer_value(item.answer[0], inst, f"{where}.item[{i}]")

    params: dict[str, float] = {}
    for ext in qr.extension or []:
        if ext.url != PARAM_EXT:
            continue
        parts = {e.url: e for e in ext.extension or []}
        if "name" not in parts or "value" not in parts or parts["value"].valueDecimal is None:
            raise InputError(f"{where}.extension: scoring-parameter needs name and value")
        value = float(parts["value"].valueDecimal)
        if not math.isfinite(value):
            raise InputError(f"{where}.extension: scoring-parameter must be finite")
        params[parts["name"].valueString] = value
    try:
        result = score(inst, answers, params)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return AssessmentRecord(qr.id, ref[len("Patient/") :], authored, result)


def _answer_value(answer: Any, inst: Instrument, where: str) -> int:
    if answer.valueInteger is not None:
        return int(answer.valueInteger)
    coding = answer.valueCoding
    if coding is None:
        raise InputError(f"{where}.answer: valueCoding or valueInteger required")
    if coding.system == _answer_system(inst):
        try:
            return int(coding.code)
        except (TypeError, ValueError):
            raise InputError(f"{where}.answer: code is not an option value") from None
    if coding.system == LOINC:
        for it in inst.items:
            for o in it.options:
                if o.loinc and o.loinc == coding.code:
                    return o.value
    raise InputError(f"{where}.answer: unknown answer code system or code")


def _summarise_observation(obs: Any) -> _ObsSummary:  # noqa: ANN401 — an Observation
    """What the end-of-bundle check needs from an Observation (kept small while streaming)."""
    bands: list[frozenset[str]] = []
    insts: list[frozenset[str]] = []
    for comp in obs.component or []:
        codes = {c.code for c in comp.code.coding or [] if c.system == SCORE_SYSTEM}
        concept = comp.valueCodeableConcept
        insts.append(frozenset(c for c in codes if c))
        bands.append(frozenset(c.code for c in (concept.coding or [] if concept else []) if c.code))
    return _ObsSummary(
        where=f"Observation/{obs.id or '?'}",
        refs=tuple(r.reference for r in obs.derivedFrom or [] if r.reference),
        value=obs.valueInteger,
        band_codes=tuple(bands),
        instrument_ids=tuple(insts),
    )


def _check_observation(obs: _ObsSummary, by_ref: Mapping[str, AssessmentRecord]) -> None:
    where = obs.where
    refs = [r for r in obs.refs if r in by_ref]
    if not refs:
        return  # not one of ours: informational, nothing to check
    res = by_ref[refs[0]].result
    if obs.value is not None and obs.value != res.total:
        raise InputError(f"{where}.valueInteger: does not match the recomputed total")
    if obs.value is None and res.total is not None:
        raise InputError(f"{where}: total score missing")
    for codes, got in zip(obs.instrument_ids, obs.band_codes, strict=True):
        if f"{res.instrument_id}.band" in codes and res.band.code not in got:
            raise InputError(f"{where}.component: band does not match the recomputed band")
