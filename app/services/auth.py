"""Sign-in with lockout and optional TOTP; every attempt is audited (never the password)."""

from __future__ import annotations

from sqlalchemy import select

from app.domain import Principal, Role
from app.errors import AccountLockedError, AuthenticationError, NovamindError
from app.security.passwords import verify_password, verify_totp
from app.services.context import AppContext
from app.store.models import User, utcnow
from app.store.store import Actor, UnitOfWork

_GENERIC = "Unknown user name or wrong password."


class SecondFactorRequiredError(AuthenticationError):
    """Password accepted; the account needs its TOTP code."""


def login(ctx: AppContext, username: str, password: str, totp_code: str | None = None) -> Principal:
    """Check credentials; returns the Principal or raises AuthenticationError."""
    threshold = ctx.settings.lockout_threshold

    def attempt(uow: UnitOfWork) -> Principal | NovamindError:
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            uow.audit(Actor("unknown", "none"), "auth.login_failed", detail={"why": "user"})
            return AuthenticationError(_GENERIC)
        actor = Actor(user.id, user.role)
        if user.locked_at is not None:
            uow.audit(actor, "auth.login_refused_locked")
            return AccountLockedError(
                "This account is locked after too many failed sign-ins.",
                hint="Ask an administrator to unlock it ('novamind admin reset-lockout').",
            )
        if not verify_password(user.password_hash, password):
            user.failed_attempts += 1
            if user.failed_attempts >= threshold:
                user.locked_at = utcnow()
                uow.audit(actor, "auth.locked", detail={"attempts": user.failed_attempts})
                return AccountLockedError(
                    "This account is now locked after too many failed sign-ins.",
                    hint="Ask an administrator to unlock it.",
                )
            uow.audit(actor, "auth.login_failed", detail={"why": "password"})
            return AuthenticationError(_GENERIC)
        needs_totp = user.totp_secret is not None or ctx.settings.mfa_required
        if needs_totp:
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
            if not verify_totp(user.totp_secret, totp_code):
                user.failed_attempts += 1
                if user.failed_attempts >= threshold:
                    user.locked_at = utcnow()
                uow.audit(actor, "auth.login_failed", detail={"why": "totp"})
                return AuthenticationError("The authenticator code is not valid.")
        user.failed_attempts = 0
        user.last_login_at = utcnow()
        uow.audit(actor, "auth.login")
        return Principal(user.id, user.username, user.display_name, Role(user.role))

    outcome = ctx.store.write(attempt)
    if isinstance(outcome, NovamindError):
        raise outcome
    return outcome


def verify_unlock(ctx: AppContext, principal: Principal, password: str) -> bool:
    """Re-check the password to leave the idle lock screen (audited)."""

    def check(uow: UnitOfWork) -> bool:
        user = uow.session.get(User, principal.user_id)
        ok = user is not None and user.active and verify_password(user.password_hash, password)
        uow.audit(
            Actor(principal.user_id, principal.role.value),
            "auth.unlock" if ok else "auth.unlock_failed",
        )
        return ok

    return ctx.store.write(check)
