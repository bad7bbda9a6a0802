"""RBAC matrix (role × action × assigned/unassigned), enforced at the service layer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date

import keyring
import pytest

from app.core.config import load_settings
from app.core.domain import Principal, Role
from app.core.errors import PermissionDeniedError
from app.services import admin, alerts, notes, patients
from app.services.context import AppContext
from tests.conftest import make_user
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import add_patient

ROLES = [Role.CLINICIAN, Role.SUPERVISOR, Role.RESEARCHER, Role.ADMIN, Role.IT]

# action name -> callable(ctx, principal, patient_id)
ACTIONS: dict[str, Callable[[AppContext, Principal, str], object]] = {
    "read_patient": lambda c, p, pid: patients.get_patient(c, p, pid),
    "list_notes": lambda c, p, pid: notes.list_notes(c, p, pid),
    "write_note": lambda c, p, pid: notes.create_draft(c, p, pid, "Title", "Body"),
    "list_patients": lambda c, p, pid: patients.list_patients(c, p),
    "list_deidentified": lambda c, p, pid: patients.list_deidentified(c, p),
    "manage_users": lambda c, p, pid: admin.list_users(c, p),
    "verify_audit": lambda c, p, pid: admin.verify_audit(c, p),
    "break_glass": lambda c, p, pid: patients.break_glass(c, p, pid, "emergency: patient in ED"),
}

ALLOWED: dict[tuple[Role, str, bool], bool] = {}
for role in ROLES:
    for assigned in (True, False):
        clinical = role in (Role.CLINICIAN, Role.SUPERVISOR)
        ALLOWED[(role, "read_patient", assigned)] = clinical and (
            assigned or role is Role.SUPERVISOR
        )
        ALLOWED[(role, "list_notes", assigned)] = clinical and (assigned or role is Role.SUPERVISOR)
        ALLOWED[(role, "write_note", assigned)] = clinical and assigned
        ALLOWED[(role, "list_patients", assigned)] = clinical
        ALLOWED[(role, "list_deidentified", assigned)] = role is Role.RESEARCHER
        ALLOWED[(role, "manage_users", assigned)] = role is Role.ADMIN
        ALLOWED[(role, "verify_audit", assigned)] = role in (Role.SUPERVISOR, Role.ADMIN, Role.IT)
        ALLOWED[(role, "break_glass", assigned)] = clinical


@pytest.fixture(scope="module")
def shared_clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, dict]]:
    """One store and set of users for the whole matrix (Argon2 makes users costly to create)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    root = tmp_path_factory.mktemp("rbac")
    env = {"NOVAMIND_DATA_DIR": str(root), "NOVAMIND_POLICY": str(root / "p.toml")}
    ctx = AppContext.open(load_settings(env))
    users: dict = {role: make_user(ctx, f"matrix.{role.value}", role) for role in ROLES}
    users["owner"] = make_user(ctx, "matrix.owner", Role.CLINICIAN)
    yield ctx, users
    ctx.close()
    keyring.set_keyring(previous)


@pytest.mark.parametrize("assigned", [True, False], ids=["assigned", "unassigned"])
@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_matrix(shared_clinic: tuple, role: Role, action: str, assigned: bool) -> None:
    ctx, users = shared_clinic
    principal: Principal = users[role]
    # a fresh patient per case, so no earlier assignment or break-glass grant leaks in
    patient_id = add_patient(
        ctx,
        users["owner"],
        f"M-{role.value}-{action}-{assigned}",
        given_name="Matrix",
        family_name="Canary",
        birth_date=date(1970, 1, 1),
    )
    if assigned:
        admin.assign_care_team(
            ctx, users[Role.ADMIN], username=principal.username, patient_id=patient_id
        )
    call = ACTIONS[action]
    if ALLOWED[(role, action, assigned)]:
        call(ctx, principal, patient_id)
    else:
        with pytest.raises(PermissionDeniedError) as info:
            call(ctx, principal, patient_id)
        assert "Canary" not in str(info.value)  # no PHI in the refusal


def test_clinician_lists_only_assigned(ctx: AppContext, clinic: dict) -> None:
    listed = patients.list_patients(ctx, clinic["users"][Role.CLINICIAN])
    assert [p.id for p in listed] == [clinic["mine"]]
    supervisor_sees = {p.id for p in patients.list_patients(ctx, clinic["users"][Role.SUPERVISOR])}
    assert supervisor_sees == {clinic["mine"], clinic["theirs"]}


def test_break_glass_grants_access_audits_and_alerts_supervisors(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    with pytest.raises(PermissionDeniedError):
        patients.get_patient(ctx, me, clinic["theirs"])
    seen = []
    from app.core.events import AlertTriggered

    ctx.bus.subscribe(AlertTriggered, seen.append)
    patients.break_glass(ctx, me, clinic["theirs"], "Patient arrived in crisis, on-call")
    assert patients.get_patient(ctx, me, clinic["theirs"]).id == clinic["theirs"]
    assert [e.rule for e in seen] == ["break_glass"]
    inbox = alerts.list_open_alerts(ctx, clinic["users"][Role.SUPERVISOR])
    assert any(a.rule == "break_glass" and a.patient_id == clinic["theirs"] for a in inbox)
    from sqlalchemy import select

    from app.core.store.models import AuditEvent

    actions = ctx.store.read(
        lambda s: list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == me.user_id))
        )
    )
    assert "patient.break_glass" in actions


def test_break_glass_needs_a_reason(ctx: AppContext, clinic: dict) -> None:
    from app.core.errors import ValidationError

    with pytest.raises(ValidationError):
        patients.break_glass(ctx, clinic["users"][Role.CLINICIAN], clinic["theirs"], "   ")


def test_researcher_view_is_deidentified(ctx: AppContext, clinic: dict) -> None:
    rows = patients.list_deidentified(ctx, clinic["users"][Role.RESEARCHER])
    assert len(rows) == 2
    for row in rows:
        text = repr(row)
        assert "Assigned" not in text and "Unassigned" not in text and "T-1" not in text
        assert row.pseudonym.startswith("S-")
