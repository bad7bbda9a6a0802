from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.core.domain import NoteStatus, Role
from app.core.errors import ImmutableRecordError, PermissionDeniedError, ValidationError
from app.core.events import Event, PatientDataUpdated
from app.core.store.models import AuditEvent, ClinicalNote, OutboxEvent
from app.services import notes
from app.services.context import AppContext
from tests.support.records import row_count, row_counts


def test_signed_note_is_immutable_and_amended_by_a_new_record(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    draft = notes.create_draft(ctx, me, clinic["mine"], "Intake", "Low mood for 3 weeks.")
    draft = notes.update_draft(ctx, me, draft.id, "Intake", "Low mood for 4 weeks.")
    signed = notes.sign(ctx, me, draft.id)
    assert signed.status is NoteStatus.SIGNED and signed.content_sha256
    with pytest.raises(ImmutableRecordError):
        notes.update_draft(ctx, me, signed.id, "Intake", "rewritten history")
    amendment = notes.create_draft(
        ctx, me, clinic["mine"], "Intake (amended)", "Onset 5 weeks ago.", amends_id=signed.id
    )
    notes.sign(ctx, me, amendment.id)
    listed = notes.list_notes(ctx, me, clinic["mine"])
    original = next(n for n in listed if n.id == signed.id)
    assert original.body == "Low mood for 4 weeks."
    assert next(n for n in listed if n.id == amendment.id).amends_id == signed.id


def test_only_author_edits_a_draft(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    supervisor = clinic["users"][Role.SUPERVISOR]
    draft = notes.create_draft(ctx, me, clinic["mine"], "Draft", "text")
    with pytest.raises(PermissionDeniedError):
        notes.update_draft(ctx, supervisor, draft.id, "Draft", "changed by someone else")


def test_empty_title_changes_nothing(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    before = row_count(ctx, ClinicalNote)
    with pytest.raises(ValidationError):
        notes.create_draft(ctx, me, clinic["mine"], "  ", "body")
    assert row_count(ctx, ClinicalNote) == before


def test_change_writes_outbox_row_and_publishes_after_commit(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    seen: list[Event] = []
    ctx.bus.subscribe(PatientDataUpdated, seen.append)
    note = notes.create_draft(ctx, me, clinic["mine"], "T", "B")
    assert [(e.record_type, e.record_id) for e in seen] == [("note", note.id)]
    rows = ctx.store.read(
        lambda s: [json.loads(r.payload_json) for r in s.scalars(select(OutboxEvent))]
    )
    assert any(r.get("record_id") == note.id for r in rows)
    # payloads carry ids and codes only
    for r in rows:
        assert "B" not in r.values() and "Assigned" not in json.dumps(r)


def test_failed_write_rolls_back_outbox_audit_and_events(ctx: AppContext, clinic: dict) -> None:
    seen: list[Event] = []
    ctx.bus.subscribe(PatientDataUpdated, seen.append)

    def counts() -> tuple[int, ...]:
        return row_counts(ctx, OutboxEvent, AuditEvent)

    before = counts()

    def failing(uow) -> None:
        uow.emit(PatientDataUpdated(patient_id=clinic["mine"], record_type="x", record_id="y"))
        from app.core.store.store import SYSTEM

        uow.audit(SYSTEM, "x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ctx.store.write(failing)
    assert counts() == before and seen == []


def test_failing_subscriber_does_not_break_others(ctx: AppContext, clinic: dict) -> None:
    seen = []

    def bad(event: Event) -> None:
        raise ValueError("subscriber bug")

    ctx.bus.subscribe(PatientDataUpdated, bad)
    ctx.bus.subscribe(PatientDataUpdated, seen.append)
    notes.create_draft(ctx, clinic["users"][Role.CLINICIAN], clinic["mine"], "T", "B")
    assert len(seen) == 1


def test_drafts_survive_reopen_and_stay_private(ctx: AppContext, clinic: dict) -> None:
    from app.services import drafts
    from app.services.context import AppContext as Ctx

    me = clinic["users"][Role.CLINICIAN]
    for body in ("half-typed", "half-typed, more"):  # the second save replaces the first
        content = {"title": "T", "body": body}
        drafts.save_draft(
            ctx, me, kind="note", ref="new", patient_id=clinic["mine"], content=content
        )
    settings = ctx.settings
    ctx.close()
    reopened = Ctx.open(settings)
    try:
        (d,) = drafts.load_drafts(reopened, me)
        assert d["content"]["body"] == "half-typed, more"
        assert drafts.load_drafts(reopened, clinic["users"][Role.SUPERVISOR]) == []
        drafts.discard_draft(reopened, me, kind="note", ref="new")
        assert drafts.load_drafts(reopened, me) == []
    finally:
        reopened.close()
