"""C-SSRS behaviour and PHQ-9 item 9 raise the twin's risk signal and the alert level.

Table-driven over answer patterns, through the real scoring engine, alert rules, twin service and
store (issue 20, item 3). Alert level = the most severe alert the submission raised (the
product's severities: None, "warning", "critical").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.store.models import Alert
from app.services import assessments, twin
from app.services.context import AppContext
from tests.support.records import add_patient

NO = {"q1": 0, "q2": 0}
WISH = {"q1": 1, "q2": 0}
METHOD = {"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0}
INTENT = {"q1": 1, "q2": 1, "q3": 0, "q4": 1, "q5": 0}
PLAN = {"q1": 1, "q2": 1, "q3": 1, "q4": 1, "q5": 1}
NONE_B = {"q6": 0}
LIFETIME = {"q6": 1, "q6_recent": 0}
RECENT = {"q6": 1, "q6_recent": 1}

# name → (ideation, behaviour, expected cssrs.ideation_severity, expected alert level)
CSSRS: dict[str, tuple[dict[str, int], dict[str, int], float, str | None]] = {
    "none": (NO, NONE_B, 0, None),
    "none+lifetime": (NO, LIFETIME, 3, "warning"),
    "none+recent": (NO, RECENT, 5, "critical"),
    "wish": (WISH, NONE_B, 1, None),
    "wish+lifetime": (WISH, LIFETIME, 3, "warning"),
    "wish+recent": (WISH, RECENT, 5, "critical"),
    "method": (METHOD, NONE_B, 3, None),
    "method+lifetime": (METHOD, LIFETIME, 3, "warning"),
    "method+recent": (METHOD, RECENT, 5, "critical"),
    "intent": (INTENT, NONE_B, 4, "critical"),
    "intent+lifetime": (INTENT, LIFETIME, 4, "critical"),
    "intent+recent": (INTENT, RECENT, 5, "critical"),
    "plan": (PLAN, NONE_B, 5, "critical"),
    "plan+lifetime": (PLAN, LIFETIME, 5, "critical"),
    "plan+recent": (PLAN, RECENT, 5, "critical"),
}
RANK = {None: 0, "warning": 1, "critical": 2}


def _submit(
    ctx: AppContext, me: Principal, mrn: str, instrument: str, answers: dict[str, int]
) -> tuple[dict[str, float], str | None, list[str], float]:
    """One fresh patient, one administration: (twin readings by source, alert level, alert
    rules, risk_signal estimate today)."""
    patient = add_patient(ctx, me, mrn)
    out = assessments.submit(ctx, me, patient, instrument, answers)
    twin.update(ctx, me, patient)
    state = twin.latest_state(ctx, me, patient)
    if state is None:
        raise AssertionError("the twin has no state after an observation")
    readings = {o.source: o.value for o in state.observations}
    alerts = [a for a in _alerts(ctx, me, patient) if a[0] in out.alert_ids]
    level = max((sev for _, sev, _ in alerts), key=RANK.__getitem__, default=None)
    risk = state.estimate("risk_signal", datetime.now(UTC)).mean
    return readings, level, sorted(rule for _, _, rule in alerts), risk


def _alerts(ctx: AppContext, me: Principal, patient: str) -> list[tuple[str, str, str]]:
    return [
        (a.id, a.severity, a.rule)
        for a in ctx.store.read(
            lambda s: list(s.scalars(select(Alert).where(Alert.patient_id == patient)))
        )
    ]


def test_cssrs_behaviour_raises_risk_reading_and_alert(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    got: dict[str, tuple[float, str | None]] = {}
    risk: dict[str, float] = {}
    rules: dict[str, list[str]] = {}
    for i, (name, (ideation, behaviour, _, _)) in enumerate(CSSRS.items()):
        readings, level, fired, risk[name] = _submit(
            ctx, me, f"C-{i}", "cssrs_screener", ideation | behaviour
        )
        got[name] = (readings["cssrs.ideation_severity"], level)
        rules[name] = fired
    assert got == {name: (value, level) for name, (_, _, value, level) in CSSRS.items()}
    for name in CSSRS:
        if "+" not in name:
            continue
        base = name.split("+")[0]
        # behaviour never lowers the reading, the alert level or the twin's risk estimate
        assert got[name][0] >= got[base][0], name
        assert RANK[got[name][1]] >= RANK[got[base][1]], name
        assert risk[name] >= risk[base] - 1e-9, name
    # recent behaviour alone: as high as intent with a plan; before the fix it read 0 (= "none")
    assert got["none+recent"][0] == got["plan"][0] and risk["none+recent"] > risk["none"]
    assert risk["none+lifetime"] > risk["none"]
    # one alert per administration: the critical one suppresses the lifetime warning (group)
    assert rules["none+lifetime"] == ["cssrs_behaviour_lifetime"]
    assert rules["none+recent"] == rules["intent+lifetime"] == ["cssrs_high_risk"]


def test_phq9_item9_raises_risk_reading_and_critical_alert(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    rest: dict[str, Any] = {f"q{i}": 1 for i in range(1, 9)}
    got = {}
    risk = []
    for q9 in range(4):
        readings, level, fired, r = _submit(ctx, me, f"P-{q9}", "phq9", rest | {"q9": q9})
        got[q9] = (readings["phq9.item9"], level, fired)
        risk.append(r)
    assert got == {
        0: (0, None, []),
        1: (1, "critical", ["phq9_item9_positive"]),
        2: (2, "critical", ["phq9_item9_positive"]),
        3: (3, "critical", ["phq9_item9_positive"]),
    }
    assert risk == sorted(risk) and risk[3] > risk[0]
