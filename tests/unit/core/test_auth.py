from __future__ import annotations

from contextlib import closing

import pyotp
import pytest

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import AuthenticationError
from app.services import admin, auth
from app.services.context import AppContext, cli_actor
from tests.conftest import PASSWORD, make_user
from tests.support.records import add_user


def test_login_and_wrong_password(ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.CLINICIAN)
    with pytest.raises(AuthenticationError, match="Invalid credentials or account locked"):
        auth.login(ctx, "alice", "nope-nope")
    with pytest.raises(AuthenticationError, match="Invalid credentials or account locked"):
        auth.login(ctx, "nobody", PASSWORD)
    assert auth.login(ctx, "alice", PASSWORD).role is Role.CLINICIAN


def test_lockout_after_five_failures_and_reset(ctx: AppContext) -> None:
    make_user(ctx, "bob", Role.CLINICIAN)
    for _ in range(5):
        with pytest.raises(AuthenticationError, match=auth.GENERIC):
            auth.login(ctx, "bob", "wrong-password")
    with pytest.raises(AuthenticationError, match=auth.GENERIC):  # right password, still locked
        auth.login(ctx, "bob", PASSWORD)
    assert admin.list_users(ctx, cli_actor())[0].locked
    bob = admin.list_users(ctx, cli_actor())[0].id
    assert admin.get_user(ctx, cli_actor(), bob) == admin.list_users(ctx, cli_actor())[0]
    admin.reset_lockout(ctx, cli_actor(), "bob")
    assert auth.login(ctx, "bob", PASSWORD).username == "bob"
    got = admin.get_user(ctx, cli_actor(), bob)
    assert got is not None and not got.locked
    assert admin.get_user(ctx, cli_actor(), "no-such-id") is None


def test_policy_changes_lockout_threshold(env: dict, tmp_path) -> None:
    (tmp_path / "policy.toml").write_text("[policy]\nlockout_threshold = 2\n")
    ctx = AppContext.open(load_settings(env))
    try:
        make_user(ctx, "carol", Role.CLINICIAN)
        for _ in range(2):
            with pytest.raises(AuthenticationError):
                auth.login(ctx, "carol", "wrong-password")
        with pytest.raises(AuthenticationError, match=auth.GENERIC):
            auth.login(ctx, "carol", PASSWORD)
    finally:
        ctx.close()


def test_totp_second_factor(ctx: AppContext) -> None:
    make_user(ctx, "dave", Role.CLINICIAN)
    secret = admin.enrol_totp(ctx, cli_actor(), "dave")
    with pytest.raises(auth.SecondFactorRequiredError):
        auth.login(ctx, "dave", PASSWORD)
    with pytest.raises(AuthenticationError, match="code is not valid"):
        auth.login(
            ctx, "dave", PASSWORD, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
        )
    assert auth.login(ctx, "dave", PASSWORD, pyotp.TOTP(secret).now()).username == "dave"


def test_policy_requires_mfa(env: dict, tmp_path) -> None:
    (tmp_path / "policy.toml").write_text("[policy]\nmfa_required = true\n")
    with closing(AppContext.open(load_settings(env))) as ctx:
        add_user(ctx, "erin", Role.CLINICIAN)
        with pytest.raises(AuthenticationError, match="requires two-factor"):
            auth.login(ctx, "erin", PASSWORD)


def test_unlock_rechecks_password(ctx: AppContext) -> None:
    me = make_user(ctx, "frank", Role.CLINICIAN)
    assert auth.verify_unlock(ctx, me, PASSWORD)
    assert not auth.verify_unlock(ctx, me, "wrong-password")


def test_passwords_are_argon2_hashed(ctx: AppContext) -> None:
    make_user(ctx, "gina", Role.CLINICIAN)
    from sqlalchemy import select

    from app.core.store.models import User

    stored = ctx.store.read(
        lambda s: s.scalar(select(User.password_hash).where(User.username == "gina"))
    )
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
