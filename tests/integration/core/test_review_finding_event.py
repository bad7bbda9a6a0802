"""Reviewing a note finding is a change to the patient's data (issue 20, history follow-ups):
an accepted finding feeds the models' nlp_* inputs and the twin, so accepting or rejecting one
announces a PatientDataUpdated of record type "nlp" (the bus after commit, and the outbox that
sync reads); a refused review announces nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.errors import PermissionDeniedError
from app.core.events import Change, PatientDataUpdated
from app.core.store.models import OutboxEvent
from app.services import nlp, notes
from app.services.context import AppContext
from app.services.model_inputs import build_features
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance

PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)
NOTE = "She says she feels completely hopeless about the future and sleeps badly."


def _analysis(ctx: AppContext, me: Principal, pid: str) -> str:
    note = notes.create_draft(ctx, me, pid, "Review", NOTE)
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [],
        "risk_factors": [
            {"factor": "hopelessness", "evidence": ["feels completely hopeless about the future"]},
            {"factor": "poor sleep", "evidence": ["sleeps badly"]},
        ],
        "protective_factors": [],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    return nlp.store_analysis(ctx, me, pid, parse_note_analysis(note.id, NOTE, result, PROV))


def _nlp_outbox(ctx: AppContext) -> list[dict]:
    rows = ctx.store.read(lambda s: list(s.scalars(select(OutboxEvent.payload_json))))
    return [p for p in map(json.loads, rows) if p.get("record_type") == "nlp"]


def test_accepting_a_finding_announces_the_change(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    aid = _analysis(ctx, me, pid)
    seen: list[PatientDataUpdated] = []
    ctx.bus.subscribe(PatientDataUpdated, seen.append)
    before = ctx.store.read(lambda s: build_features(s, pid, datetime.now(UTC)))
    assert "nlp_hopelessness" not in before  # pending model output sets no input

    nlp.review_finding(ctx, me, aid, 0, accept=True)

    nlp_events = [e for e in seen if e.record_type == "nlp"]
    assert [(e.patient_id, e.record_id, e.change) for e in nlp_events] == [
        (pid, aid, Change.UPDATED)
    ]
    assert [(p["patient_id"], p["record_id"]) for p in _nlp_outbox(ctx)] == [(pid, aid)]
    # what the event announces is real: the accepted finding is now a model input
    after = ctx.store.read(lambda s: build_features(s, pid, datetime.now(UTC)))
    assert after["nlp_hopelessness"] == 1

    nlp.review_finding(ctx, me, aid, 1, accept=False, reason="not supported")  # a rejection too
    assert len([e for e in seen if e.record_type == "nlp"]) == 2


def test_a_refused_review_announces_nothing(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    aid = _analysis(ctx, me, pid)
    seen: list[PatientDataUpdated] = []
    ctx.bus.subscribe(PatientDataUpdated, seen.append)
    with pytest.raises(PermissionDeniedError):
        nlp.review_finding(ctx, clinic["other"], aid, 0, accept=True)
    assert [e for e in seen if e.record_type == "nlp"] == [] and _nlp_outbox(ctx) == []
