from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.config import load_settings, save_user_setting
from app.core.errors import ConfigError


def test_defaults(env: dict) -> None:
    s = load_settings(env)
    assert s.idle_lock_minutes == 15 and s.lockout_threshold == 5 and not s.mfa_required
    assert s.model_dirs[0] == s.user_model_dir


def test_policy_wins_over_user_settings(env: dict, tmp_path: Path) -> None:
    data = Path(env["NOVAMIND_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "settings.json").write_text(json.dumps({"idle_lock_minutes": 30, "theme": "dark"}))
    (tmp_path / "policy.toml").write_text(
        '[policy]\nidle_lock_minutes = 5\nmodel_dirs = ["/opt/models"]\nsync_bucket = "clinic-a"\n'
    )
    s = load_settings(env)
    assert s.idle_lock_minutes == 5 and s.theme == "dark" and s.sync_bucket == "clinic-a"
    assert Path("/opt/models") in s.model_dirs
    with pytest.raises(ConfigError, match="organisation's policy"):
        save_user_setting(s, "idle_lock_minutes", 60)
    assert save_user_setting(s, "theme", "light").theme == "light"
    assert load_settings(env).theme == "light"


def test_environment_overrides(env: dict) -> None:
    env = {**env, "NOVAMIND_IDLE_LOCK_MINUTES": "1"}
    assert load_settings(env).idle_lock_minutes == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[policy\n", "not valid TOML"),
        ("[policy]\nidle_lock_minutes = 'soon'\n", "must be int"),
        ("[policy]\nidle_lock_minutes = 0\n", "between 1 and 240"),
        ("[policy]\nunknown_knob = 1\n", "unknown setting 'unknown_knob'"),
        ("[policy]\nmfa_required = 1\n", "must be bool"),
    ],
)
def test_bad_policy_names_file_and_problem(
    env: dict, tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "policy.toml").write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(env)
    assert "policy.toml" in str(info.value)


def test_user_may_not_set_policy_only_keys(env: dict) -> None:
    data = Path(env["NOVAMIND_DATA_DIR"])
    data.mkdir(parents=True)
    (data / "settings.json").write_text(json.dumps({"mfa_required": False}))
    with pytest.raises(ConfigError, match="settings.json: unknown setting 'mfa_required'"):
        load_settings(env)
