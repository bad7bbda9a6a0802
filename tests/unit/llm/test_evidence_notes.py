from __future__ import annotations

import json

import pytest

from app.core.events import NLPAnalysisCompleted
from app.services.engine_events import analysis_completed_event
from engines.errors import InputError
from engines.llm.evidence import EvidenceIndex, verify_quote
from engines.llm.notes import NOTE_SCHEMA_JSON, parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance

NOTE = (
    "Pt reports   low mood for three months.\nShe says she has thought about\nending her life "
    "but has no plan. Her sister visits daily — she enjoys painting."
)
PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)


def test_quotes_verbatim_modulo_whitespace_case_and_punctuation():
    idx = EvidenceIndex(NOTE)
    ok = idx.check("thought about ending her LIFE")
    assert ok.verified
    assert NOTE[ok.start : ok.end] == "thought about\nending her life"
    assert idx.check('"Her sister visits daily - she enjoys painting."').verified
    assert not idx.check("she has a detailed suicide plan").verified
    assert not idx.check("low mood for four months").verified
    assert not idx.check("no").verified  # too short to count as evidence
    assert not verify_quote(NOTE, "").verified


def _result(payload, stop="stop"):
    return GenerationResult(
        "t1", json.dumps(payload), 10, 50, 0.1, 1.0, stop, LoadParams(), GenParams()
    )


def test_fabricated_quotes_are_rejected_and_findings_marked():
    payload = {
        "summary": "Low mood with passive suicidal thoughts.",
        "risk_level": "moderate",
        "conditions": [
            {
                "name": "depression",
                "confidence": "moderate",
                "evidence": ["low mood for three months"],
            },
            {"name": "psychosis", "confidence": "low", "evidence": ["hears voices at night"]},
        ],
        "risk_factors": [
            {
                "factor": "suicidal thoughts",
                "evidence": ["thought about ending her life", "bought a rope"],
            }
        ],
        "protective_factors": [
            {"factor": "family support", "evidence": ["Her sister visits daily"]}
        ],
    }
    a = parse_note_analysis("note-1", NOTE, _result(payload), PROV)
    assert [f.label for f in a.verified_findings] == [
        "depression",
        "suicidal thoughts",
        "family support",
    ]
    assert [f.label for f in a.unverified_findings] == ["psychosis"]
    assert set(a.rejected_quotes) == {"hears voices at night", "bought a rope"}
    risk = a.findings[2]
    assert [e.verified for e in risk.evidence] == [True, False]
    ev = analysis_completed_event(a, patient_id="p-1")
    assert isinstance(ev, NLPAnalysisCompleted)
    assert (ev.note_id, ev.model_sha256, ev.analysis_id) == ("note-1", PROV.sha256, a.analysis_id)
    assert "hears" not in json.dumps(ev.payload())  # no note text in the event


def test_invalid_outputs_rejected():
    with pytest.raises(InputError, match="invalid JSON"):
        parse_note_analysis(
            "n",
            NOTE,
            GenerationResult("t", '{"summary": ', 1, 1, 0, 0, "length", LoadParams(), GenParams()),
            PROV,
        )
    bad = {
        "summary": "x",
        "risk_level": "extreme",
        "conditions": [],
        "risk_factors": [],
        "protective_factors": [],
    }
    with pytest.raises(InputError, match="risk_level"):
        parse_note_analysis("n", NOTE, _result(bad), PROV)
    with pytest.raises(InputError, match="cancelled"):
        parse_note_analysis("n", NOTE, _result(bad, stop="cancelled"), PROV)


def test_schema_compiles_to_a_llama_grammar():
    from llama_cpp import LlamaGrammar

    g = LlamaGrammar.from_json_schema(NOTE_SCHEMA_JSON, verbose=False)
    assert "risk-level" in g._grammar or "risk_level" in g._grammar
