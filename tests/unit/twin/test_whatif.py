"""What-if projection: sanity and monotonicity."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from engines.errors import InputError
from engines.twin import Observation, estimate_twin, load_whatif_model, project

START = date(2024, 1, 1)


@pytest.fixture(scope="module")
def state():
    obs = [Observation(f"p{i}", "phq9.total", START + timedelta(days=14 * i), 21) for i in range(5)]
    obs += [Observation("g", "gad7.total", START + timedelta(days=50), 15)]
    obs += [Observation("t", "pat.tst_min", START + timedelta(days=52), 330)]
    return estimate_twin(obs, as_of=START + timedelta(days=56))


def _dep_w8(pr):
    mean, low, high = pr.series("depression")
    return mean[8], low[8], high[8]


def test_starts_at_current_estimate_and_band_contains_mean(state):
    pr = project(state, option="ssri", p=0.5, p_low=0.35, p_high=0.65, weeks=12)
    now = state.at(state.as_of)
    assert len(pr.days) == 13 and pr.days[0] == state.as_of
    for i, d in enumerate(pr.dimensions):
        assert pr.mean[i, 0] == pytest.approx(now[d].mean)
        assert np.all(pr.low[i] <= pr.mean[i] + 1e-12) and np.all(pr.mean[i] <= pr.high[i] + 1e-12)
    assert "Illustrative" in pr.label and pr.region_label == "model estimate, not a measurement"
    assert pr.region_mean.shape == (13, 13) and np.all(pr.region_sd > 0)


def test_higher_response_probability_means_lower_projected_depression(state):
    w8 = [
        _dep_w8(project(state, option="ssri", p=p, p_low=p, p_high=p))[0] for p in (0, 0.3, 0.6, 1)
    ]
    assert all(a > b for a, b in zip(w8, w8[1:]))
    model = load_whatif_model()
    x0 = state.at(state.as_of)["depression"].mean
    assert w8[-1] == pytest.approx(x0 * (1 - model.responder[0]), abs=1e-9)  # all responders
    assert w8[-1] <= 0.5 * x0 and w8[0] > 0.5 * x0  # response = >= 50 % reduction


def test_wider_probability_interval_widens_the_band(state):
    _, lo_n, hi_n = _dep_w8(project(state, option="ssri", p=0.5, p_low=0.45, p_high=0.55))
    _, lo_w, hi_w = _dep_w8(project(state, option="ssri", p=0.5, p_low=0.1, p_high=0.9))
    assert lo_w < lo_n and hi_w > hi_n


def test_depression_improves_over_time_and_regions_follow(state):
    pr = project(state, option="snri", p=0.6, p_low=0.45, p_high=0.75, weeks=16)
    dep = pr.series("depression")[0]
    assert np.all(np.diff(dep) <= 1e-12) and dep[-1] < dep[0]
    sgacc = pr.region_mean[pr.region_ids.index("sgacc")]
    assert sgacc[-1] < sgacc[0]  # less sgACC hyperactivity as depression falls


def test_medication_class_effects_apply(state):
    base = project(state, option="ssri", p=0.5, p_low=0.4, p_high=0.6)
    mirt = project(state, option="mirtazapine", p=0.5, p_low=0.4, p_high=0.6)
    i = base.dimensions.index("sleep_disruption")
    assert mirt.mean[i, -1] < base.mean[i, -1]  # sedating class: less sleep disruption


@pytest.mark.parametrize(
    "kwargs",
    [
        {"p": 0.5, "p_low": 0.6, "p_high": 0.7},
        {"p": 1.2, "p_low": 0.1, "p_high": 1.3},
        {"p": float("nan"), "p_low": 0.1, "p_high": 0.9},
        {"p": 0.5, "p_low": 0.4, "p_high": 0.6, "weeks": 0},
        {"p": 0.5, "p_low": 0.4, "p_high": 0.6, "option": "nonexistent"},
    ],
)
def test_bad_inputs_rejected(state, kwargs):
    kwargs = {"option": "ssri", **kwargs}
    with pytest.raises(InputError):
        project(state, **kwargs)
