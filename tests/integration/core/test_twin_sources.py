"""Each source the twin claims moves it (docs/twin.md §2): clinician-accepted note findings and
actigraphy M10 / L5, on a real store through the real services and engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from app.core.domain import Role
from app.core.store.models import NlpAnalysis
from app.services import nlp, notes, pat, twin
from app.services.context import AppContext
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance
from engines.pat.recording import ActigraphyRecording
from engines.twin import estimate_twin, load_observation_model
from engines.twin.observations import Observation

PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)
NOTE = (
    "Patient describes a persistent low mood with loss of interest. She feels anxious and "
    "restless most days. She lies awake until three in the morning. She is exhausted and has "
    "no energy for anything. She has had thoughts of ending her life this week."
)
QUOTE = {
    "depressive episode": "persistent low mood with loss of interest",
    "generalised anxiety": "feels anxious and restless most days",
    "insomnia": "lies awake until three in the morning",
    "fatigue": "has no energy for anything",
    "passive suicidal ideation": "thoughts of ending her life this week",
}
# (finding kind, label) → (twin dimension, +1 if accepting it should raise the estimate)
CASES = [
    ("condition", "depressive episode", "depression", +1),
    ("condition", "generalised anxiety", "anxiety", +1),
    ("condition", "insomnia", "sleep_disruption", +1),
    ("condition", "fatigue", "activity_energy", -1),
    ("risk_factor", "passive suicidal ideation", "risk_signal", +1),
]


def _store_analysis(ctx: AppContext, clinic: dict, findings: list[tuple[str, str]]) -> str:
    """A note of the patient and an evidence-checked analysis with these findings (in order)."""
    me = clinic["users"][Role.CLINICIAN]
    note = notes.create_draft(ctx, me, clinic["mine"], "Review", NOTE)
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [
            {"name": label, "confidence": "moderate", "evidence": [QUOTE[label]]}
            for kind, label in findings
            if kind == "condition"
        ],
        "risk_factors": [
            {"factor": label, "evidence": [QUOTE[label]]}
            for kind, label in findings
            if kind == "risk_factor"
        ],
        "protective_factors": [],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    analysis = parse_note_analysis(note.id, NOTE, result, PROV)
    return nlp.store_analysis(ctx, me, clinic["mine"], analysis)


def _observations(ctx: AppContext, pid: str) -> list[Observation]:
    return ctx.store.read(lambda s: twin.observations_for(s, pid))


def _prior(dimension: str) -> float:
    return load_observation_model().dimensions[dimension].prior_mean


@pytest.mark.parametrize(("kind", "label", "dimension", "direction"), CASES)
def test_an_accepted_note_finding_moves_its_dimension(
    ctx: AppContext, clinic: dict, kind: str, label: str, dimension: str, direction: int
) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    # two findings with the same label: both pending, then 0 rejected (1 still pending)
    analysis_id = _store_analysis(ctx, clinic, [(kind, label)] * 2)
    assert _observations(ctx, pid) == []  # unreviewed (pending) model output feeds nothing
    nlp.review_finding(ctx, me, analysis_id, 0, accept=False, reason="not supported")
    assert _observations(ctx, pid) == []  # a rejected finding feeds nothing
    assert twin.latest_state(ctx, me, pid) is None

    nlp.review_finding(ctx, me, analysis_id, 1, accept=True)
    (obs,) = _observations(ctx, pid)
    assert (obs.obs_id, obs.source, obs.value) == (
        f"{analysis_id}/nlp.{dimension}/1",  # provenance: the analysis record and the finding
        f"nlp.{dimension}",
        1.0,
    )
    state = twin.latest_state(ctx, me, pid)  # accepting refreshed the twin
    assert state is not None
    est = state.estimate(dimension, state.as_of)
    assert direction * (est.mean - _prior(dimension)) > 0.05
    # the region panel's evidence lists it: it carries the analysis record id
    (c,) = state.explain(dimension, state.as_of).contributions
    assert (c.obs_id, c.source) == (obs.obs_id, f"nlp.{dimension}")
    for other in ("depression", "anxiety", "sleep_disruption", "activity_energy", "risk_signal"):
        if other != dimension:
            assert state.estimate(other, state.as_of).mean == pytest.approx(_prior(other))


def test_a_second_analysis_of_the_same_note_does_not_count_twice(
    ctx: AppContext, clinic: dict
) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    first = _store_analysis(ctx, clinic, [("condition", "depressive episode")])
    nlp.review_finding(ctx, me, first, 0, accept=True)
    note_id = ctx.store.read(lambda s: s.get(NlpAnalysis, first).note_id)
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [
            {"name": "low mood", "confidence": "high", "evidence": [QUOTE["depressive episode"]]}
        ],
        "risk_factors": [],
        "protective_factors": [],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    second = nlp.store_analysis(ctx, me, pid, parse_note_analysis(note_id, NOTE, result, PROV))
    nlp.review_finding(ctx, me, second, 0, accept=True)
    assert [o.source for o in _observations(ctx, pid)] == ["nlp.depression"]


def _recording(day_level: float, night_level: float, seed: int) -> ActigraphyRecording:
    """14 whole days ending at today's midnight: 08:00-22:00 active, the rest at rest."""
    rng = np.random.default_rng(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=14)
    minute = np.arange(14 * 1440) % 1440
    level = np.where((minute >= 8 * 60) & (minute < 22 * 60), day_level, night_level)
    counts = rng.poisson(level).astype(float)
    return ActigraphyRecording(
        start=start.replace(tzinfo=None),
        counts=counts,
        nonwear=np.zeros(counts.size, bool),
        source="synthetic",
    )


def _with_and_without(obs: list[Observation], source: str, dimension: str) -> tuple[float, float]:
    """The dimension's estimate on the last observed day with and without one source."""
    as_of = max(o.when for o in obs)
    full = estimate_twin(obs, as_of=as_of)
    less = estimate_twin([o for o in obs if o.source != source], as_of=as_of)
    return full.estimate(dimension, as_of).mean, less.estimate(dimension, as_of).mean


@pytest.mark.parametrize(
    ("source", "dimension", "day", "night", "direction"),
    [
        # M10: an active fortnight (700 counts/min by day) raises activity, an inactive one
        # (90) lowers it
        ("pat.m10", "activity_energy", 700.0, 2.0, +1),
        ("pat.m10", "activity_energy", 90.0, 2.0, -1),
        # L5: quiet nights (1 count/min) raise circadian stability, restless ones (60) lower it
        ("pat.l5", "circadian_stability", 300.0, 1.0, +1),
        ("pat.l5", "circadian_stability", 300.0, 60.0, -1),
    ],
)
def test_actigraphy_m10_and_l5_move_their_dimension(
    ctx: AppContext,
    clinic: dict,
    source: str,
    dimension: str,
    day: float,
    night: float,
    direction: int,
) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    rec = _recording(day, night, seed=int(day + night))
    results = pat.analyse(rec)
    weekly = results["circadian"]["weekly_raw"]  # raw counts/min, one per whole week
    key, expected = ("M10", day) if source == "pat.m10" else ("L5", night)
    assert len(weekly) == 2
    assert all(w[key] == pytest.approx(expected, rel=0.1) for w in weekly)
    pat.store_analysed(ctx, me, pid, rec, results)  # publishes AssessmentCompleted

    obs = _observations(ctx, pid)
    mine = [o for o in obs if o.source == source]
    assert len(mine) == 2 and all(o.value == pytest.approx(expected, rel=0.1) for o in mine)
    # on its own, the source moves the dimension off the prior in the expected direction
    alone = estimate_twin(mine, as_of=mine[-1].when).estimate(dimension, mine[-1].when).mean
    assert direction * (alone - _prior(dimension)) > 0.1
    # and beside the recording's other sources it still changes the estimate
    with_it, without = _with_and_without(obs, source, dimension)
    assert abs(with_it - without) > 0.005
    # the stored twin carries them with the result record's id (the region panel's evidence)
    twin.update(ctx, me, pid)
    state = twin.latest_state(ctx, me, pid)
    assert state is not None
    ids = {c.obs_id for c in state.explain(dimension, mine[-1].when).contributions}
    assert {o.obs_id for o in mine} <= ids
