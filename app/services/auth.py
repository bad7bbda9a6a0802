"""Sign-in, unlock, password change and session re-checks; every attempt is audited.

One refusal for every credential failure: an unknown user name, a wrong password, a locked
or a deactivated account all cost the same Argon2 work and read "Invalid credentials or
account locked.", so neither the message nor the time tells which accounts exist, and the
lockout is only considered once the password was checked. Argon2 runs outside the store's
serial writer; the outcome is then settled in one audited transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from app.core.domain import Principal, Role
from app.core.errors import AuthenticationError, NovamindError, ValidationError
from app.core.security.passwords import (
    MIN_PASSWORD_LENGTH,
    HashPolicy,
    accept_totp,
    hash_password,
    needs_rehash,
    verify_password,
)
from app.core.store.models import User, utcnow
from app.core.store.store import Actor, UnitOfWork
from app.services.context import AppContext

GENERIC = "Invalid credentials or account locked."
_HINT = (
    "Check the user name and password: after too many wrong passwords an administrator "
    "must unlock the account."
)


class SecondFactorRequiredError(AuthenticationError):
    """Password accepted; the account needs its TOTP code."""


class SessionEndedError(AuthenticationError):
    """The signed-in account was deactivated or its role changed: sign in again."""


def _refused() -> AuthenticationError:
    return AuthenticationError(GENERIC, hint=_HINT)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.role)


def _count_failure(ctx: AppContext, uow: UnitOfWork, user: User, why: str, event: str) -> None:
    """One more failed attempt; the policy's threshold locks the account (audited)."""
    user.failed_attempts += 1
    if user.locked_at is None and user.failed_attempts >= ctx.settings.lockout_threshold:
        user.locked_at = utcnow()
        uow.audit(_actor(user), "auth.locked", detail={"attempts": user.failed_attempts})
    uow.audit(_actor(user), event, detail={"why": why})


def _snapshot(ctx: AppContext, where: ColumnElement[bool]) -> tuple[str, str] | None:
    row = ctx.store.read(
        lambda s: s.execute(select(User.id, User.password_hash).where(where)).first()
    )
    return (row[0], row[1]) if row is not None else None


def login(ctx: AppContext, username: str, password: str, totp_code: str | None = None) -> Principal:
    """Check credentials; returns the Principal or raises AuthenticationError."""
    policy = HashPolicy.of(ctx.settings)
    snap = _snapshot(ctx, User.username == username)
    ok = verify_password(snap[1] if snap else None, password, policy)  # dummy hash if unknown
    rehash = (
        hash_password(password, policy) if ok and snap and needs_rehash(snap[1], policy) else None
    )

    def settle(uow: UnitOfWork) -> Principal | NovamindError:
        user = uow.session.get(User, snap[0]) if snap else None
        if user is None or user.password_hash != snap[1]:  # type: ignore[index]
            uow.audit(Actor("unknown", "none"), "auth.login_failed", detail={"why": "user"})
            return _refused()
        actor = _actor(user)
        if not ok:
            _count_failure(ctx, uow, user, "password", "auth.login_failed")
            return _refused()
        if user.locked_at is not None:
            uow.audit(actor, "auth.login_refused_locked")
            return _refused()
        if not user.active:
            uow.audit(actor, "auth.login_refused_inactive")
            return _refused()
        if user.totp_secret is not None or ctx.settings.mfa_required:
            if user.totp_secret is None:
                uow.audit(actor, "auth.login_refused_no_mfa")
                return AuthenticationError(
                    "Your organisation requires two-factor sign-in, but it is not set up for "
                    "this account.",
                    hint="Ask an administrator to enrol an authenticator app for you.",
                )
            if not totp_code:
                return SecondFactorRequiredError(
                    "Enter the 6-digit code from your authenticator app."
                )
            step = accept_totp(user.totp_secret, totp_code, user.totp_last_step)
            if step is None:
                _count_failure(ctx, uow, user, "totp", "auth.login_failed")
                return AuthenticationError(
                    "The authenticator code is not valid.",
                    hint="Each code works once; wait for the next one.",
                )
            user.totp_last_step = step
        user.failed_attempts = 0
        user.last_login_at = utcnow()
        if rehash is not None:
            user.password_hash = rehash
            uow.audit(actor, "auth.rehash", record_type="user", record_id=user.id)
        uow.audit(actor, "auth.login")
        return Principal(user.id, user.username, user.display_name, Role(user.role))

    outcome = ctx.store.write(settle)
    if isinstance(outcome, NovamindError):
        raise outcome
    return outcome


def refresh(ctx: AppContext, principal: Principal) -> Principal:
    """Re-read the signed-in user's role and active flag (the shell calls this every minute,
    and every password step first); raises SessionEndedError if deactivated or re-roled."""

    def check(s: Session) -> Principal | None:
        user = s.get(User, principal.user_id)
        if user is None or not user.active or user.role != principal.role.value:
            return None
        return Principal(user.id, user.username, user.display_name, Role(user.role))

    now = ctx.store.read(check)
    if now is None:
        ctx.store.write(
            lambda uow: uow.audit(
                Actor(principal.user_id, principal.role.value), "auth.session_ended"
            )
        )
        raise SessionEndedError(
            "Your account was deactivated or its role changed, so this session ended.",
            hint="Sign in again, or ask an administrator.",
        )
    return now


def _password_step(
    ctx: AppContext,
    principal: Principal,
    password: str,
    on_ok: Callable[[UnitOfWork, User], None],
    fail_event: str,
) -> bool:
    """Check `password` for a signed-in user, honouring and feeding the lockout."""
    refresh(ctx, principal)
    policy = HashPolicy.of(ctx.settings)
    snap = _snapshot(ctx, User.id == principal.user_id)
    ok = verify_password(snap[1] if snap else None, password, policy)

    def settle(uow: UnitOfWork) -> bool:
        user = uow.session.get(User, principal.user_id)
        if user is None or snap is None or user.password_hash != snap[1]:
            return False
        if not ok:
            _count_failure(ctx, uow, user, "password", fail_event)
            return False
        if user.locked_at is not None or not user.active:
            uow.audit(_actor(user), fail_event, detail={"why": "locked"})
            return False
        user.failed_attempts = 0
        on_ok(uow, user)
        return True

    return ctx.store.write(settle)


def verify_unlock(ctx: AppContext, principal: Principal, password: str) -> bool:
    """Re-check the password to leave the idle lock screen (audited; counts toward lockout).

    Raises SessionEndedError when the account was deactivated or its role changed.
    """
    return _password_step(
        ctx,
        principal,
        password,
        lambda uow, user: uow.audit(_actor(user), "auth.unlock"),
        "auth.unlock_failed",
    )


def validate_new_password(new_password: str, old_password: str | None = None) -> None:
    """Policy for a new password: long enough, and not the old one."""
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"new password: at least {MIN_PASSWORD_LENGTH} characters")
    if old_password is not None and new_password == old_password:
        raise ValidationError("new password: must differ from the current password")


def change_password(
    ctx: AppContext, principal: Principal, old_password: str, new_password: str
) -> None:
    """The signed-in user changes their own password (audited; a wrong old one counts)."""
    validate_new_password(new_password, old_password)
    new_hash = hash_password(new_password, HashPolicy.of(ctx.settings))

    def apply(uow: UnitOfWork, user: User) -> None:
        user.password_hash = new_hash
        uow.audit(_actor(user), "user.password_change", record_type="user", record_id=user.id)

    if not _password_step(ctx, principal, old_password, apply, "auth.password_change_failed"):
        raise _refused()
