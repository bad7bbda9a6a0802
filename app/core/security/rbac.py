"""Role-based access with care-team scoping, enforced in the service layer.

A clinician reaches a patient's record only through an active care-team assignment or an
unexpired break-glass grant. Supervisors may read every patient (clinical oversight) but write
only where assigned. Researchers see de-identified data only; admin and IT see no clinical
content at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal, Role
from app.core.errors import PermissionDeniedError
from app.core.store.models import BreakGlassGrant, CareTeamAssignment, utcnow

A = Action
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.CLINICIAN: frozenset(
        {A.LIST_PATIENTS, A.READ_PHI, A.WRITE_CLINICAL, A.SIGN_NOTE, A.ACT_ON_ALERT, A.BREAK_GLASS}
    ),
    Role.SUPERVISOR: frozenset(
        {
            A.LIST_PATIENTS,
            A.READ_PHI,
            A.WRITE_CLINICAL,
            A.SIGN_NOTE,
            A.ACT_ON_ALERT,
            A.BREAK_GLASS,
            A.VIEW_AUDIT,
            A.MONITOR_OPERATIONS,
        }
    ),
    Role.RESEARCHER: frozenset({A.READ_DEIDENTIFIED}),
    Role.ADMIN: frozenset({A.MANAGE_USERS, A.MANAGE_CARE_TEAMS, A.VIEW_AUDIT}),
    Role.IT: frozenset({A.OPERATE_SYSTEM, A.VIEW_AUDIT, A.MONITOR_OPERATIONS}),
}

# Actions on one patient's record that need an assignment or break-glass grant.
SCOPED = frozenset({A.READ_PHI, A.WRITE_CLINICAL, A.SIGN_NOTE, A.ACT_ON_ALERT})
# Scoped actions a supervisor may take on any patient.
SUPERVISOR_UNSCOPED = frozenset({A.READ_PHI})


def role_allows(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]


def capabilities(principal: Principal) -> frozenset[Action]:
    """Every action the principal's role allows (before care-team scope): what the UI may
    offer. The UI asks this instead of comparing roles, so the policy lives here only."""
    return PERMISSIONS[principal.role]


# What a role needs to end someone's emergency access early: clinical oversight (supervisors).
REVOKE_BREAK_GLASS = frozenset({A.VIEW_AUDIT, A.READ_PHI})


def may_revoke_break_glass(principal: Principal) -> bool:
    return REVOKE_BREAK_GLASS <= capabilities(principal)


def assigned_patient_ids(user_id: str) -> Select[str]:
    """The patients on this user's care team now: active and not deleted, the same rule as
    `is_assigned`, for list queries (an ended assignment grants nothing, in a list or not)."""
    return select(CareTeamAssignment.patient_id).where(
        CareTeamAssignment.user_id == user_id,
        CareTeamAssignment.active.is_(True),
        CareTeamAssignment.deleted_at.is_(None),
    )


def visible_patient_ids(principal: Principal) -> Select[str] | None:
    """For list queries: None when the role lists every patient (supervisors), else the
    patients of the user's current care team (break-glass opens one record, not a list)."""
    if principal.role is Role.SUPERVISOR:
        return None
    return assigned_patient_ids(principal.user_id)


def is_assigned(session: Session, user_id: str, patient_id: str) -> bool:
    return (
        session.scalar(
            assigned_patient_ids(user_id).where(CareTeamAssignment.patient_id == patient_id)
        )
        is not None
    )


def has_break_glass(
    session: Session, user_id: str, patient_id: str, now: datetime | None = None
) -> bool:
    now = now or utcnow()
    return (
        session.scalar(
            select(BreakGlassGrant.id).where(
                BreakGlassGrant.user_id == user_id,
                BreakGlassGrant.patient_id == patient_id,
                BreakGlassGrant.expires_at > now,
                BreakGlassGrant.revoked_at.is_(None),
            )
        )
        is not None
    )


def can(
    session: Session, principal: Principal, action: Action, patient_id: str | None = None
) -> bool:
    """The single decision point: role permission, then care-team scope for patient actions."""
    if not role_allows(principal.role, action):
        return False
    if action not in SCOPED:
        return True
    if patient_id is None:
        return False
    if principal.role is Role.SUPERVISOR and action in SUPERVISOR_UNSCOPED:
        return True
    return is_assigned(session, principal.user_id, patient_id) or has_break_glass(
        session, principal.user_id, patient_id
    )


def require(
    session: Session, principal: Principal, action: Action, patient_id: str | None = None
) -> None:
    """Raise PermissionDeniedError (with no PHI in the message) unless allowed."""
    if not can(session, principal, action, patient_id):
        scope = " for this patient" if patient_id else ""
        raise PermissionDeniedError(
            f"Your role ({principal.role.value}) may not {action.value.replace('_', ' ')}{scope}."
        )
