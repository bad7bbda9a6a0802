"""One example note and one hand-written model answer (one fabricated quote) for the note-analysis
panel's tests and its documentation screenshots: run through the real evidence check, it yields
verified findings, a suggestion and highlights. It is stored under the placeholder identity
`nlp_session.ILLUSTRATIVE_MODEL` (no model hash), never under the installed model's name, so
the panel labels it "illustrative example — not model output"."""

from __future__ import annotations

import dataclasses
import json

from app.core.domain import Principal
from app.services import nlp, nlp_session
from app.services.context import AppContext
from engines.llm.results import GenerationResult, GenParams, LoadParams

NOTE = (
    "Patient reports low mood for six weeks and early morning waking. Sleeping about four "
    "hours a night. Lost job in March. Denies thoughts of self-harm. Sister visits daily and "
    "is supportive. Enjoys walking the dog."
)

OUTPUT = {
    "summary": "Low mood with insomnia after job loss; supportive family.",
    "risk_level": "moderate",
    "conditions": [
        {
            "name": "depressive episode",
            "confidence": "moderate",
            "evidence": ["low mood for six weeks"],
        },
    ],
    "risk_factors": [
        {"factor": "job loss", "evidence": ["Lost job in March"]},
        {"factor": "alcohol use", "evidence": ["drinks heavily at weekends"]},
    ],
    "protective_factors": [
        {"factor": "family support", "evidence": ["Sister visits daily and is supportive"]},
    ],
}


def store_example(
    ctx: AppContext, me: Principal, analyser: nlp.NoteAnalyser, pid: str, note_id: str
) -> str:
    """Check the example answer against NOTE with the real evidence check and store it under
    the illustrative placeholder identity; returns the analysis id."""
    result = GenerationResult(
        "t", json.dumps(OUTPUT), 0, 0, 0.0, 0.0, "stop", LoadParams(), GenParams()
    )
    checked = nlp_session.finish_analysis(analyser, note_id, NOTE, result)
    analysis = dataclasses.replace(checked, model=nlp_session.ILLUSTRATIVE_MODEL)
    return nlp.store_analysis(ctx, me, pid, analysis)
