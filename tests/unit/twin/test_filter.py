"""State estimation: recovery, calibrated uncertainty, gaps, missing sources, weights."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from app.core.events import DigitalTwinUpdated
from app.services.engine_events import twin_updated_event
from engines.errors import InputError
from engines.twin import (
    DIMENSIONS,
    Observation,
    TwinState,
    estimate_cohort,
    estimate_twin,
    load_observation_model,
)

from .sim import START, observe, simulate_ou, wide_range_model

Z90 = 1.6448536269514722


def _phq(i: int, day: int, value: float) -> Observation:
    return Observation(f"phq-{i}", "phq9.total", START + timedelta(days=day), value)


def test_90_percent_band_covers_latent_about_90_percent(tmp_path):
    """Latents drawn from the model, irregular multi-source observations, 240 seeds."""
    model = wide_range_model(tmp_path)
    days = 200
    cohort, truths = [], []
    for seed in range(240):
        rng = np.random.default_rng(seed)
        dep = model.dimensions["depression"]
        slp = model.dimensions["sleep_disruption"]
        x_dep = simulate_ou(rng, dep.prior_mean, dep.prior_sd, dep.tau_days, days)
        x_slp = simulate_ou(rng, slp.prior_mean, slp.prior_sd, slp.tau_days, days)
        obs = observe(rng, model, "phq9.total", x_dep, np.sort(rng.choice(days, 10, False)), "a")
        obs += observe(rng, model, "madrs.total", x_dep, rng.choice(days, 3, False), "b")
        obs += observe(rng, model, "pat.tst_min", x_slp, rng.choice(days, 6, False), "c")
        obs += observe(rng, model, "phq9.item3", x_slp, rng.choice(days, 8, False), "d")
        cohort.append(obs)
        truths.append((x_dep, x_slp))
    states = estimate_cohort(
        cohort, as_of=START + timedelta(days=days - 1), start=START, model=model
    )
    for k, dim in ((0, "depression"), (1, "sleep_disruption")):
        i = DIMENSIONS.index(dim)
        inside = [
            np.abs(truths[s][k] - st.mean[i]) <= Z90 * st.sd[i] for s, st in enumerate(states)
        ]
        coverage = float(np.mean(inside))
        assert 0.85 <= coverage <= 0.95, (dim, coverage)
        # informative (well below the prior SD) and the stated SD matches the actual error
        err2 = np.mean([(truths[s][k] - st.mean[i]) ** 2 for s, st in enumerate(states)])
        var = np.mean([st.sd[i] ** 2 for st in states])
        assert np.sqrt(err2) < 0.8 * model.dimensions[dim].prior_sd
        assert 0.9 < np.sqrt(err2 / var) < 1.1


def test_recovers_known_improving_trajectory():
    """A deterministic recovery (PHQ-9 20 -> 6 over 24 weeks) from biweekly noisy scores."""
    rng = np.random.default_rng(7)
    days = 169
    truth = np.linspace(20 / 27, 6 / 27, days)
    obs_days = list(range(0, days, 14))
    obs = [
        _phq(i, d, float(np.clip(np.round(27 * truth[d] + rng.normal(0, 2.5)), 0, 27)))
        for i, d in enumerate(obs_days)
    ]
    st = estimate_twin(obs, as_of=START + timedelta(days=days - 1))
    i = DIMENSIONS.index("depression")
    err = st.mean[i] - truth
    raw_err = np.array([o.value / 27 for o in obs]) - truth[obs_days]
    assert np.sqrt(np.mean(err[obs_days] ** 2)) < np.sqrt(np.mean(raw_err**2))
    assert np.mean(np.abs(err) <= Z90 * st.sd[i]) >= 0.8
    assert st.mean[i, 0] > st.mean[i, -1] + 0.3


def test_uncertainty_grows_between_observations_and_after_the_last():
    obs = [_phq(0, 0, 15), _phq(1, 60, 12)]
    st = estimate_twin(obs, as_of=START + timedelta(days=120))
    sd = st.sd[DIMENSIONS.index("depression")]
    assert sd[30] > sd[0] and sd[30] > sd[60]
    assert np.all(np.diff(sd[:31]) > 0) and np.all(np.diff(sd[30:61]) < 0)
    assert np.all(np.diff(sd[60:]) > 0)
    # beyond the grid the variance keeps growing toward the prior
    later = st.estimate("depression", START + timedelta(days=300))
    assert later.extrapolated and sd[-1] < later.sd < 0.25


def test_missing_source_gives_prior_with_wide_uncertainty():
    model = load_observation_model()
    st = estimate_twin([_phq(0, 0, 20)], as_of=START + timedelta(days=90))
    for dim in ("anxiety", "activity_energy", "circadian_stability", "risk_signal"):
        i = DIMENSIONS.index(dim)
        spec = model.dimensions[dim]
        assert np.allclose(st.mean[i], spec.prior_mean)
        assert np.allclose(st.sd[i], spec.prior_sd)
    assert st.sd[DIMENSIONS.index("depression"), 0] < 0.1
    # no observations at all: the whole twin is the prior on the as_of date
    empty = estimate_twin([], as_of=START)
    assert (
        empty.days == 1
        and empty.at(START)["depression"].mean == model.dimensions["depression"].prior_mean
    )


def test_weights_sum_to_one_and_reproduce_the_estimate():
    rng = np.random.default_rng(3)
    obs = [_phq(i, int(d), float(rng.integers(5, 25))) for i, d in enumerate(range(0, 200, 9))]
    obs.append(Observation("madrs-1", "madrs.total", START + timedelta(days=45), 30.0))
    obs.append(Observation("nlp-1", "nlp.depression", START + timedelta(days=45), 0.9))
    obs.append(Observation("gad-1", "gad7.total", START + timedelta(days=10), 15.0))
    st = estimate_twin(obs, as_of=START + timedelta(days=220))
    for day in (0, 45, 100, 220):
        when = START + timedelta(days=day)
        ex = st.explain("depression", when)
        total = ex.prior_weight + sum(c.weight for c in ex.contributions)
        assert total == pytest.approx(1.0, abs=1e-9)
        rebuilt = ex.prior_weight * ex.prior_mean + sum(c.contribution for c in ex.contributions)
        assert rebuilt == pytest.approx(st.estimate("depression", when).mean, abs=1e-9)
        assert all(c.source != "gad7.total" for c in ex.contributions)
    ex = st.explain("depression", START + timedelta(days=45))
    by_id = {c.obs_id: c.weight for c in ex.contributions}
    # same day: weights split by precision (MADRS var (4/45)^2 vs NLP 0.25^2)
    assert by_id["madrs-1"] / by_id["nlp-1"] == pytest.approx((0.25 / (4 / 45)) ** 2, rel=1e-6)
    # the two precise same-day readings (MADRS, PHQ-9 on day 45) move it most
    assert {c.obs_id for c in ex.top(2)} == {"madrs-1", "phq-5"}
    assert by_id["phq-5"] > by_id["phq-0"] > 0  # nearby observations weigh more


def test_cohort_matches_single_patient_runs():
    a = [_phq(0, 0, 20), Observation("g", "gad7.total", START + timedelta(days=5), 9)]
    b = [Observation("t", "pat.tst_min", START + timedelta(days=40), 300)]
    as_of = START + timedelta(days=60)
    sa, sb = estimate_cohort([a, b], as_of=as_of)
    assert sb.start == START + timedelta(days=40)
    np.testing.assert_allclose(sa.mean, estimate_twin(a, as_of=as_of).mean, atol=1e-12)
    np.testing.assert_allclose(sb.sd, estimate_twin(b, as_of=as_of).sd, atol=1e-12)


def test_same_day_observations_fuse_and_datetimes_use_utc_day():
    when = datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    o = Observation("x", "phq9.total", when, 10)
    assert o.day == date(2024, 3, 2)
    st = estimate_twin([o], as_of=date(2024, 3, 2))
    assert st.start == date(2024, 3, 2)


def test_json_round_trip_and_event():
    obs = [_phq(0, 0, 18), Observation("c1", "cssrs.ideation_severity", START, 2)]
    st = estimate_twin(obs, as_of=START + timedelta(days=30), version=4)
    back = TwinState.from_json(st.to_json())
    np.testing.assert_array_equal(back.mean, st.mean)
    np.testing.assert_array_equal(back.sd, st.sd)
    assert back.version == 4 and back.observations == st.observations
    assert back.provenance["model"] == "novamind-twin-kalman"
    assert "not fitted" in back.provenance["training_data"]
    assert back.explain("risk_signal", START).mean == pytest.approx(
        st.estimate("risk_signal", START).mean
    )
    ev = twin_updated_event(st, patient_id="p-1", snapshot_id="s-9")
    assert isinstance(ev, DigitalTwinUpdated) and ev.version == 4 and ev.snapshot_id == "s-9"
    with pytest.raises(InputError, match="twin snapshot"):
        TwinState.from_json('{"schema_version": 1}')
    assert not st.mean.flags.writeable


@pytest.mark.parametrize(
    ("obs", "message"),
    [
        (Observation("a", "phq10.total", START, 3), "not in the model"),
        (Observation("a", "phq9.total", START, 28), "outside"),
        (Observation("a", "phq9.total", START, float("nan")), "finite"),
        (Observation("a", "phq9.total", START + timedelta(days=5), 3), "after as_of"),
        (Observation("", "phq9.total", START, 3), "obs_id"),
    ],
)
def test_bad_observations_are_rejected(obs, message):
    with pytest.raises(InputError, match=message):
        estimate_twin([obs], as_of=START)


def test_duplicate_ids_rejected():
    with pytest.raises(InputError, match="duplicate"):
        estimate_twin([_phq(0, 0, 3), _phq(0, 1, 4)], as_of=START + timedelta(days=2))
