from __future__ import annotations

import json

import pytest

from app.core.events import NLPAnalysisCompleted
from app.services.engine_events import analysis_completed_event
from engines.errors import InputError
from engines.llm.evidence import REASON_NOT_FOUND, REASON_TOO_SHORT, EvidenceIndex, verify_quote
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
    assert idx.check("no").reason == REASON_TOO_SHORT
    assert idx.check("low mood for four months").reason == REASON_NOT_FOUND
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
    assert [f.label for f in a.verified_findings] == ["depression", "family support"]
    # one fabricated quote of two is enough to make the finding a suggestion
    assert [f.label for f in a.unverified_findings] == ["psychosis", "suicidal thoughts"]
    assert set(a.rejected_quotes) == {"hears voices at night", "bought a rope"}
    risk = a.findings[2]
    assert [e.verified for e in risk.evidence] == [True, False]
    assert risk.reason == f"“bought a rope”: {REASON_NOT_FOUND}"
    assert a.findings[0].reason == ""
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


CLAUSE_NOTE = (
    "Poor sleep since spring. Persistent insomnia and persistent anhedonia reported. "
    "Intermittent hallucinations at dusk. Low mood daily."
)


def _finding_with(*quotes):
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [{"name": "x", "confidence": "low", "evidence": list(quotes)}],
        "risk_factors": [],
        "protective_factors": [],
    }
    (f,) = parse_note_analysis("n", CLAUSE_NOTE, _result(payload), PROV).findings
    return f


def test_every_quote_must_be_verbatim():
    assert _finding_with("Low mood daily", "Intermittent hallucinations at dusk").verified
    mixed = _finding_with("Low mood daily", "hears voices every night")
    assert not mixed.verified
    assert [e.verified for e in mixed.evidence] == [True, False]
    assert mixed.reason == f"“hears voices every night”: {REASON_NOT_FOUND}"


def test_a_two_word_ten_character_quote_is_refused_though_in_the_note():
    chk = EvidenceIndex(CLAUSE_NOTE).check("poor sleep")
    assert "poor sleep" in CLAUSE_NOTE.lower()
    assert not chk.verified and chk.reason == REASON_TOO_SHORT and chk.start == -1
    f = _finding_with("poor sleep")
    assert not f.verified and f.reason == f"“poor sleep”: {REASON_TOO_SHORT}"
    # a short fragment beside a good quote still makes the finding a suggestion
    assert not _finding_with("Low mood daily", '"Poor sleep."').verified


def test_a_three_word_quote_is_accepted():
    chk = EvidenceIndex(CLAUSE_NOTE).check("low mood daily")  # 3 words, 14 characters
    assert chk.verified and CLAUSE_NOTE[chk.start : chk.end] == "Low mood daily"


def test_a_two_word_quote_of_twenty_characters_is_accepted():
    idx = EvidenceIndex(CLAUSE_NOTE)
    assert idx.check("intermittent hallucinations").verified  # 2 words, 27 characters
    assert idx.check("persistent anhedonia").verified  # 2 words, exactly 20 characters
    short = idx.check("persistent insomnia")  # 2 words, 19 characters
    assert not short.verified and short.reason == REASON_TOO_SHORT
    # surrounding quotes and punctuation do not count towards the length
    assert not idx.check('"persistent insomnia."').verified


def _analysis(risk_level, conditions=(), risk_factors=(), protective=()):
    payload = {
        "summary": "Low mood; the model's own words.",
        "risk_level": risk_level,
        "conditions": [{"name": n, "confidence": "low", "evidence": [q]} for n, q in conditions],
        "risk_factors": [{"factor": n, "evidence": [q]} for n, q in risk_factors],
        "protective_factors": [{"factor": n, "evidence": [q]} for n, q in protective],
    }
    return parse_note_analysis("n", NOTE, _result(payload), PROV)


def test_summary_is_always_unverified_model_text():
    a = _analysis("moderate", conditions=[("depression", "low mood for three months")])
    assert a.verified_findings and a.summary_backed is False


def test_risk_level_backed_only_by_a_verified_risk_factor_or_condition():
    backed = _analysis(
        "moderate",
        conditions=[("psychosis", "hears voices at night")],
        risk_factors=[("suicidal thoughts", "thought about ending her life")],
    )
    assert backed.risk_level_backed and backed.risk_level_backing == (1,)
    # only fabricated risk evidence: the level is unverified model text
    fabricated = _analysis("high", risk_factors=[("plan", "she has bought a rope")])
    assert not fabricated.risk_level_backed and fabricated.risk_level_backing == ()
    # a verified protective factor does not back a risk level
    protective = _analysis("low", protective=[("family", "Her sister visits daily")])
    assert protective.verified_findings and not protective.risk_level_backed
    # "none" claims an absence, which no quote can show
    none = _analysis("none", conditions=[("depression", "low mood for three months")])
    assert none.verified_findings and not none.risk_level_backed
