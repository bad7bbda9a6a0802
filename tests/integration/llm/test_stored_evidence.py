"""Stored analyses are shown under today's evidence rules: the service re-checks every stored
quote against the note, so an analysis stored under the older, looser rules (any one quote of
four characters made a finding verified) is never shown as more verified than it is."""

from __future__ import annotations

import json

from app.core.domain import Role
from app.core.store.models import NlpAnalysis
from app.services import nlp, notes
from app.services.context import AppContext
from engines.llm.evidence import REASON_NOT_FOUND, REASON_TOO_SHORT
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance

NOTE = (
    "Patient reports low mood for six weeks. Lost job in March. Poor sleep. "
    "Sister visits daily and is supportive."
)
PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)
OUTPUT = {
    "summary": "Low mood after job loss.",
    "risk_level": "moderate",
    "conditions": [
        {"name": "depression", "confidence": "moderate", "evidence": ["low mood for six weeks"]}
    ],
    "risk_factors": [
        {"factor": "job loss", "evidence": ["Lost job in March", "drinks heavily at weekends"]},
        {"factor": "insomnia", "evidence": ["Poor sleep"]},
    ],
    "protective_factors": [
        {"factor": "family support", "evidence": ["Sister visits daily and is supportive"]}
    ],
}


def _store(ctx: AppContext, clinic: dict) -> tuple[str, str]:
    me = clinic["users"][Role.CLINICIAN]
    note = notes.sign(ctx, me, notes.create_draft(ctx, me, clinic["mine"], "Review", NOTE).id)
    result = GenerationResult(
        "t", json.dumps(OUTPUT), 0, 90, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    analysis = parse_note_analysis(note.id, NOTE, result, PROV)
    return note.id, nlp.store_analysis(ctx, me, clinic["mine"], analysis)


def test_new_analysis_stores_finding_status_and_backing(ctx: AppContext, clinic: dict) -> None:
    note_id, _ = _store(ctx, clinic)
    me = clinic["users"][Role.CLINICIAN]
    (stored,) = nlp.analyses_for_note(ctx, me, note_id)
    r = stored.result
    assert [f["verified"] for f in r["findings"]] == [True, False, False, True]
    assert r["findings"][1]["reason"] == f"“drinks heavily at weekends”: {REASON_NOT_FOUND}"
    assert r["findings"][2]["reason"] == f"“Poor sleep”: {REASON_TOO_SHORT}"
    assert (r["verified_findings"], r["unverified_findings"]) == (2, 2)
    assert r["risk_level_backed"] is True and r["risk_level_backing"] == [0]
    assert r["summary_backed"] is False


def test_old_stored_analysis_is_rechecked_on_display(ctx: AppContext, clinic: dict) -> None:
    note_id, analysis_id = _store(ctx, clinic)
    me = clinic["users"][Role.CLINICIAN]

    def make_old(session) -> None:  # what the older rules stored: any quote, 4 characters
        row = session.get(NlpAnalysis, analysis_id)
        data = json.loads(row.result_json)
        for f in data["findings"]:
            for e in f["evidence"]:
                e.pop("reason", None)
                e["verified"] = e["quote"] != "drinks heavily at weekends"
            f.pop("verified")
            f.pop("reason")
        data["findings"][0]["evidence"] = [
            {"quote": "mood", "verified": True, "start": 20, "end": 24}
        ]
        for key in ("risk_level_backed", "risk_level_backing", "summary_backed"):
            data.pop(key)
        data["verified_findings"], data["unverified_findings"] = 4, 0
        row.result_json = json.dumps(data)

    ctx.store.write(lambda uow: make_old(uow.session))
    (stored,) = nlp.analyses_for_note(ctx, me, note_id)
    r = stored.result
    # "mood" (4 characters), "Poor sleep" (2 words) and the half-fabricated job loss fail now
    assert [f["verified"] for f in r["findings"]] == [False, False, False, True]
    assert r["findings"][0]["evidence"][0] == {
        "quote": "mood",
        "verified": False,
        "start": -1,
        "end": -1,
        "reason": REASON_TOO_SHORT,
    }
    assert (r["verified_findings"], r["unverified_findings"]) == (1, 3)
    # only a protective factor is left verified: the risk level is unverified model text
    assert r["risk_level_backed"] is False and r["risk_level_backing"] == []
    assert r["summary_backed"] is False
    assert set(r["rejected_quotes"]) == {"mood", "drinks heavily at weekends", "Poor sleep"}
    # the verified quote keeps its span over the note text
    e = r["findings"][3]["evidence"][0]
    assert NOTE[e["start"] : e["end"]] == "Sister visits daily and is supportive"
