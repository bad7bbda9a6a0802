"""Structured clinical-note analysis: JSON schema, prompt, and evidence-checked parsing.

The schema is enforced during sampling by llama.cpp's grammar (compiled from the JSON schema),
so the model cannot emit anything but schema-shaped JSON; strings and arrays are bounded so the
output always terminates within `max_tokens`. After generation, the JSON is validated again
(defence in depth) and every evidence quote is checked verbatim against the note; a finding is
verified only when all its quotes are (see engines.llm.evidence and results.Finding).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from engines.errors import InputError
from engines.llm.evidence import EvidenceIndex
from engines.llm.results import (
    EvidenceQuote,
    Finding,
    GenerationResult,
    GenParams,
    ModelProvenance,
    NoteAnalysis,
    Task,
)
from engines.llm.worker import new_task

RISK_LEVELS = ("none", "low", "moderate", "high", "imminent")
CONFIDENCE = ("low", "moderate", "high")
MAX_QUOTE = 160


def _quotes() -> dict[str, Any]:
    return {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": MAX_QUOTE},
        "minItems": 1,
        "maxItems": 2,
    }


def _factor(label_key: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            label_key: {"type": "string", "minLength": 1, "maxLength": 60},
            "evidence": _quotes(),
        },
        "required": [label_key, "evidence"],
        "additionalProperties": False,
    }


NOTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": 300},
        "risk_level": {"enum": list(RISK_LEVELS)},
        "conditions": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 60},
                    "confidence": {"enum": list(CONFIDENCE)},
                    "evidence": _quotes(),
                },
                "required": ["name", "confidence", "evidence"],
                "additionalProperties": False,
            },
        },
        "risk_factors": {"type": "array", "maxItems": 3, "items": _factor("factor")},
        "protective_factors": {"type": "array", "maxItems": 3, "items": _factor("factor")},
    },
    "required": ["summary", "risk_level", "conditions", "risk_factors", "protective_factors"],
    "additionalProperties": False,
}
NOTE_SCHEMA_JSON = json.dumps(NOTE_SCHEMA, separators=(",", ":"))

SYSTEM_PROMPT = (
    "You are a careful psychiatric documentation assistant. Read the clinical note and return "
    "JSON only. List possible conditions with your confidence, the suicide/violence risk level, "
    "risk factors and protective factors. For every item give evidence: short quotes copied "
    "exactly, word for word, from the note. Never invent or paraphrase a quote. Keep the "
    "summary to two sentences."
)


def note_task(note: str, params: GenParams | None = None) -> Task:
    """The request for a structured analysis of one note (schema-constrained)."""
    p = params or GenParams(max_tokens=1024, temperature=0.0)
    return new_task(
        [("system", SYSTEM_PROMPT), ("user", f"Clinical note:\n{note}")],
        json_schema=NOTE_SCHEMA_JSON,
        params=p,
    )


def _require(cond: bool, where: str, problem: str) -> None:
    if not cond:
        raise InputError(f"model output: field {where!r}: {problem}")


def validate_output(data: Any) -> dict[str, Any]:  # noqa: ANN401
    """Check decoded model JSON against NOTE_SCHEMA (types, enums, bounds, required keys)."""
    _require(isinstance(data, dict), "$", "not an object")
    _require(set(data) == set(NOTE_SCHEMA["required"]), "$", "wrong set of keys")
    _require(
        isinstance(data["summary"], str) and 0 < len(data["summary"]) <= 300,
        "summary",
        "not a string of 1-300 characters",
    )
    _require(data["risk_level"] in RISK_LEVELS, "risk_level", "not a known level")

    def quotes(items: Any, where: str) -> None:  # noqa: ANN401
        _require(isinstance(items, list) and 1 <= len(items) <= 2, where, "needs 1-2 quotes")
        for q in items:
            _require(isinstance(q, str) and 0 < len(q) <= MAX_QUOTE, where, "bad quote")

    _require(
        isinstance(data["conditions"], list) and len(data["conditions"]) <= 3,
        "conditions",
        "not a list of at most 3",
    )
    for i, c in enumerate(data["conditions"]):
        w = f"conditions[{i}]"
        _require(isinstance(c, dict) and set(c) == {"name", "confidence", "evidence"}, w, "keys")
        _require(isinstance(c["name"], str) and 0 < len(c["name"]) <= 60, w, "bad name")
        _require(c["confidence"] in CONFIDENCE, w, "bad confidence")
        quotes(c["evidence"], w)
    for key in ("risk_factors", "protective_factors"):
        _require(isinstance(data[key], list) and len(data[key]) <= 3, key, "not a list")
        for i, f in enumerate(data[key]):
            w = f"{key}[{i}]"
            _require(isinstance(f, dict) and set(f) == {"factor", "evidence"}, w, "keys")
            _require(isinstance(f["factor"], str) and 0 < len(f["factor"]) <= 60, w, "factor")
            quotes(f["evidence"], w)
    return data


def parse_note_analysis(
    note_id: str,
    note: str,
    result: GenerationResult,
    model: ModelProvenance,
    analysis_id: str | None = None,
) -> NoteAnalysis:
    """Decode, validate and evidence-check a generation; InputError if not schema-valid."""
    if result.stop_reason == "cancelled":
        raise InputError(f"analysis of note {note_id} was cancelled")
    try:
        data = json.loads(result.text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"model output for note {note_id}: invalid JSON at character {exc.pos} "
            f"(stop reason: {result.stop_reason})"
        ) from None
    validate_output(data)
    index = EvidenceIndex(note)
    findings: list[Finding] = []
    rejected: list[str] = []

    def evidence(quotes: list[str]) -> tuple[EvidenceQuote, ...]:
        out = []
        for q in quotes:
            chk = index.check(q)
            if not chk.verified:
                rejected.append(q)
            out.append(EvidenceQuote(q, chk.verified, chk.start, chk.end, chk.reason))
        return tuple(out)

    for c in data["conditions"]:
        findings.append(Finding("condition", c["name"], c["confidence"], evidence(c["evidence"])))
    for f in data["risk_factors"]:
        findings.append(Finding("risk_factor", f["factor"], "", evidence(f["evidence"])))
    for f in data["protective_factors"]:
        findings.append(Finding("protective_factor", f["factor"], "", evidence(f["evidence"])))
    return NoteAnalysis(
        analysis_id=analysis_id or uuid.uuid4().hex,
        note_id=note_id,
        summary=data["summary"],
        risk_level=data["risk_level"],
        findings=tuple(findings),
        rejected_quotes=tuple(rejected),
        model=model,
        load=result.load,
        params=result.params,
        n_tokens=result.n_tokens,
        elapsed_s=result.elapsed_s,
    )
