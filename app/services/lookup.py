"""Find a patient by MRN for emergency (break-glass) access: returns the id only, audited."""

from __future__ import annotations

from sqlalchemy import select

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError
from app.core.security import rbac
from app.core.store.models import Patient
from app.services.context import AppContext, actor_of


def patient_id_by_mrn(ctx: AppContext, principal: Principal, mrn: str) -> str:
    """The record id behind an MRN (no other data), for roles allowed to break glass."""
    mrn = mrn.strip()

    def read(session: object) -> str | None:
        rbac.require(session, principal, Action.BREAK_GLASS)  # type: ignore[arg-type]
        return session.scalar(  # type: ignore[attr-defined]
            select(Patient.id).where(Patient.mrn == mrn, Patient.deleted_at.is_(None))
        )

    pid = ctx.store.read(read)
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal), "patient.lookup_mrn", patient_id=pid, detail={"found": bool(pid)}
        )
    )
    if pid is None:
        raise NotFoundError("No patient has that MRN.")
    return pid
