"""IT's alert-rule policy takes effect when a context opens, and a bad one stops the app there."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import load_settings
from app.core.errors import ConfigError
from app.services import site_rules
from app.services.context import AppContext
from app.services.instrument_catalog import rule_names
from engines.scoring.alerts import load_rules


def _settings(tmp_path: Path, policy: str) -> object:
    path = tmp_path / "policy.toml"
    path.write_text(policy, encoding="utf-8")
    return load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp_path / "data"), "NOVAMIND_POLICY": str(path)}
    )


@pytest.fixture(autouse=True)
def _builtins_afterwards() -> object:
    yield
    site_rules._active = None  # other tests expect the built-ins alone


def test_policy_rule_renames_a_builtin_for_every_alert_path(tmp_path: Path) -> None:
    builtin = load_rules()[0]
    ctx = AppContext.open(
        _settings(
            tmp_path,
            f'[policy]\n[[policy.alert_rules]]\nid = "{builtin.id}"\nname = "Site name"\n',
        )
    )
    try:
        assert rule_names()[builtin.id][0] == "Site name"
        assert {r.id for r in site_rules.active_rules()} == {r.id for r in load_rules()}
    finally:
        ctx.close()


def test_weakening_a_locked_rule_is_refused_before_the_store_opens(tmp_path: Path) -> None:
    locked = next(r for r in load_rules() if r.locked)
    settings = _settings(
        tmp_path, f'[policy]\n[[policy.alert_rules]]\nid = "{locked.id}"\nenabled = false\n'
    )
    with pytest.raises(ConfigError) as err:
        AppContext.open(settings)
    assert "policy.toml" in str(err.value) and locked.id in str(err.value)
    assert not settings.db_path.exists()
