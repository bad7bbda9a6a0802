import pytest

from app.core.events import AssessmentCompleted
from app.services.engine_events import assessment_completed_event
from engines.errors import InputError
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import (
    observations_from_result,
    reliable_change,
    score,
)

from .helpers import answers_for_total, zero_answers

# (instrument, band code, lowest total, highest total): the published bands from the issue.
BANDS = [
    ("phq9", "minimal", 0, 4),
    ("phq9", "mild", 5, 9),
    ("phq9", "moderate", 10, 14),
    ("phq9", "moderately_severe", 15, 19),
    ("phq9", "severe", 20, 27),
    ("gad7", "minimal", 0, 4),
    ("gad7", "mild", 5, 9),
    ("gad7", "moderate", 10, 14),
    ("gad7", "severe", 15, 21),
    ("madrs", "normal", 0, 6),
    ("madrs", "mild", 7, 19),
    ("madrs", "moderate", 20, 34),
    ("madrs", "severe", 35, 60),
    ("hamd17", "normal", 0, 7),
    ("hamd17", "mild", 8, 16),
    ("hamd17", "moderate", 17, 23),
    ("hamd17", "severe", 24, 52),
]
BOUNDARY_CASES = [(i, code, t) for i, code, lo, hi in BANDS for t in sorted({lo, hi})]


@pytest.mark.parametrize(("iid", "band", "total"), BOUNDARY_CASES)
def test_band_boundaries(iid, band, total):
    inst = get_instrument(iid)
    answers = answers_for_total(inst, total)
    if iid == "phq9":  # keep item 9 at 0 where possible so only the band is under test
        answers = dict(reversed(list(answers_for_total(inst, total).items())))
    result = score(inst, answers)
    assert result.total == total
    assert result.band.code == band
    assert str(total) in result.band.rule_text


@pytest.mark.parametrize(("iid", "band", "lo", "hi"), BANDS)
def test_each_band_is_bounded_by_neighbours(iid, band, lo, hi):
    inst = get_instrument(iid)
    if lo > inst.min_total:
        assert score(inst, answers_for_total(inst, lo - 1)).band.code != band
    if hi < inst.max_total:
        assert score(inst, answers_for_total(inst, hi + 1)).band.code != band


@pytest.mark.parametrize(
    ("iid", "answers", "total"),
    [
        ("phq9", {**{f"q{i}": 1 for i in range(1, 10)}, "q10": 2}, 9),
        ("phq9", {f"q{i}": 3 for i in range(1, 10)}, 27),
        ("gad7", {"q1": 3, "q2": 2, "q3": 1, "q4": 0, "q5": 1, "q6": 2, "q7": 3}, 12),
        ("madrs", {f"q{i}": i % 7 for i in range(1, 11)}, 1 + 2 + 3 + 4 + 5 + 6 + 0 + 1 + 2 + 3),
        ("pcl5", {f"q{i}": 4 for i in range(1, 21)}, 80),
    ],
)
def test_known_totals(iid, answers, total):
    assert score(get_instrument(iid), answers).total == total


def test_phq9_item10_is_recorded_not_scored():
    inst = get_instrument("phq9")
    base = {f"q{i}": 1 for i in range(1, 10)}
    assert score(inst, base).total == score(inst, {**base, "q10": 3}).total == 9
    assert score(inst, {**base, "q10": 3}).answer("q10") == 3


# --- C-SSRS screener: skip logic and triage --------------------------------------------------

NO = 0
YES = 1


@pytest.mark.parametrize(
    ("answers", "band"),
    [
        ({"q1": NO, "q2": NO, "q6": NO}, "none"),
        ({"q1": YES, "q2": NO, "q6": NO}, "low"),
        ({"q1": YES, "q2": YES, "q3": NO, "q4": NO, "q5": NO, "q6": NO}, "low"),
        ({"q1": YES, "q2": YES, "q3": YES, "q4": NO, "q5": NO, "q6": NO}, "moderate"),
        ({"q1": NO, "q2": NO, "q6": YES, "q6_recent": NO}, "moderate"),
        ({"q1": YES, "q2": YES, "q3": YES, "q4": YES, "q5": NO, "q6": NO}, "high"),
        ({"q1": YES, "q2": YES, "q3": NO, "q4": NO, "q5": YES, "q6": NO}, "high"),
        ({"q1": NO, "q2": NO, "q6": YES, "q6_recent": YES}, "high"),
    ],
)
def test_cssrs_triage(answers, band):
    result = score(get_instrument("cssrs_screener"), answers)
    assert result.band.code == band
    assert result.total is None
    assert result.has_critical == (band == "high")


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"q1": NO, "q2": NO, "q3": YES, "q6": NO}, "item q3 must not be answered"),
        ({"q1": NO, "q2": YES, "q6": NO}, "item q3 is required"),
        ({"q1": NO, "q2": NO}, "item q6 is required"),
        ({"q1": NO, "q2": NO, "q6": YES}, "item q6_recent is required"),
        ({"q1": NO, "q2": NO, "q6": NO, "q6_recent": YES}, "item q6_recent must not be answered"),
    ],
)
def test_cssrs_skip_logic(answers, message):
    with pytest.raises(InputError, match=message):
        score(get_instrument("cssrs_screener"), answers)


def test_cssrs_asked_items_follow_skip_logic():
    result = score(get_instrument("cssrs_screener"), {"q1": YES, "q2": NO, "q6": NO})
    assert result.asked_items == ("q1", "q2", "q6")


# --- PCL-5: clusters, DSM-5 rule, configurable cut-off ----------------------------------------


def pcl(endorsed: dict[str, int], rest: int = 0) -> dict[str, int]:
    ans = {f"q{i}": rest for i in range(1, 21)}
    ans.update(endorsed)
    return ans


@pytest.mark.parametrize(
    ("answers", "cluster_rule", "cutoff_met", "band"),
    [
        # exactly the minimum: 1 B, 1 C, 2 D, 2 E rated 2 -> rule met, total 12
        (
            pcl({"q1": 2, "q6": 2, "q8": 2, "q9": 2, "q15": 2, "q16": 2}),
            True,
            False,
            "probable_ptsd",
        ),
        # one E symptom short -> rule not met
        (
            pcl({"q1": 2, "q6": 2, "q8": 2, "q9": 2, "q15": 2, "q16": 1}),
            False,
            False,
            "below_threshold",
        ),
        # no C symptom
        (
            pcl({"q1": 4, "q6": 1, "q7": 1, "q8": 2, "q9": 2, "q15": 2, "q16": 2}),
            False,
            False,
            "below_threshold",
        ),
        # B items high, all others 1 (no C symptom): total 16 + 2 + 15 = 33 = cut-off, no cluster
        (pcl({"q1": 4, "q2": 4, "q3": 4, "q4": 4, "q5": 2}, rest=1), False, True, "probable_ptsd"),
        # one point lower: 32, below the default cut-off 33
        (
            pcl({"q1": 4, "q2": 4, "q3": 4, "q4": 3, "q5": 2}, rest=1),
            False,
            False,
            "below_threshold",
        ),
    ],
)
def test_pcl5_rules(answers, cluster_rule, cutoff_met, band):
    result = score(get_instrument("pcl5"), answers)
    met = {c.id: c.met for c in result.classifications}
    assert met == {"dsm5_cluster_rule": cluster_rule, "total_cutoff": cutoff_met}
    assert result.band.code == band


def test_pcl5_cluster_scores():
    answers = pcl({"q1": 4, "q5": 3, "q6": 2, "q7": 1, "q14": 4, "q20": 2})
    subs = {s.id: s.value for s in score(get_instrument("pcl5"), answers).subscales}
    assert subs["B"] == 7 and subs["C"] == 3 and subs["D"] == 4 and subs["E"] == 2
    assert subs["B_endorsed"] == 2 and subs["C_endorsed"] == 1
    assert subs["D_endorsed"] == 1 and subs["E_endorsed"] == 1


@pytest.mark.parametrize(
    ("cutoff", "total", "met"), [(31, 31, True), (31, 30, False), (33, 32, False), (32, 32, True)]
)
def test_pcl5_cutoff_is_configurable(cutoff, total, met):
    inst = get_instrument("pcl5")
    result = score(inst, answers_for_total(inst, total), {"cutoff": cutoff})
    assert {c.id: c.met for c in result.classifications}["total_cutoff"] is met
    assert dict(result.parameters)["cutoff"] == cutoff


@pytest.mark.parametrize("params", [{"cutoff": 30}, {"cutoff": 34}, {"cut": 32}, {"cutoff": True}])
def test_pcl5_cutoff_outside_31_33_is_refused(params):
    inst = get_instrument("pcl5")
    with pytest.raises(InputError, match="parameter"):
        score(inst, zero_answers(inst), params)


# --- critical items --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iid", "item", "value", "flag", "severity"),
    [
        ("phq9", "q9", 0, None, None),
        ("phq9", "q9", 1, "item9_positive", "critical"),
        ("phq9", "q9", 3, "item9_positive", "critical"),
        ("madrs", "q10", 3, None, None),
        ("madrs", "q10", 4, "item10_suicidal_thoughts", "warning"),
        ("hamd17", "q3", 2, None, None),
        ("hamd17", "q3", 3, "item3_suicide", "warning"),
    ],
)
def test_critical_items(iid, item, value, flag, severity):
    inst = get_instrument(iid)
    result = score(inst, {**zero_answers(inst), item: value})
    if flag is None:
        assert result.flags == ()
    else:
        assert [(f.rule_id, f.severity) for f in result.flags] == [(flag, severity)]
        assert item in result.flags[0].rule_text


def test_item9_flag_even_in_minimal_band():
    inst = get_instrument("phq9")
    result = score(inst, {**zero_answers(inst), "q9": 1})
    assert result.band.code == "minimal" and result.has_critical


# --- reliable change -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iid", "before", "after", "direction", "meaningful"),
    [
        ("phq9", 15, 9, "improved", True),  # -6: reliable (IAPT >= 6) and >= 5
        ("phq9", 15, 10, "no_reliable_change", True),  # -5: meaningful, not reliable
        ("phq9", 10, 16, "deteriorated", True),
        ("phq9", 10, 14, "no_reliable_change", False),
        ("gad7", 12, 8, "improved", None),
        ("gad7", 12, 9, "no_reliable_change", None),
        ("pcl5", 40, 30, "improved", True),
        ("pcl5", 40, 31, "no_reliable_change", False),
        ("madrs", 30, 10, "not_defined", None),
        ("hamd17", 20, 5, "not_defined", None),
    ],
)
def test_reliable_change(iid, before, after, direction, meaningful):
    inst = get_instrument(iid)
    a = score(inst, answers_for_total(inst, before))
    b = score(inst, answers_for_total(inst, after))
    change = reliable_change(inst, a, b)
    assert change.delta == after - before
    assert change.direction == direction
    assert change.meaningful is meaningful
    assert change.rule_text


def test_reliable_change_refuses_other_instrument():
    phq, gad = get_instrument("phq9"), get_instrument("gad7")
    with pytest.raises(InputError):
        reliable_change(phq, score(gad, zero_answers(gad)), score(phq, zero_answers(phq)))


# --- event and observations ------------------------------------------------------------------


def test_assessment_completed_event_and_observations():
    from datetime import UTC, datetime

    inst = get_instrument("phq9")
    result = score(inst, {**answers_for_total(inst, 12), "q9": 1})
    at = datetime(2026, 11, 25, tzinfo=UTC)
    event = assessment_completed_event(result, patient_id="p1", assessment_id="a1", occurred_at=at)
    assert isinstance(event, AssessmentCompleted)
    assert (event.instrument, event.band, event.total) == ("phq9", result.band.code, result.total)
    obs = {
        o.metric: o
        for o in observations_from_result(result, patient_id="p1", assessment_id="a1", at=at)
    }
    assert obs["phq9.total"].value == result.total
    assert obs["phq9.item.q9"].value == 1
    assert obs["phq9.flag.item9_positive"].value == 1
    assert obs["phq9.band_rank"].value == result.band.rank
