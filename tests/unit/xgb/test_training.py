from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engines.errors import InputError
from engines.xgb import calibration, metrics
from engines.xgb.features import assemble_matrix
from engines.xgb.synthetic import generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import TrainConfig, grouped_split, train_all, train_model

from .conftest import CLINIC, SMALL


def test_calibration_improves_brier_on_held_out_synthetic_data(cohort):
    """An over-fitted (over-confident) booster is repaired by calibration on held-out patients."""
    overfit = TrainConfig(
        max_depth=8,
        learning_rate=0.5,
        n_rounds=80,
        min_child_weight=0.5,
        subsample=1.0,
        colsample_bytree=1.0,
        reg_lambda=0.0,
        n_boot=20,
        calibration="platt",
        seed=3,
    )
    trained = train_model(
        cohort, TARGETS["relapse_6m"], version="1", training_data=CLINIC, config=overfit
    )
    fresh = generate_cohort(3000, seed=12345)  # patients never seen in training or calibration
    y = np.array([r["relapse_6m"] for r in fresh], dtype=float)
    x = assemble_matrix(fresh, [s for s in TARGETS["relapse_6m"].features])
    margin = trained.booster.inplace_predict(x, predict_type="margin")
    raw = metrics.brier(calibration.sigmoid(margin), y)
    cal = metrics.brier(calibration.apply(trained.card["calibration"], margin), y)
    assert cal < raw - 0.005
    held = trained.card["metrics"]
    assert held["held_out"]["brier"]["value"] < held["held_out_uncalibrated"]["brier"]["value"]


def test_card_carries_metrics_with_ci_and_reliability(trained_relapse):
    card = trained_relapse.card
    for m in ("auc", "brier", "log_loss"):
        v = card["metrics"]["held_out"][m]
        assert v["ci_low"] <= v["value"] <= v["ci_high"]
    assert card["calibration"]["reliability"] and "interval" not in card["calibration"]
    assert card["uncertainty"]["coverage"]["measured"] and card["uncertainty"]["q"] > 0
    assert card["skill"]["no_skill_brier"] == card["metrics"]["no_skill_brier"]
    assert [f["name"] for f in card["features"]] == list(TARGETS["relapse_6m"].feature_names)
    assert all(f["unit"] for f in card["features"])


def test_grouped_split_keeps_patients_together():
    rows = [{"patient_id": f"p{i // 3}"} for i in range(300)]  # three records per patient
    tr, ca, te = grouped_split(rows, (0.6, 0.2, 0.2), seed=0)
    ids = [{rows[i]["patient_id"] for i in part} for part in (tr, ca, te)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert len(tr) + len(ca) + len(te) == 300


def _train_relapse(registry, key, cohort, config=SMALL, **kw):
    """train_all for the relapse target as the clinic's IT would run it."""
    return train_all(
        cohort,
        registry,
        key,
        actor="it",
        training_data=CLINIC,
        config=config,
        targets=["relapse_6m"],
        **kw,
    )


def test_minimum_events_per_feature_enforced(registry, key):
    few = generate_cohort(150, seed=5)
    with pytest.raises(InputError, match="events per feature"):
        train_model(few, TARGETS["hosp_90d"], version="1", training_data=CLINIC, config=SMALL)
    out = train_all(
        few, registry, key, actor="it", training_data=CLINIC, config=SMALL, targets=["hosp_90d"]
    )
    assert out[0].status == "insufficient_events"
    assert registry.versions("hosp_90d") == []


def test_model_that_does_not_beat_predecessor_is_not_activated(registry, key, cohort):
    first = _train_relapse(registry, key, cohort)
    assert first[0].status == "activated" and registry.active_version("relapse_6m") == "1"
    # a crippled successor: two stumps with a tiny learning rate
    weak = replace(SMALL, max_depth=1, n_rounds=2, learning_rate=0.01, calibration="none")
    second = _train_relapse(registry, key, cohort, config=weak)
    assert second[0].status == "not_activated"
    assert "does not beat v1" in second[0].detail or "no-skill" in second[0].detail
    assert registry.active_version("relapse_6m") == "1"
    assert registry.versions("relapse_6m") == ["1", "2"]  # installed for audit, inactive
    assert [r.action for r in second[0].records] == ["install"]


def test_better_successor_is_activated(registry, key, cohort):
    weak = replace(SMALL, max_depth=1, n_rounds=3, learning_rate=0.05)
    _train_relapse(registry, key, cohort, config=weak)
    out = _train_relapse(registry, key, cohort)
    assert out[0].status == "activated", out[0].detail
    assert out[0].predecessor["version"] == "1"
    assert registry.active_version("relapse_6m") == "2"
    assert registry.load("relapse_6m").card.raw["predecessor"]["version"] == "1"


def test_policy_drops_disallowed_demographics(registry, key, cohort):
    out = _train_relapse(registry, key, cohort, allowed_demographics=frozenset())
    assert out[0].status == "activated"
    names = [f.name for f in registry.load("relapse_6m").card.features]
    assert "age_years" not in names


def test_isotonic_calibration_is_monotone():
    rng = np.random.default_rng(0)
    m = rng.normal(size=2000)
    y = (rng.random(2000) < calibration.sigmoid(2 * m)).astype(float)
    params = calibration.fit("isotonic", m, y)
    grid = np.linspace(-3, 3, 200)
    p = calibration.apply(params, grid)
    assert np.all(np.diff(p) >= -1e-12)
    assert metrics.brier(calibration.apply(params, m), y) < metrics.brier(calibration.sigmoid(m), y)
