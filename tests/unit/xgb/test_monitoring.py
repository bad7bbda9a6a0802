"""Model monitoring maths checked against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines.xgb import monitoring as m
from engines.xgb.metrics import calibration_slope_intercept


def test_psi_of_a_two_bin_shift_matches_the_hand_sum() -> None:
    # (0.25-0.5)*ln(0.25/0.5) + (0.75-0.5)*ln(0.75/0.5)
    hand = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert m.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(hand)
    assert hand == pytest.approx(0.274653, abs=1e-6)
    assert m.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0


def test_psi_floors_an_empty_bin_instead_of_going_infinite() -> None:
    value = m.psi([0.5, 0.5], [1.0, 0.0])
    hand = 0.5 * math.log(1.0 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(hand)


def test_psi_refuses_mismatched_bins() -> None:
    with pytest.raises(ValueError, match="same number of bins"):
        m.psi([0.5, 0.5], [1.0])


def test_binary_feature_gets_one_bin_per_value_and_its_missing_rate() -> None:
    ref = m.reference_bins("flag", np.array([0, 0, 0, 1, np.nan]))
    assert ref.edges == (0.5,)
    assert ref.proportions == (0.75, 0.25)
    assert ref.missing_rate == pytest.approx(0.2)
    assert ref.n == 5


def test_bin_proportions_ignore_missing_values() -> None:
    props = m.bin_proportions(np.array([1, 2, 3, 4, np.nan]), [2.5])
    assert props.tolist() == [0.5, 0.5]


def test_continuous_reference_has_quantile_bins_of_equal_share() -> None:
    values = np.arange(1000, dtype=float)
    ref = m.reference_bins("x", values, n_bins=10)
    assert len(ref.edges) == 9
    assert np.allclose(ref.proportions, 0.1)
    assert m.feature_drift(ref, values).psi == pytest.approx(0.0)
    shifted = m.feature_drift(ref, values + 300)  # 30 % of the mass moved past the top edge
    assert shifted.psi is not None and shifted.psi > 0.25


def test_feature_drift_reports_missing_rate_against_training() -> None:
    ref = m.reference_bins("x", np.array([1.0, 2.0, np.nan, np.nan]))
    d = m.feature_drift(ref, np.array([1.0, np.nan, np.nan, np.nan]))
    assert d.reference_missing_rate == 0.5
    assert d.missing_rate == 0.75
    assert d.missing_delta == pytest.approx(0.25)
    assert m.feature_drift(ref, np.array([np.nan, np.nan])).psi is None


def test_brier_and_ece_by_hand() -> None:
    assert m.calibration(np.array([0.2, 0.8]), np.array([0.0, 1.0]), n_boot=10).brier.value == (
        pytest.approx(0.04)
    )
    # bin 0.1-0.2: mean p 0.15, observed 0.5 -> gap 0.35, weight 1/2;
    # bin 0.8-0.9: mean p 0.85, observed 1.0 -> gap 0.15, weight 1/2
    p = np.array([0.15, 0.15, 0.85, 0.85])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    assert m.ece(p, y) == pytest.approx(0.5 * 0.35 + 0.5 * 0.15)


def test_recalibration_fits_two_groups_exactly() -> None:
    # 10 predictions at 0.2 with 5 events, 10 at 0.8 with 8: the fit reproduces both observed
    # rates, so slope = logit(0.8) / (2 * logit(0.8)) = 0.5, intercept = 0.5 * logit(0.8) = ln 2
    p = np.array([0.2] * 10 + [0.8] * 10)
    y = np.array([1.0] * 5 + [0.0] * 5 + [1.0] * 8 + [0.0] * 2)
    slope, intercept = m.recalibration(p, y)
    assert slope[0] == pytest.approx(0.5, abs=1e-4)
    assert intercept[0] == pytest.approx(math.log(2), abs=1e-4)
    # observed rates equal to the predictions: slope 1, intercept 0
    y_ok = np.array([1.0] * 2 + [0.0] * 8 + [1.0] * 8 + [0.0] * 2)
    slope, intercept = m.recalibration(p, y_ok)
    assert slope[0] == pytest.approx(1.0, abs=1e-4)
    assert intercept[0] == pytest.approx(0.0, abs=1e-4)


def test_recalibration_agrees_with_the_card_metrics_fit() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0.05, 0.95, 5000)
    y = (rng.uniform(size=p.size) < p**1.3).astype(float)
    slope, intercept = m.recalibration(p, y)
    ref_slope, ref_intercept = calibration_slope_intercept(p, y)
    assert slope[0] == pytest.approx(ref_slope, abs=1e-5)
    assert intercept[0] == pytest.approx(ref_intercept, abs=1e-5)


def test_bootstrap_intervals_bracket_the_estimate_and_narrow_with_more_data() -> None:
    rng = np.random.default_rng(1)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        p = rng.uniform(0.05, 0.95, n)
        return p, (rng.uniform(size=n) < p).astype(float)

    small = m.calibration(*sample(400), n_boot=200, seed=3)
    large = m.calibration(*sample(20_000), n_boot=200, seed=3)
    for est in (large.brier, large.ece, large.slope, large.intercept):
        assert est.ci_low <= est.value <= est.ci_high
    assert abs(large.slope.value - 1.0) < 0.08  # well calibrated by construction
    assert large.ece.value < 0.02
    width = lambda e: e.ci_high - e.ci_low  # noqa: E731
    assert width(large.brier) < width(small.brier)
    assert width(large.slope) < width(small.slope)
    p, y = sample(400)
    assert m.calibration(p, y, seed=5) == m.calibration(p, y, seed=5)  # same seed, same CIs


def test_calibration_refuses_empty_or_mismatched_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        m.calibration(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="non-empty"):
        m.calibration(np.zeros(3), np.zeros(2))


def test_weekly_counts() -> None:
    days = np.array([0.0, 6.9, 7.0, 20.0, -1.0, 21.0])
    assert m.weekly_counts(days, 0.0, 3) == [2, 1, 1]


def test_reference_round_trips_through_json() -> None:
    ref = m.reference_bins("x", np.array([1.0, 2.0, 3.0, np.nan]))
    assert m.FeatureReference.from_json(ref.to_json()) == ref
