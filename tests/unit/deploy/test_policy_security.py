"""IT's policy wins: a user's environment cannot weaken security settings outside a development
build, and the store key is kept only in an OS secure keyring (or one IT allows by name)."""

from __future__ import annotations

import logging
import sys
from contextlib import closing
from pathlib import Path

import keyring
import pytest

from app.core import config
from app.core.config import SECURITY_SETTINGS, is_dev_build, load_settings
from app.core.domain import Role
from app.core.errors import AuthenticationError, KeyringUnavailableError
from app.services import auth
from app.services.context import AppContext
from tests.conftest import PASSWORD
from tests.support.plaintext_keyring import PlaintextKeyring
from tests.support.records import add_user


@pytest.fixture
def system_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """IT's system-wide policy file (default_policy_path points here for the test)."""
    path = tmp_path / "etc" / "policy.toml"
    path.parent.mkdir()
    path.write_text("[policy]\nmfa_required = true\nlockout_threshold = 3\n")
    monkeypatch.setattr(config, "default_policy_path", lambda: path)
    return path


def _user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A normal (non-development) build run by a user who sets variables."""
    return {"NOVAMIND_DATA_DIR": str(tmp_path / "data"), "NOVAMIND_DEV": "0", **extra}


def _load_logging(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> config.Settings:
    """Settings from `env`, with the config module's warnings captured."""
    with caplog.at_level(logging.WARNING, logger="app.core.config"):
        return load_settings(env)


def _dev_env(tmp_path: Path, policy: Path, **extra: str) -> dict[str, str]:
    """A development run (NOVAMIND_DEV=1) pointed at its own policy file."""
    return _user_env(tmp_path, NOVAMIND_DEV="1", NOVAMIND_POLICY=str(policy), **extra)


def test_env_cannot_turn_mfa_off_in_a_normal_build(
    tmp_path: Path, system_policy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = _user_env(tmp_path, NOVAMIND_MFA_REQUIRED="0", NOVAMIND_LOCKOUT_THRESHOLD="100")
    s = _load_logging(env, caplog)
    assert s.mfa_required and s.lockout_threshold == 3
    assert "mfa_required" in s.locked_by_policy
    # the attack, end to end: a user without an authenticator still cannot sign in
    with closing(AppContext.open(s)) as ctx:
        add_user(ctx, "eve", Role.IT)
        with pytest.raises(AuthenticationError, match="two-factor"):
            auth.login(ctx, "eve", PASSWORD)


def test_env_cannot_set_a_security_setting_the_policy_leaves_out(
    tmp_path: Path, system_policy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = _user_env(tmp_path, NOVAMIND_IDLE_LOCK_MINUTES="240", NOVAMIND_SYNC_BUCKET="b1")
    s = _load_logging(env, caplog)
    assert s.idle_lock_minutes == 15  # the default, not the user's 240
    assert s.sync_bucket == "b1"  # an ordinary setting still comes from the environment
    assert any("NOVAMIND_IDLE_LOCK_MINUTES" in r.getMessage() for r in caplog.records)


def test_policy_dev_null_does_not_escape_the_system_policy(
    tmp_path: Path, system_policy: Path
) -> None:
    s = load_settings(_user_env(tmp_path, NOVAMIND_POLICY="/dev/null"))
    assert s.policy_path == system_policy and s.mfa_required and s.lockout_threshold == 3
    own = tmp_path / "mine.toml"
    own.write_text("[policy]\nmfa_required = false\nsync_region = 'eu-west-1'\n")
    s = load_settings(_user_env(tmp_path, NOVAMIND_POLICY=str(own)))
    assert s.mfa_required and s.sync_region == "eu-west-1"  # only its ordinary settings count


def test_user_settings_cannot_beat_the_policy(tmp_path: Path, system_policy: Path) -> None:
    system_policy.write_text("[policy]\nidle_lock_minutes = 5\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "settings.json").write_text('{"idle_lock_minutes": 240}')
    assert load_settings(_user_env(tmp_path)).idle_lock_minutes == 5


def test_development_build_may_override_and_logs_the_setting_name_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev_policy = tmp_path / "dev.toml"
    dev_policy.write_text("[policy]\nlockout_threshold = 9\n")
    env = _dev_env(tmp_path, dev_policy, NOVAMIND_MFA_REQUIRED="1", NOVAMIND_LOCKOUT_THRESHOLD="50")
    config._warned.clear()
    s = _load_logging(env, caplog)
    assert s.policy_path == dev_policy and s.mfa_required
    assert s.lockout_threshold == 9  # even in development the policy file wins over the env
    messages = [r.getMessage() for r in caplog.records]
    assert any("mfa_required" in m for m in messages)
    assert not any("'1'" in m or "50" in m for m in messages)  # names, never values


def test_a_frozen_bundle_is_never_a_development_build(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_dev_build({"NOVAMIND_DEV": "1"})
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert not is_dev_build({"NOVAMIND_DEV": "1"})


def test_the_security_settings_are_the_documented_ones() -> None:
    assert {"mfa_required", "keyring_backends_allowed", "model_trust_file"} <= SECURITY_SETTINGS
    assert SECURITY_SETTINGS <= set(config.documented_settings())


def test_plaintext_keyring_is_refused(settings: config.Settings) -> None:
    keyring.set_keyring(PlaintextKeyring())
    with pytest.raises(KeyringUnavailableError, match="not the operating system's secure store"):
        AppContext.open(settings)
    assert not settings.db_path.exists()


def test_policy_may_allow_a_backend_by_class_name(
    tmp_path: Path, system_policy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVAMIND_DEV", "0")  # the allowance must come from IT's policy
    monkeypatch.setenv("NOVAMIND_TEST_KEYRING_FILE", str(tmp_path / "kr.json"))
    keyring.set_keyring(PlaintextKeyring())
    s = load_settings(_user_env(tmp_path))
    with pytest.raises(KeyringUnavailableError):
        AppContext.open(s)
    name = f"{PlaintextKeyring.__module__}.PlaintextKeyring"
    system_policy.write_text(f'[policy]\nkeyring_backends_allowed = ["{name}"]\n')
    AppContext.open(s).close()


def test_a_development_run_keeps_the_security_settings_of_a_system_policy(
    tmp_path: Path, system_policy: Path
) -> None:
    """NOVAMIND_DEV=1 on a machine IT manages: another policy file and the environment may
    change ordinary settings, never the security settings IT's file pins."""
    other = tmp_path / "mine.toml"
    other.write_text('[policy]\nmfa_required = false\nsync_bucket = "dev-bucket"\n')
    env = _dev_env(tmp_path, other, NOVAMIND_MFA_REQUIRED="0")
    s = load_settings(env)
    assert s.mfa_required and s.lockout_threshold == 3
    assert s.sync_bucket == "dev-bucket"
