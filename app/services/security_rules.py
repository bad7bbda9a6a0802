"""Security-monitoring rules as data: the built-ins and IT's `security_rules` policy tables.

The shipped rules live in resources/security_rules/builtin.json. IT tunes one by giving its
`id` and the keys to change (a threshold, a window, the severity, `enabled = false`) or adds a
rule with a new id and every required key. Anything malformed is refused naming the rule and
the key, when the policy is used, so a typo cannot silently switch a check off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.config import Settings
from app.core.errors import ConfigError

KINDS = frozenset({"count_in_window", "distinct_patients_in_window", "off_hours", "event_present"})
SEVERITIES = frozenset({"critical", "warning", "info"})
SCOPES = frozenset({"any", "unassigned"})
WINDOWED = frozenset({"count_in_window", "distinct_patients_in_window", "off_hours"})
PATIENT_KINDS = frozenset({"distinct_patients_in_window", "off_hours"})
KEYS = frozenset(
    {
        "id",
        "title",
        "description",
        "kind",
        "actions",
        "window_minutes",
        "threshold",
        "severity",
        "scope",
        "start_hour",
        "end_hour",
        "timezone",
        "enabled",
    }
)
MAX_WINDOW_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class SecurityRule:
    """One validated rule. `actions` are exact audit action names or prefixes ending in '*'."""

    id: str
    title: str
    kind: str
    actions: tuple[str, ...]
    severity: str
    window_minutes: int = 0
    threshold: int = 1
    scope: str = "any"
    start_hour: int = 20
    end_hour: int = 7
    timezone: str = "local"
    description: str = ""
    enabled: bool = True

    @property
    def needs_patient(self) -> bool:
        """Rules that count charts consider only events that name a patient."""
        return self.kind in PATIENT_KINDS or self.scope == "unassigned"

    def utc_offset(self, at: datetime) -> timedelta:
        """The clinic's offset from UTC at `at` (off-hours rules; daylight saving included)."""
        return utc_offset(self.timezone, at)


def utc_offset(zone: str, at: datetime) -> timedelta:
    """Offset of time zone `zone` (an IANA name, or "local": this workstation's) at `at`."""
    local = at.astimezone() if zone == "local" else at.astimezone(ZoneInfo(zone))
    return local.utcoffset() or timedelta(0)


@cache
def builtin() -> tuple[dict[str, Any], ...]:
    """The shipped rule tables (unvalidated; `rules` validates them with IT's)."""
    text = resources.files("resources").joinpath("security_rules/builtin.json").read_text("utf-8")
    data = json.loads(text)
    return tuple(data["rules"])


def _bad(rule_id: str, key: str, why: str) -> ConfigError:
    return ConfigError(f"policy security_rules: rule '{rule_id}': '{key}' {why}")


def _int(rule_id: str, table: dict[str, Any], key: str, lo: int, hi: int) -> None:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(rule_id, key, "must be a whole number")
    if not lo <= value <= hi:
        raise _bad(rule_id, key, f"must be between {lo} and {hi}")


def _validate(table: dict[str, Any]) -> SecurityRule:
    rid = table["id"]
    for key in table:
        if key not in KEYS:
            raise _bad(rid, key, "is not a rule setting")
    for key in ("title", "kind", "actions", "severity"):
        if key not in table:
            raise _bad(rid, key, "is required")
    if not isinstance(table["title"], str) or not table["title"].strip():
        raise _bad(rid, "title", "must be a non-empty text")
    if not isinstance(table.get("description", ""), str):
        raise _bad(rid, "description", "must be text")
    if table["kind"] not in KINDS:
        raise _bad(rid, "kind", f"must be one of {', '.join(sorted(KINDS))}")
    actions = table["actions"]
    if (
        not isinstance(actions, list | tuple)
        or not actions
        or not all(isinstance(a, str) and a.strip() and len(a) <= 48 for a in actions)
    ):
        raise _bad(rid, "actions", "must be a non-empty list of audit action names")
    if any("*" in a[:-1] for a in actions):
        raise _bad(rid, "actions", "may use '*' only at the end of a name")
    if table["severity"] not in SEVERITIES:
        raise _bad(rid, "severity", f"must be one of {', '.join(sorted(SEVERITIES))}")
    if table.get("scope", "any") not in SCOPES:
        raise _bad(rid, "scope", "must be any or unassigned")
    if not isinstance(table.get("enabled", True), bool):
        raise _bad(rid, "enabled", "must be true or false")
    if table["kind"] in WINDOWED:
        for key in ("window_minutes", "threshold"):
            if key not in table:
                raise _bad(rid, key, f"is required for a {table['kind']} rule")
        _int(rid, table, "window_minutes", 1, MAX_WINDOW_MINUTES)
        _int(rid, table, "threshold", 1, 1_000_000)
    if table["kind"] == "off_hours":
        for key in ("start_hour", "end_hour"):
            if key in table:
                _int(rid, table, key, 0, 23)
        if table.get("start_hour", 20) == table.get("end_hour", 7):
            raise _bad(rid, "end_hour", "must differ from start_hour")
        tz = table.get("timezone", "local")
        if not isinstance(tz, str):
            raise _bad(rid, "timezone", "must be an IANA time zone name or 'local'")
        try:
            utc_offset(tz, datetime.now(UTC))
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad(rid, "timezone", f"names no known time zone ('{tz}')") from None
    fields = {k: v for k, v in table.items() if k in KEYS}
    fields["actions"] = tuple(a.strip() for a in actions)
    return SecurityRule(**fields)


def rules(settings: Settings) -> tuple[SecurityRule, ...]:
    """The enabled rules: built-ins with IT's changes and additions applied (validated)."""
    merged: dict[str, dict[str, Any]] = {r["id"]: dict(r) for r in builtin()}
    for position, override in enumerate(settings.security_rules, start=1):
        rid = override.get("id")
        if not isinstance(rid, str) or not rid.strip():
            raise ConfigError(f"policy security_rules: table {position} has no 'id'")
        if len(rid) > 64:
            raise _bad(rid[:64], "id", "must be at most 64 characters")
        for key in override:
            if key not in KEYS:
                raise _bad(rid, key, "is not a rule setting")
        merged[rid] = {**merged.get(rid, {}), **override}
    out = tuple(_validate(t) for t in merged.values())
    return tuple(r for r in out if r.enabled)
