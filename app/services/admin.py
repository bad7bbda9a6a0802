"""Account, care-team and store administration (admin / IT; no clinical content)."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from app.core.domain import Action, Principal, Role, UserRecord
from app.core.errors import NotFoundError, ValidationError
from app.core.security import audit, keys, rbac
from app.core.security.passwords import (
    MIN_PASSWORD_LENGTH,
    HashPolicy,
    hash_password,
    new_totp_secret,
)
from app.core.store.models import CareTeamAssignment, Patient, User
from app.core.store.store import Actor, UnitOfWork
from app.services.auth import validate_new_password
from app.services.context import AppContext, actor_of


def _actor(ctx: AppContext, who: Principal | Actor, action: Action) -> Actor:
    """Principals are checked against RBAC; an Actor is the trusted local CLI."""
    if isinstance(who, Principal):
        ctx.store.read(lambda s: rbac.require(s, who, action))
        return actor_of(who)
    return who


def _user_record(u: User) -> UserRecord:
    return UserRecord(
        u.id,
        u.username,
        u.display_name,
        Role(u.role),
        u.totp_secret is not None,
        u.locked_at is not None,
        u.active,
    )


def create_user(
    ctx: AppContext,
    who: Principal | Actor,
    *,
    username: str,
    display_name: str,
    role: Role,
    password: str,
    is_synthetic: bool = False,
) -> UserRecord:
    actor = _actor(ctx, who, Action.MANAGE_USERS)
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("_", "").isalnum()
    ):
        raise ValidationError("user name: use 1-64 letters, digits, '.' or '_'")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    pw_hash = hash_password(password, HashPolicy.of(ctx.settings))

    def do(uow: UnitOfWork) -> UserRecord:
        if uow.session.scalar(select(User.id).where(User.username == username)):
            raise ValidationError(f"user name '{username}' is already taken")
        user = User(
            username=username,
            display_name=display_name,
            role=Role(role).value,
            password_hash=pw_hash,
            author_id=actor.id,
            is_synthetic=is_synthetic,
        )
        uow.session.add(user)
        uow.session.flush()
        uow.audit(
            actor, "user.create", record_type="user", record_id=user.id, detail={"role": user.role}
        )
        return _user_record(user)

    return ctx.store.write(do)


def list_users(ctx: AppContext, who: Principal | Actor) -> list[UserRecord]:
    _actor(ctx, who, Action.MANAGE_USERS)
    return ctx.store.read(
        lambda s: [_user_record(u) for u in s.scalars(select(User).order_by(User.username))]
    )


def get_user(ctx: AppContext, who: Principal | Actor, user_id: str) -> UserRecord | None:
    """One account by id (None if there is none): what a per-request check needs, without
    reading every account."""
    _actor(ctx, who, Action.MANAGE_USERS)
    user = ctx.store.read(lambda s: s.get(User, user_id))
    return None if user is None else _user_record(user)


def _user_by_name(uow: UnitOfWork, username: str) -> User:
    user = uow.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user named '{username}'")
    return user


def reset_lockout(ctx: AppContext, who: Principal | Actor, username: str) -> None:
    actor = _actor(ctx, who, Action.MANAGE_USERS)

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        user.locked_at = None
        user.failed_attempts = 0
        uow.audit(actor, "user.unlock", record_type="user", record_id=user.id)

    ctx.store.write(do)


def deactivate_user(ctx: AppContext, who: Principal | Actor, username: str) -> None:
    """Stop an account signing in (kept for the audit trail; its live session ends too).

    Refused for your own account and for the last active administrator, so the clinic can
    never lock itself out of account management.
    """
    actor = _actor(ctx, who, Action.MANAGE_USERS)

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        if user.id == actor.id:
            raise ValidationError("you cannot deactivate your own account")
        if not user.active:
            return
        if user.role == Role.ADMIN.value:
            others = uow.session.scalar(
                select(func.count(User.id)).where(
                    User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id
                )
            )
            if not others:
                raise ValidationError("cannot deactivate the last active administrator")
        user.active = False
        uow.audit(actor, "user.deactivate", record_type="user", record_id=user.id)

    ctx.store.write(do)


def change_role(ctx: AppContext, who: Principal | Actor, username: str, role: Role) -> None:
    """Give an account another role (audited as `user.role_change`; its live session ends at
    the next re-check). Refused for your own account and for the last active administrator."""
    actor = _actor(ctx, who, Action.MANAGE_USERS)
    new_role = Role(role).value

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        if user.id == actor.id:
            raise ValidationError("you cannot change your own role")
        if user.role == new_role:
            return
        if user.role == Role.ADMIN.value and user.active:
            others = uow.session.scalar(
                select(func.count(User.id)).where(
                    User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id
                )
            )
            if not others:
                raise ValidationError("cannot change the role of the last active administrator")
        previous, user.role = user.role, new_role
        uow.audit(
            actor,
            "user.role_change",
            record_type="user",
            record_id=user.id,
            detail={"from": previous, "to": new_role},
        )

    ctx.store.write(do)


def reset_password(
    ctx: AppContext, who: Principal | Actor, username: str, new_password: str
) -> None:
    """Set a new password for a user who forgot theirs; also clears a lockout (audited)."""
    actor = _actor(ctx, who, Action.MANAGE_USERS)
    validate_new_password(new_password)
    new_hash = hash_password(new_password, HashPolicy.of(ctx.settings))

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        user.password_hash = new_hash
        user.locked_at = None
        user.failed_attempts = 0
        uow.audit(actor, "user.password_reset", record_type="user", record_id=user.id)

    ctx.store.write(do)


def enrol_totp(ctx: AppContext, who: Principal | Actor, username: str) -> str:
    """Turn on TOTP for a user; returns the secret to show once as a QR/URI."""
    actor = _actor(ctx, who, Action.MANAGE_USERS)
    secret = new_totp_secret()

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        user.totp_secret = secret
        uow.audit(actor, "user.mfa_enrol", record_type="user", record_id=user.id)

    ctx.store.write(do)
    return secret


def assign_care_team(
    ctx: AppContext,
    who: Principal | Actor,
    *,
    username: str,
    patient_id: str,
    team_role: str = "treating clinician",
    active: bool = True,
) -> None:
    """Add (or, with active=False, end) a clinician's assignment to a patient."""
    actor = _actor(ctx, who, Action.MANAGE_CARE_TEAMS)

    def do(uow: UnitOfWork) -> None:
        user = _user_by_name(uow, username)
        if uow.session.get(Patient, patient_id) is None:
            raise NotFoundError("no patient with that id")
        row = uow.session.scalar(
            select(CareTeamAssignment).where(
                CareTeamAssignment.user_id == user.id, CareTeamAssignment.patient_id == patient_id
            )
        )
        if row is None:
            row = CareTeamAssignment(user_id=user.id, patient_id=patient_id, author_id=actor.id)
            uow.session.add(row)
        row.team_role, row.active = team_role, active
        uow.session.flush()
        uow.audit(
            actor,
            "careteam.assign" if active else "careteam.unassign",
            patient_id=patient_id,
            record_type="care_team",
            record_id=row.id,
        )

    ctx.store.write(do)


def verify_audit(
    ctx: AppContext, who: Principal | Actor, *, anchor: bool = False
) -> audit.AuditReport:
    """Check the HMAC chain and, on an enrolled workstation with an audit bucket, every signed
    head anchored there (a rewrite even with the keyring's audit key shows as a differing
    seq). With `anchor`, the verified head is anchored too (only if nothing is wrong)."""
    from app.services import audit_anchor

    _actor(ctx, who, Action.VIEW_AUDIT)
    local = ctx.store.read(lambda s: audit.verify(s, ctx.store.audit_key))
    checked = audit_anchor.check_and_anchor(ctx, local, anchor=anchor)
    report = local
    if checked is not None:
        report = audit.AuditReport(
            ok=local.ok and not checked.problems,
            checked=local.checked,
            problems=local.problems + checked.problems,
            anchors=checked.checked,
            anchored=checked.written,
        )
    actor = who if isinstance(who, Actor) else actor_of(who)
    ctx.store.write(
        lambda uow: uow.audit(
            actor,
            "audit.verify",
            detail={"ok": report.ok, "n": report.checked, "anchors": report.anchors},
        )
    )
    return report


def rotate_db_key(ctx: AppContext, who: Principal | Actor) -> None:
    """Re-encrypt the store under a fresh key; crash-safe through the keyring's pending entry."""
    actor = _actor(ctx, who, Action.OPERATE_SYSTEM)
    service, path = ctx.settings.keyring_service, ctx.settings.db_path
    new_key = secrets.token_bytes(keys.KEY_BYTES)
    keys.park_pending_key(service, path, new_key)
    ctx.store.rekey(new_key)
    keys.commit_rotated_key(service, path, new_key)
    ctx.store.write(lambda uow: uow.audit(actor, "store.rekey"))
