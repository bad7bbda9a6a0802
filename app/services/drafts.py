"""Drafts: work in progress kept inside the encrypted store, so locking or logging out loses
nothing. Only the owner reads or changes their drafts; each access is audited."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.security import rbac
from app.core.store.models import Draft
from app.core.store.store import UnitOfWork
from app.services import phi_audit
from app.services.context import AppContext, actor_of


def save_draft(
    ctx: AppContext,
    principal: Principal,
    *,
    kind: str,
    ref: str,
    content: dict[str, Any],
    patient_id: str | None = None,
) -> None:
    """Create or replace the user's draft of (kind, ref)."""
    payload = json.dumps(content)

    def do(uow: UnitOfWork) -> None:
        if patient_id is not None:
            rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        row = uow.session.scalar(
            select(Draft).where(
                Draft.user_id == principal.user_id, Draft.kind == kind, Draft.ref == ref
            )
        )
        if row is None:
            row = Draft(
                user_id=principal.user_id,
                kind=kind,
                ref=ref,
                patient_id=patient_id,
                author_id=principal.user_id,
                content_json=payload,
            )
            uow.session.add(row)
        else:
            row.content_json = payload
        uow.session.flush()
        uow.audit(
            actor_of(principal),
            "draft.save",
            patient_id=patient_id,
            record_type="draft",
            record_id=row.id,
        )

    ctx.store.write(do)


def load_drafts(
    ctx: AppContext, principal: Principal, kind: str | None = None
) -> list[dict[str, Any]]:
    """The user's own drafts: [{kind, ref, patient_id, content}]."""

    def read(session: Session) -> list[dict[str, Any]]:
        q = select(Draft).where(Draft.user_id == principal.user_id)
        if kind is not None:
            q = q.where(Draft.kind == kind)
        return [
            {
                "kind": d.kind,
                "ref": d.ref,
                "patient_id": d.patient_id,
                "content": json.loads(d.content_json),
            }
            for d in session.scalars(q)
            # a draft about a patient the user may no longer read (care team ended) stays hidden
            if not d.patient_id or rbac.can(session, principal, Action.READ_PHI, d.patient_id)
        ]

    drafts = ctx.store.read(read)
    if drafts:
        phi_audit.audit_read(
            ctx,
            principal,
            "draft.read",
            record_type="draft",
            shown=(d["patient_id"] for d in drafts if d["patient_id"]),
        )
    return drafts


def discard_draft(ctx: AppContext, principal: Principal, *, kind: str, ref: str) -> None:
    def do(uow: UnitOfWork) -> None:
        row = uow.session.scalar(
            select(Draft).where(
                Draft.user_id == principal.user_id, Draft.kind == kind, Draft.ref == ref
            )
        )
        if row is not None:
            uow.session.delete(row)
            uow.audit(
                actor_of(principal),
                "draft.discard",
                patient_id=row.patient_id,
                record_type="draft",
                record_id=row.id,
            )

    ctx.store.write(do)
