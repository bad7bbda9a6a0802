"""Each test performs an attack on sign-in, unlock or the session and shows it refused."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import argon2
import pyotp
import pytest
from sqlalchemy import select

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import AuthenticationError, PermissionDeniedError, ValidationError
from app.core.store.models import AuditEvent, User
from app.services import admin, auth
from app.services.context import AppContext, cli_actor
from tests.conftest import PASSWORD, make_user

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts calls of the real Argon2 verify (it still runs)."""
    calls: list[str] = []
    real = argon2.PasswordHasher.verify

    def counting(self: argon2.PasswordHasher, hash: str, password: str) -> bool:  # noqa: A002
        calls.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    yield calls


def _refusal(fn: Callable[[], object]) -> str:
    with pytest.raises(AuthenticationError) as info:
        fn()
    return info.value.user_message()


def _actions(ctx: AppContext) -> list[str]:
    return ctx.store.read(
        lambda s: list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
    )


def _assert_password_replaced(ctx: AppContext, username: str, audit_action: str) -> None:
    """The old password no longer signs in, the new one does, and the change is audited."""
    with pytest.raises(AuthenticationError):
        auth.login(ctx, username, PASSWORD)
    assert auth.login(ctx, username, NEW_PASSWORD).username == username
    assert audit_action in _actions(ctx)


def _locked(ctx: AppContext, username: str) -> bool:
    return next(u for u in admin.list_users(ctx, cli_actor()) if u.username == username).locked


def test_user_enumeration_by_message_and_timing_is_refused(
    ctx: AppContext, argon2_calls: list[str]
) -> None:
    make_user(ctx, "alice", Role.CLINICIAN)
    make_user(ctx, "idle.ivan", Role.CLINICIAN)
    admin.deactivate_user(ctx, cli_actor(), "idle.ivan")
    argon2_calls.clear()
    unknown = _refusal(lambda: auth.login(ctx, "nobody", PASSWORD))
    assert len(argon2_calls) == 1, "an unknown user name must cost one Argon2 verify"
    wrong = _refusal(lambda: auth.login(ctx, "alice", "wrong-password"))
    inactive = _refusal(lambda: auth.login(ctx, "idle.ivan", PASSWORD))
    assert len(argon2_calls) == 3
    assert unknown == wrong == inactive
    assert unknown.startswith(auth.GENERIC)

    def median_time(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            with pytest.raises(AuthenticationError):
                fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    t_unknown = median_time(lambda: auth.login(ctx, "nobody.else", PASSWORD))
    t_wrong = median_time(lambda: auth.login(ctx, "alice", "wrong-password"))
    # without Argon2 an unknown name answers ~50x faster; allow a wide margin for noisy CI
    assert t_unknown > 0.4 * t_wrong, (t_unknown, t_wrong)


def test_lockout_guessing_never_says_locked_before_the_password(
    ctx: AppContext, argon2_calls: list[str]
) -> None:
    make_user(ctx, "bob", Role.CLINICIAN)
    unknown = _refusal(lambda: auth.login(ctx, "nobody", "wrong-password"))
    for _ in range(ctx.settings.lockout_threshold):  # the attacker locks bob out
        assert _refusal(lambda: auth.login(ctx, "bob", "wrong-password")) == unknown
    assert _locked(ctx, "bob")
    argon2_calls.clear()
    # locked now: a further guess reads the same as any other failure, and the password is
    # still checked first (one Argon2 verify)
    assert _refusal(lambda: auth.login(ctx, "bob", "wrong-password")) == unknown
    assert len(argon2_calls) == 1
    # the right password does not let in while locked, and says nothing different either
    refused = _refusal(lambda: auth.login(ctx, "bob", PASSWORD))
    assert refused == unknown and "locked after" not in refused
    admin.reset_lockout(ctx, cli_actor(), "bob")
    assert auth.login(ctx, "bob", PASSWORD).username == "bob"
    assert "auth.login_refused_locked" in _actions(ctx)


def test_totp_code_cannot_be_replayed(ctx: AppContext) -> None:
    make_user(ctx, "dave", Role.CLINICIAN)
    secret = admin.enrol_totp(ctx, cli_actor(), "dave")
    code = pyotp.TOTP(secret).now()
    assert auth.login(ctx, "dave", PASSWORD, code).username == "dave"
    with pytest.raises(AuthenticationError, match="code is not valid"):
        auth.login(ctx, "dave", PASSWORD, code)  # the same code, seconds later
    previous = pyotp.TOTP(secret).at(time.time() - 30)
    with pytest.raises(AuthenticationError, match="code is not valid"):
        auth.login(ctx, "dave", PASSWORD, previous)  # an older step is never accepted again
    step = ctx.store.read(
        lambda s: s.scalar(select(User.totp_last_step).where(User.username == "dave"))
    )
    assert step is not None and step >= int(time.time() // 30) - 1
    # the next step's code (within the drift window) still works once
    following = pyotp.TOTP(secret).at((step + 1) * 30)
    assert auth.login(ctx, "dave", PASSWORD, following).username == "dave"
    with pytest.raises(AuthenticationError):
        auth.login(ctx, "dave", PASSWORD, following)


def test_idle_screen_cannot_unlock_a_locked_account(ctx: AppContext) -> None:
    me = make_user(ctx, "frank", Role.CLINICIAN)
    for _ in range(ctx.settings.lockout_threshold):
        with pytest.raises(AuthenticationError):
            auth.login(ctx, "frank", "wrong-password")
    assert _locked(ctx, "frank")
    assert not auth.verify_unlock(ctx, me, PASSWORD)  # right password, but locked


def test_idle_screen_guessing_counts_toward_lockout(ctx: AppContext) -> None:
    me = make_user(ctx, "gail", Role.CLINICIAN)
    for _ in range(ctx.settings.lockout_threshold):
        assert not auth.verify_unlock(ctx, me, "wrong-password")
    assert _locked(ctx, "gail")
    assert not auth.verify_unlock(ctx, me, PASSWORD)
    assert "auth.locked" in _actions(ctx)


def test_deactivated_user_cannot_sign_in_and_session_ends(ctx: AppContext) -> None:
    boss = make_user(ctx, "boss", Role.ADMIN)
    me = make_user(ctx, "henry", Role.CLINICIAN)
    assert auth.refresh(ctx, me) == me
    admin.deactivate_user(ctx, boss, "henry")
    with pytest.raises(AuthenticationError, match=auth.GENERIC):
        auth.login(ctx, "henry", PASSWORD)
    with pytest.raises(auth.SessionEndedError):
        auth.refresh(ctx, me)  # the live session's minute check
    with pytest.raises(auth.SessionEndedError):
        auth.verify_unlock(ctx, me, PASSWORD)  # and the idle screen
    actions = _actions(ctx)
    assert "user.deactivate" in actions and "auth.session_ended" in actions


def test_role_change_ends_the_session(ctx: AppContext) -> None:
    me = make_user(ctx, "ida", Role.SUPERVISOR)

    def demote(uow) -> None:  # no role-edit service yet: change the row as a migration would
        uow.session.get(User, me.user_id).role = Role.CLINICIAN.value

    ctx.store.write(demote)
    with pytest.raises(auth.SessionEndedError):
        auth.refresh(ctx, me)
    assert auth.login(ctx, "ida", PASSWORD).role is Role.CLINICIAN


def test_deactivation_rules(ctx: AppContext) -> None:
    boss = make_user(ctx, "boss", Role.ADMIN)
    doc = make_user(ctx, "doc", Role.CLINICIAN)
    make_user(ctx, "doc2", Role.CLINICIAN)
    with pytest.raises(PermissionDeniedError):
        admin.deactivate_user(ctx, doc, "doc2")
    with pytest.raises(ValidationError, match="your own"):
        admin.deactivate_user(ctx, boss, "boss")
    with pytest.raises(ValidationError, match="last active administrator"):
        admin.deactivate_user(ctx, cli_actor(), "boss")
    make_user(ctx, "boss2", Role.ADMIN)
    admin.deactivate_user(ctx, cli_actor(), "boss")
    assert not next(u for u in admin.list_users(ctx, cli_actor()) if u.username == "boss").active


def test_reset_password_clears_lockout_and_is_audited(ctx: AppContext) -> None:
    boss = make_user(ctx, "boss", Role.ADMIN)
    make_user(ctx, "jane", Role.CLINICIAN)
    for _ in range(ctx.settings.lockout_threshold):
        with pytest.raises(AuthenticationError):
            auth.login(ctx, "jane", "wrong-password")
    with pytest.raises(ValidationError, match="at least"):
        admin.reset_password(ctx, boss, "jane", "short")
    assert _locked(ctx, "jane")  # nothing changed
    admin.reset_password(ctx, boss, "jane", NEW_PASSWORD)
    assert not _locked(ctx, "jane")
    _assert_password_replaced(ctx, "jane", "user.password_reset")


def test_change_password(ctx: AppContext) -> None:
    me = make_user(ctx, "kate", Role.CLINICIAN)
    with pytest.raises(ValidationError, match="differ"):
        auth.change_password(ctx, me, PASSWORD, PASSWORD)
    with pytest.raises(ValidationError, match="at least"):
        auth.change_password(ctx, me, PASSWORD, "short")
    with pytest.raises(AuthenticationError, match=auth.GENERIC):
        auth.change_password(ctx, me, "wrong-password", NEW_PASSWORD)
    auth.change_password(ctx, me, PASSWORD, NEW_PASSWORD)
    _assert_password_replaced(ctx, "kate", "user.password_change")


def test_change_password_guessing_counts_toward_lockout(ctx: AppContext) -> None:
    me = make_user(ctx, "liam", Role.CLINICIAN)
    for _ in range(ctx.settings.lockout_threshold):
        with pytest.raises(AuthenticationError):
            auth.change_password(ctx, me, "wrong-password", NEW_PASSWORD)
    assert _locked(ctx, "liam")
    with pytest.raises(AuthenticationError):
        auth.change_password(ctx, me, PASSWORD, NEW_PASSWORD)
    assert _locked(ctx, "liam")


def test_stronger_policy_rehashes_on_sign_in(env: dict, tmp_path: Path) -> None:
    ctx = AppContext.open(load_settings(env))
    try:
        make_user(ctx, "mia", Role.CLINICIAN)
    finally:
        ctx.close()
    (tmp_path / "policy.toml").write_text("[policy]\npassword_time_cost = 3\n")
    ctx = AppContext.open(load_settings(env))
    try:

        def stored() -> str:
            return ctx.store.read(
                lambda s: s.scalar(select(User.password_hash).where(User.username == "mia"))
            )

        assert ",t=2," in stored()
        auth.login(ctx, "mia", PASSWORD)
        assert ",t=3," in stored()
        assert auth.login(ctx, "mia", PASSWORD).username == "mia"
        assert "auth.rehash" in _actions(ctx)
    finally:
        ctx.close()
