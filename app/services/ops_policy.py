"""Thresholds for clinic operations (model monitoring, security rules, system health, dashboard).

The built-in values ship in resources/operations/defaults.json; IT tunes them in the policy
file's `[policy.operations]` table (e.g. `[policy.operations.models] psi_alert = 0.2`). An
unknown section or key, or a value of the wrong type, is refused naming the key, so a typo in
the policy cannot silently switch a check off.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from app.core.config import Settings
from app.core.errors import ConfigError


@cache
def defaults() -> dict[str, dict[str, float]]:
    """The shipped thresholds, per section."""
    text = resources.files("resources").joinpath("operations/defaults.json").read_text("utf-8")
    data: dict[str, dict[str, float]] = json.loads(text)
    return data


def _number(section: str, key: str, value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"policy operations.{section}.{key} must be a number")
    if value < 0:
        raise ConfigError(f"policy operations.{section}.{key} must not be negative")
    if isinstance(default, int) and not isinstance(default, bool) and not isinstance(value, int):
        raise ConfigError(f"policy operations.{section}.{key} must be a whole number")
    return value


def section(settings: Settings, name: str) -> dict[str, float]:
    """One section's thresholds: the defaults with IT's overrides applied (validated)."""
    base = defaults()
    if name not in base:
        raise KeyError(name)
    overrides = settings.operations or {}
    for sec in overrides:
        if sec not in base:
            raise ConfigError(f"policy operations: unknown section '{sec}'")
    own = overrides.get(name, {})
    if not isinstance(own, dict):
        raise ConfigError(f"policy operations.{name} must be a table")
    out = dict(base[name])
    for key, value in own.items():
        if key not in out:
            raise ConfigError(f"policy operations.{name}: unknown setting '{key}'")
        out[key] = _number(name, key, value, out[key])
    return out
