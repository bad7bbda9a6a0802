"""Nothing hand-written is shown as model output: the documentation's illustrative example is
stored under a placeholder identity (never the installed model's name or hash) and the panel
shows it under a visible "not model output" banner; a note without one shows no banner."""

from __future__ import annotations

from app.core.domain import Role
from app.services import nlp, nlp_session, notes
from tests.support.notes_example import NOTE, store_example
from ui.panels.notes_analysis import NotesAnalysisPanel


def test_illustrative_example_is_labelled_not_model_output(llm_ctx, clinic, qtbot, show) -> None:
    ctx = llm_ctx
    me = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    plain = notes.sign(ctx, me, notes.create_draft(ctx, me, pid, "Plain", "Slept well.").id)
    note = notes.sign(ctx, me, notes.create_draft(ctx, me, pid, "Review", NOTE).id)
    analyser = nlp.NoteAnalyser(ctx.settings)
    stored_id = store_example(ctx, me, analyser, pid, note.id)
    (stored,) = nlp.analyses_for_note(ctx, me, note.id)
    installed = nlp_session.model_status(analyser)
    assert installed.available
    # stored under the placeholder identity, not the installed model's
    assert stored.model_name == nlp_session.ILLUSTRATIVE_MODEL.name != installed.name
    assert stored.model_sha256 == nlp_session.NO_MODEL_SHA256
    assert stored.result["model"]["name"] == "illustrative example — not model output"
    assert not nlp_session.is_model_output(stored)

    panel = NotesAnalysisPanel(ctx, me, pid, analyser=analyser)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel, 1300, 850)
    panel.select_note(note.id)
    qtbot.waitUntil(lambda: panel.analysis_id == stored_id, timeout=10000)
    assert panel.not_model_output.isVisible()
    assert "Not model output" in panel.not_model_output.text()
    assert "illustrative example — not model output" in panel.not_model_output.text()
    assert "illustrative example — not model output" in panel.provenance.text()
    assert installed.name not in panel.provenance.text()

    panel.select_note(plain.id)
    qtbot.waitUntil(lambda: panel.note is not None and panel.note.id == plain.id, timeout=5000)
    assert not panel.not_model_output.isVisible()
