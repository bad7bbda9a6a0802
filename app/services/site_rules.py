"""The alert rules in force on this workstation: the built-ins with IT's policy merged over them.

Why a process-wide setting: the site policy is read once per process (app/core/config.py) and every
path that raises alerts (assessments, predictions, imports, the demo) must use the same rules.
``AppContext.open`` installs them, so a bad ``alert_rules`` entry stops the app at start with a
message naming the policy file and the rule, instead of failing on the first assessment.
"""

from __future__ import annotations

from app.core.config import Settings
from app.services._engine_errors import translates_engine_errors
from engines.scoring.alerts import AlertRule, load_rules

_active: tuple[AlertRule, ...] | None = None


@translates_engine_errors
def install(settings: Settings) -> tuple[AlertRule, ...]:
    """Validate the policy's rules against the built-ins and make them the rules in force."""
    global _active
    source = str(settings.policy_path) if settings.policy_path else "policy"
    _active = load_rules(settings.alert_rules, source=source)
    return _active


@translates_engine_errors
def active_rules() -> tuple[AlertRule, ...]:
    """The installed rules (the built-ins alone before a context was opened)."""
    return _active if _active is not None else load_rules()
