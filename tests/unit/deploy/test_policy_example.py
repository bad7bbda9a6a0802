"""deploy/policy.example.toml is IT's reference: it must parse with the real policy loader,
set EVERY policy setting, and its alert rules must merge over the built-ins; a policy that
weakens a locked safety rule stops start-up with a message naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.core.config import documented_settings, load_settings, read_policy
from app.core.errors import ConfigError
from engines.errors import EngineConfigError
from engines.scoring.alerts import load_rules
from tests.conftest import REPO

EXAMPLE = REPO / "deploy" / "policy.example.toml"


def _env(tmp_path: Path, policy: Path) -> dict[str, str]:
    return {"NOVAMIND_DATA_DIR": str(tmp_path / "data"), "NOVAMIND_POLICY": str(policy)}


def test_example_sets_every_policy_setting() -> None:
    policy = read_policy(EXAMPLE)
    assert set(policy) == set(documented_settings())


def test_every_setting_is_explained_in_a_comment() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for name in documented_settings():
        starts = (f"{name} =", f"[[policy.{name}]]", f"[policy.{name}.")
        i = next(i for i, line in enumerate(lines) if line.startswith(starts))
        assert lines[i - 1].startswith("#"), f"{name}: no comment above it"


def test_example_is_what_the_app_runs_with(tmp_path: Path) -> None:
    s = load_settings(_env(tmp_path, EXAMPLE))
    assert s.idle_lock_minutes == 10 and s.mfa_required and s.lockout_threshold == 5
    assert (s.sync_bucket, s.sync_region) == ("novamind-bundles-stmarys", "eu-west-1")
    assert s.proxy.startswith("http://") and s.ca_bundle.endswith(".pem")
    assert Path("/opt/novamind/models") in s.model_dirs
    assert s.model_dirs[0] == s.user_model_dir  # the user's own folder stays first
    assert s.backup_interval_hours == 24 and s.retention_discharged_days == 365
    assert set(documented_settings()) <= s.locked_by_policy
    rules = {r.id: r for r in load_rules(s.alert_rules, source=str(EXAMPLE))}
    assert dict(rules["risk_prediction_warning"].params)["threshold"] == 0.65
    assert not rules["hamd17_item3"].enabled
    assert rules["stmarys_gad7_severe"].severity == "warning"
    assert rules["phq9_item9_positive"].enabled and rules["phq9_item9_positive"].locked


def test_policy_may_not_disable_a_locked_safety_rule(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    bad = tmp_path / "policy.toml"
    bad.write_text(
        text + '\n[[policy.alert_rules]]\nid = "phq9_item9_positive"\nenabled = false\n',
        encoding="utf-8",
    )
    assert tomllib.loads(bad.read_text(encoding="utf-8"))  # valid TOML, invalid policy
    settings = load_settings(_env(tmp_path, bad))
    with pytest.raises(EngineConfigError) as err:  # the engine's own error type
        load_rules(settings.alert_rules, source=str(settings.policy_path))
    message = str(err.value)
    assert str(bad) in message and "phq9_item9_positive" in message and "locked" in message


def test_alert_rules_must_be_tables(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('[policy]\nalert_rules = ["phq9_rise"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="alert_rules.*list of tables"):
        load_settings(_env(tmp_path, bad))
