"""Clinical notes: drafts are editable; a signed note is immutable and changes only by amendment."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, NoteRecord, NoteStatus, Principal, note_content_hash
from app.core.errors import (
    ImmutableRecordError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.events import PatientDataUpdated, RecordType
from app.core.security import rbac
from app.core.store.models import ClinicalNote, utcnow
from app.core.store.store import UnitOfWork
from app.services import phi_audit
from app.services._records import add_audited, emit_created
from app.services.context import AppContext, actor_of


def _record(n: ClinicalNote) -> NoteRecord:
    return NoteRecord(
        n.id,
        n.patient_id,
        n.title,
        n.body,
        NoteStatus(n.status),
        n.author_id,
        n.created_at,
        n.signed_at,
        n.amends_id,
        n.content_sha256,
    )


def content_hash(title: str, body: str) -> str:
    return note_content_hash(title, body)


def _check_text(title: str, body: str) -> None:
    if not title.strip():
        raise ValidationError("note title is empty")
    if len(title) > 200:
        raise ValidationError("note title is longer than 200 characters")


def create_draft(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    title: str,
    body: str,
    *,
    amends_id: str | None = None,
) -> NoteRecord:
    _check_text(title, body)

    def do(uow: UnitOfWork) -> NoteRecord:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        if amends_id is not None:
            original = uow.session.get(ClinicalNote, amends_id)
            if original is None or original.patient_id != patient_id:
                raise NotFoundError("The note to amend does not exist for this patient.")
            if original.status != NoteStatus.SIGNED:
                raise ValidationError("Only a signed note can be amended; edit the draft instead.")
        note = ClinicalNote(
            patient_id=patient_id,
            title=title,
            body=body,
            author_id=principal.user_id,
            amends_id=amends_id,
        )
        action = "note.amend_draft" if amends_id else "note.create"
        add_audited(
            uow, actor_of(principal), action, note, patient_id=patient_id, record_type="note"
        )
        emit_created(uow, patient_id, RecordType.NOTE, note.id)
        return _record(note)

    return ctx.store.write(do)


def _saved(uow: UnitOfWork, principal: Principal, note: ClinicalNote, action: str) -> NoteRecord:
    """Flush a changed note, audit the change and tell listeners (ids only)."""
    uow.session.flush()
    ids: dict[str, Any] = {
        "patient_id": note.patient_id,
        "record_type": "note",
        "record_id": note.id,
    }
    uow.audit(actor_of(principal), action, **ids)
    uow.emit(PatientDataUpdated(**ids | {"record_type": RecordType.NOTE}))
    return _record(note)


def _own_draft(uow: UnitOfWork, principal: Principal, note_id: str) -> ClinicalNote:
    note = uow.session.get(ClinicalNote, note_id)
    if note is None:
        raise NotFoundError("That note does not exist.")
    rbac.require(uow.session, principal, Action.WRITE_CLINICAL, note.patient_id)
    if note.status == NoteStatus.SIGNED:
        raise ImmutableRecordError("This note is signed and cannot be changed; write an amendment.")
    if note.author_id != principal.user_id:
        raise PermissionDeniedError("Only the author can edit or sign a draft note.")
    return note


def update_draft(
    ctx: AppContext, principal: Principal, note_id: str, title: str, body: str
) -> NoteRecord:
    _check_text(title, body)

    def do(uow: UnitOfWork) -> NoteRecord:
        note = _own_draft(uow, principal, note_id)
        note.title, note.body = title, body
        return _saved(uow, principal, note, "note.edit")

    return ctx.store.write(do)


def sign(ctx: AppContext, principal: Principal, note_id: str) -> NoteRecord:
    def do(uow: UnitOfWork) -> NoteRecord:
        note = _own_draft(uow, principal, note_id)
        rbac.require(uow.session, principal, Action.SIGN_NOTE, note.patient_id)
        if not note.body.strip():
            raise ValidationError("An empty note cannot be signed.")
        note.status = NoteStatus.SIGNED.value
        note.signed_at = utcnow()
        note.signed_by = principal.user_id
        note.content_sha256 = content_hash(note.title, note.body)
        return _saved(uow, principal, note, "note.sign")

    return ctx.store.write(do)


def list_notes(ctx: AppContext, principal: Principal, patient_id: str) -> list[NoteRecord]:
    def read(session: Session) -> list[NoteRecord]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        q = (
            select(ClinicalNote)
            .where(ClinicalNote.patient_id == patient_id, ClinicalNote.deleted_at.is_(None))
            .order_by(ClinicalNote.created_at.desc())
        )
        return [_record(n) for n in session.scalars(q)]

    notes = ctx.store.read(read)
    phi_audit.audit_read(ctx, principal, **phi_audit.listed("note", patient_id, len(notes)))
    return notes
