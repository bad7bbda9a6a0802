from datetime import UTC, datetime, timedelta

import pytest

from app.core.events import AlertTriggered
from app.services.engine_events import alert_triggered_event
from engines.errors import EngineConfigError, InputError
from engines.scoring.alert_lifecycle import acknowledge, dismiss, new_alert, resolve, transition
from engines.scoring.alerts import (
    builtin_rule_dicts,
    evaluate_rules,
    load_rules,
    merge_policy_rules,
    parse_rule,
)
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import observations_from_result, score
from engines.scoring.observations import Observation, prediction_observation

from .helpers import answers_for_total, zero_answers

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def obs_for(iid, answers, *, patient="p1", aid="a1", days_ago=0.0, params=None):
    result = score(get_instrument(iid), answers, params)
    return observations_from_result(
        result, patient_id=patient, assessment_id=aid, at=NOW - timedelta(days=days_ago)
    )


def phq(total, q9=0, **kw):
    inst = get_instrument("phq9")
    answers = dict(reversed(list(answers_for_total(inst, total - q9).items())))
    answers = {**zero_answers(inst), **answers}
    answers["q9"] = answers.get("q9", 0) + q9
    return obs_for("phq9", answers, **kw)


def fired(observations, rules=None):
    return {
        (c.rule_id, c.patient_id) for c in evaluate_rules(rules or load_rules(), observations, NOW)
    }


def test_builtins_load_and_are_locked_where_safety_critical():
    rules = {r.id: r for r in load_rules()}
    assert (
        rules["phq9_item9_positive"].severity == "critical" and rules["phq9_item9_positive"].locked
    )
    assert rules["cssrs_high_risk"].severity == "critical" and rules["cssrs_high_risk"].locked
    assert (
        rules["cssrs_behaviour_lifetime"].severity == "warning"
        and rules["cssrs_behaviour_lifetime"].locked
    )
    assert rules["phq9_rise"].severity == "warning"
    assert {
        rules["risk_prediction_warning"].severity,
        rules["risk_prediction_critical"].severity,
    } == {
        "warning",
        "critical",
    }


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        (lambda: phq(8, q9=0), set()),
        (lambda: phq(8, q9=1), {("phq9_item9_positive", "p1")}),
        (lambda: phq(8, q9=1, days_ago=20), set()),  # outside the 14-day window
        (lambda: phq(5, aid="a0", days_ago=30) + phq(10, aid="a1"), {("phq9_rise", "p1")}),
        (lambda: phq(5, aid="a0", days_ago=30) + phq(9, aid="a1"), set()),  # rise of 4
        (lambda: phq(5, aid="a0", days_ago=60) + phq(12, aid="a1"), set()),  # baseline too old
        (lambda: phq(12, aid="a0", days_ago=30) + phq(5, aid="a1"), set()),  # improvement
        (
            lambda: obs_for(
                "cssrs_screener", {"q1": 1, "q2": 1, "q3": 0, "q4": 1, "q5": 0, "q6": 0}
            ),
            {("cssrs_high_risk", "p1")},
        ),
        (
            lambda: obs_for(
                "cssrs_screener", {"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 0}
            ),
            set(),
        ),
        (  # suicidal behaviour without ideation: lifetime → warning, within 3 months → critical
            lambda: obs_for("cssrs_screener", {"q1": 0, "q2": 0, "q6": 1, "q6_recent": 0}),
            {("cssrs_behaviour_lifetime", "p1")},
        ),
        (  # the critical rule suppresses the lifetime warning (same group)
            lambda: obs_for("cssrs_screener", {"q1": 0, "q2": 0, "q6": 1, "q6_recent": 1}),
            {("cssrs_high_risk", "p1")},
        ),
        (
            lambda: obs_for("madrs", {**zero_answers(get_instrument("madrs")), "q10": 4}),
            {("madrs_item10", "p1")},
        ),
    ],
)
def test_builtin_rules(observations, expected):
    assert fired(observations()) == expected


def test_rise_uses_lowest_score_in_window():
    observations = phq(9, aid="a0", days_ago=40) + phq(4, aid="a1", days_ago=20) + phq(9, aid="a2")
    cands = [c for c in evaluate_rules(load_rules(), observations, NOW) if c.rule_id == "phq9_rise"]
    assert len(cands) == 1
    assert cands[0].evidence_ids == ("a1/phq9.total", "a2/phq9.total")
    assert cands[0].severity == "warning"
    assert cands[0].due_at() == cands[0].evidence_at + timedelta(hours=24)


@pytest.mark.parametrize(
    ("probability", "expected"),
    [
        (0.1, set()),
        (0.59, set()),
        (0.6, {"risk_prediction_warning"}),
        (0.79, {"risk_prediction_warning"}),
        (0.8, {"risk_prediction_critical"}),
        (0.95, {"risk_prediction_critical"}),
    ],
)
def test_risk_prediction_rules_and_group_suppression(probability, expected):
    o = prediction_observation(
        prediction_id="pr1", patient_id="p9", target="relapse_90d", probability=probability, at=NOW
    )
    assert {r for r, _ in fired([o])} == expected


def test_prediction_probability_validated():
    with pytest.raises(InputError):
        prediction_observation(
            prediction_id="x", patient_id="p", target="t", probability=1.5, at=NOW
        )


def _rule(condition, **kw):
    return parse_rule(
        {"id": "r", "name": "test rule", "severity": "info", "condition": condition, **kw}, "test"
    )


def _o(oid, metric, value, days_ago=0.0, patient="p1"):
    return Observation(oid, patient, metric, value, NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("condition", "expected_evidence"),
    [
        (
            {
                "all": [
                    {"metric": "a", "op": ">", "value": 1},
                    {"metric": "b", "op": "<", "value": 5},
                ]
            },
            ("oa", "ob"),
        ),
        (
            {
                "all": [
                    {"metric": "a", "op": ">", "value": 1},
                    {"metric": "b", "op": ">", "value": 5},
                ]
            },
            None,
        ),
        (
            {
                "any": [
                    {"metric": "a", "op": ">", "value": 9},
                    {"metric": "b", "op": "<", "value": 5},
                ]
            },
            ("ob",),
        ),
        (
            {
                "any": [
                    {"metric": "a", "op": ">", "value": 9},
                    {"metric": "b", "op": ">", "value": 5},
                ]
            },
            None,
        ),
        ({"metric": "a", "op": "==", "value": 2, "window_days": 1}, None),  # oa is 2 days old
        ({"metric": "a", "op": "==", "value": 2, "window_days": 3}, ("oa",)),
        (
            {"metric": "b", "change": "fall", "op": ">=", "value": 6, "window_days": 10},
            ("ob", "ob0"),
        ),
    ],
)
def test_combinations_and_windows(condition, expected_evidence):
    observations = [_o("oa", "a", 2, days_ago=2), _o("ob0", "b", 10, days_ago=5), _o("ob", "b", 3)]
    cands = evaluate_rules([_rule(condition)], observations, NOW)
    if expected_evidence is None:
        assert cands == ()
    else:
        assert cands[0].evidence_ids == tuple(sorted(expected_evidence))


def test_latest_value_wins_and_future_ignored():
    observations = [
        _o("old", "a", 9, days_ago=3),
        _o("new", "a", 1, days_ago=1),
        _o("future", "a", 9, days_ago=-1),
    ]
    assert evaluate_rules([_rule({"metric": "a", "op": ">", "value": 5})], observations, NOW) == ()


def test_rule_for_one_patient_only():
    observations = [_o("x1", "a", 9, patient="p1"), _o("x2", "a", 9, patient="p2")]
    cands = evaluate_rules(
        [_rule({"metric": "a", "op": ">", "value": 5}, patient_id="p2")], observations, NOW
    )
    assert [c.patient_id for c in cands] == ["p2"]


def test_dedup_key_stable_and_specific():
    a = evaluate_rules(load_rules(), phq(8, q9=1), NOW)
    b = evaluate_rules(load_rules(), phq(8, q9=1), NOW)
    c = evaluate_rules(load_rules(), phq(8, q9=1, aid="other"), NOW)
    assert a[0].dedup_key == b[0].dedup_key != c[0].dedup_key


def test_naive_now_rejected():
    with pytest.raises(InputError):
        evaluate_rules(load_rules(), [], datetime(2026, 1, 1))  # noqa: DTZ001


# --- IT policy -------------------------------------------------------------------------------


def test_policy_tunes_params_and_adds_rules():
    policy = [
        {"id": "phq9_rise", "params": {"rise": 7}},
        {"id": "risk_prediction_warning", "enabled": False},
        {
            "id": "gad7_severe",
            "name": "GAD-7 severe",
            "severity": "warning",
            "condition": {"metric": "gad7.total", "op": ">=", "value": 15},
        },
    ]
    rules = merge_policy_rules(builtin_rule_dicts(), policy)
    by_id = {r.id: r for r in rules}
    assert dict(by_id["phq9_rise"].params)["rise"] == 7
    assert "7" in by_id["phq9_rise"].text()
    observations = phq(5, aid="a0", days_ago=30) + phq(11, aid="a1")
    assert ("phq9_rise", "p1") not in fired(observations, rules)  # rise 6 < 7 now
    assert ("phq9_rise", "p1") in fired(observations)  # default 5
    o = prediction_observation(
        prediction_id="pr", patient_id="p1", target="x", probability=0.4, at=NOW
    )
    assert fired([o], rules) == set()
    gad = get_instrument("gad7")
    assert fired(obs_for("gad7", answers_for_total(gad, 15)), rules) == {("gad7_severe", "p1")}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ([{"id": "phq9_item9_positive", "enabled": False}], "locked patient-safety rule"),
        ([{"id": "cssrs_high_risk", "severity": "info"}], "locked patient-safety rule"),
        ([{"id": "phq9_rise", "severity": "urgent"}], r"policy\.alert_rules\[0\]\.severity"),
        ([{"id": "phq9_rise", "params": {"rise": "five"}}], r"params\.rise: must be a number"),
        (
            [
                {
                    "id": "new",
                    "name": "n",
                    "severity": "info",
                    "condition": {"metric": "x", "op": "~", "value": 1},
                }
            ],
            r"op: must be one of",
        ),
        (
            [
                {
                    "id": "new",
                    "name": "n",
                    "severity": "info",
                    "condition": {"metric": "x", "op": ">", "value": "$missing"},
                }
            ],
            "parameter",
        ),
        (
            [
                {
                    "id": "new",
                    "name": "n",
                    "severity": "info",
                    "condition": {"metric": "x", "change": "rise", "op": ">", "value": 1},
                }
            ],
            "needs a time window",
        ),
        ([{"name": "no id"}], r"id: required"),
        ([{"id": "phq9_rise"}, {"id": "phq9_rise"}], "twice"),
        (["not an object"], "must be an object"),
    ],
)
def test_bad_policy_is_a_config_error(policy, message):
    with pytest.raises(EngineConfigError, match=message):
        merge_policy_rules(builtin_rule_dicts(), policy)


def test_locked_rule_may_be_renamed():
    rules = merge_policy_rules(
        builtin_rule_dicts(), [{"id": "phq9_item9_positive", "name": "Item 9"}]
    )
    assert {r.id: r.name for r in rules}["phq9_item9_positive"] == "Item 9"


# --- lifecycle -------------------------------------------------------------------------------


def _alert():
    cand = evaluate_rules(load_rules(), phq(8, q9=1), NOW)[0]
    return cand, new_alert(cand, alert_id="al1", created_at=NOW)


def test_lifecycle_happy_path_records_who_and_why():
    cand, state = _alert()
    assert state.status == "new" and state.due_at == NOW + timedelta(hours=1)
    assert state.is_overdue(NOW + timedelta(minutes=61)) and not state.is_overdue(NOW)
    s1 = acknowledge(state, by="u-clin", at=NOW + timedelta(minutes=5))
    assert not s1.is_overdue(NOW + timedelta(hours=5))
    s2 = resolve(s1, by="u-clin", at=NOW + timedelta(minutes=30), reason="safety plan done")
    assert s2.status == "resolved" and not s2.is_open
    assert [(t.from_status, t.to_status, t.by) for t in s2.history] == [
        ("new", "acknowledged", "u-clin"),
        ("acknowledged", "resolved", "u-clin"),
    ]
    assert state.status == "new"  # pure: the original is unchanged
    event = alert_triggered_event(cand, alert_id="al1")
    assert isinstance(event, AlertTriggered) and event.severity == "critical"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([("resolved", "u", "r")], "cannot go from 'new' to 'resolved'"),
        ([("dismissed", "u", "r")], "cannot go from 'new' to 'dismissed'"),
        ([("acknowledged", "u", ""), ("acknowledged", "u", "")], "cannot go from 'acknowledged'"),
        (
            [("acknowledged", "u", ""), ("dismissed", "u", "r"), ("resolved", "u", "r")],
            "from 'dismissed'",
        ),
        ([("acknowledged", "", "")], "'by'"),
        ([("acknowledged", "u", ""), ("resolved", "u", "  ")], "reason is required"),
        ([("archived", "u", "")], "unknown status"),
    ],
)
def test_invalid_transitions_raise(steps, message):
    _, state = _alert()
    with pytest.raises(InputError, match=message):
        for i, (to, by, reason) in enumerate(steps):
            state = transition(state, to, by=by, at=NOW + timedelta(minutes=i + 1), reason=reason)


def test_dismiss_needs_reason_and_time_order():
    _, state = _alert()
    s1 = acknowledge(state, by="u", at=NOW + timedelta(minutes=2))
    with pytest.raises(InputError, match="before the last"):
        dismiss(s1, by="u", at=NOW + timedelta(minutes=1), reason="false positive")
    assert (
        dismiss(s1, by="u", at=NOW + timedelta(minutes=3), reason="false positive").status
        == "dismissed"
    )
