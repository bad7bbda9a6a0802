"""Note analysis through the service: real demo model, stored with provenance, audited review."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.errors import PermissionDeniedError
from app.core.events import NLPAnalysisCompleted
from app.core.store.models import AuditEvent
from app.services import nlp, notes
from app.services.context import AppContext
from engines.llm.results import GenParams
from tests.integration.llm.test_smollm import NOTE


def test_analyse_store_and_review(ctx: AppContext, clinic: dict, demo_model_dir) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, model_dirs=(demo_model_dir,))
    me = clinic["users"][Role.CLINICIAN]
    note = notes.create_draft(ctx, me, clinic["mine"], "Review", NOTE)
    notes.sign(ctx, me, note.id)
    events = []
    ctx.bus.subscribe(NLPAnalysisCompleted, events.append)
    analyser = nlp.NoteAnalyser(ctx.settings)
    tokens: list[str] = []
    try:
        stored_id, analysis = nlp.analyse_note(
            ctx,
            me,
            note.id,
            analyser,
            params=GenParams(max_tokens=768, temperature=0.0),
            on_token=tokens.append,
        )
    finally:
        analyser.close()
    assert tokens and events and events[0].analysis_id == stored_id
    assert analysis.model.sha256 == events[0].model_sha256
    (stored,) = nlp.analyses_for_note(ctx, me, note.id)
    assert stored.result["model"]["clinical_validity"] is False
    for finding in stored.result["findings"]:
        for quote in finding["evidence"]:
            if quote["verified"]:
                assert " ".join(quote["quote"].lower().split()).strip('". ') in NOTE.lower()
    if stored.result["findings"]:
        nlp.review_finding(ctx, me, stored_id, 0, accept=False, reason="not supported")
        (after,) = nlp.analyses_for_note(ctx, me, note.id)
        assert after.result["decisions"]["0"]["accepted"] is False
        actions = ctx.store.read(lambda s: list(s.scalars(select(AuditEvent.action))))
        assert "nlp.finding_reject" in actions
    # no PHI in the event
    assert NOTE[:20] not in json.dumps(events[0].payload())
    with pytest.raises(PermissionDeniedError):
        nlp.analyses_for_note(ctx, clinic["other"], note.id)
