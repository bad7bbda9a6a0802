"""Honest uncertainty (issue 20 item 2): intervals that carry model error and missing inputs,
coverage measured against the generator's true risk, the Brier skill gate, and the signed donor
file. Real XGBoost, trained here on small synthetic cohorts."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest

from engines.errors import InputError
from engines.xgb import uncertainty
from engines.xgb.features import CATALOGUE, FeatureSpec, assemble_matrix
from engines.xgb.predict import explain, score_caseload, score_matrix
from engines.xgb.skill import MIN_BRIER_SKILL
from engines.xgb.synthetic import RISK_PREFIX, generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import train_model, write_package

from .conftest import CLINIC, SMALL

RELAPSE = TARGETS["relapse_6m"]
SYNTHETIC = {"kind": "synthetic", "description": "test cohort"}


def _install(registry, trained, key, tmp_path, name="pkg"):
    pkg = write_package(trained, tmp_path / name, key)
    registry.install_package(pkg, actor="it", activate=True)
    return registry.load(trained.target.name)


@pytest.fixture(scope="module")
def big_cohort():
    return generate_cohort(20_000, seed=21)


@pytest.fixture(scope="module")
def trained_big(big_cohort):
    return train_model(big_cohort, RELAPSE, version="1", training_data=SYNTHETIC, config=SMALL)


@pytest.fixture
def relapse_model(registry, trained_big, key, tmp_path):
    return _install(registry, trained_big, key, tmp_path)


def _covered(model, rows):
    x = assemble_matrix(rows, model.card.features)
    _m, _p, low, high, _c = score_matrix(model, x)
    risk = np.array([r[RELAPSE.risk_key] for r in rows])
    return (risk >= low) & (risk <= high), x


def test_card_records_coverage_within_tolerance_on_held_out_split(trained_big):
    unc = trained_big.card["uncertainty"]
    cov = unc["coverage"]
    assert unc["nominal"] == 0.9 and cov["measured"] and cov["split"] == "test"
    assert cov["overall"]["n"] == trained_big.card["split"]["n_test"]
    assert 0.87 <= cov["overall"]["value"] <= 0.93
    assert cov["overall"]["ci_low"] < cov["overall"]["value"] < cov["overall"]["ci_high"]
    parts = cov["with_missing"]["n"] + cov["complete"]["n"]
    assert parts == cov["overall"]["n"] and min(cov["with_missing"]["n"], cov["complete"]["n"]) > 0
    assert unc["median_width"]["overall"] > 0
    assert "coverage" in unc["text"] and "held-out synthetic patients" in unc["text"]


def test_scored_intervals_cover_true_risk_of_new_patients(relapse_model):
    """Patients the model never saw, scored through the installed (signed) package."""
    fresh = generate_cohort(5000, seed=777)
    hit, x = _covered(relapse_model, fresh)
    assert 0.87 <= hit.mean() <= 0.93
    gap = uncertainty.gaps(x, [f.name for f in relapse_model.card.features]).any(axis=1)
    assert gap.any() and (~gap).any()
    assert 0.85 <= hit[gap].mean() <= 0.95 and 0.85 <= hit[~gap].mean() <= 0.95


def test_interval_is_wider_when_inputs_are_missing(relapse_model):
    names = [f.name for f in relapse_model.card.features]
    rows = [r for r in generate_cohort(3000, seed=5) if all(r.get(n) is not None for n in names)]
    assert len(rows) > 100
    hidden = ("sleep_tst_h", "sleep_efficiency", "prior_episodes", "adherence_pdc")
    masked = [r | dict.fromkeys(hidden) for r in rows]
    x_full = assemble_matrix(rows, relapse_model.card.features)
    x_mask = assemble_matrix(masked, relapse_model.card.features)
    _m, p_f, lo_f, hi_f, _c = score_matrix(relapse_model, x_full)
    _m, p_m, lo_m, hi_m, _c = score_matrix(relapse_model, x_mask)
    wl_f = uncertainty.logit(hi_f) - uncertainty.logit(lo_f)
    wl_m = uncertainty.logit(hi_m) - uncertainty.logit(lo_m)
    assert np.all(wl_m >= wl_f - 1e-6) and np.mean(wl_m > wl_f + 1e-6) > 0.9
    assert np.mean(hi_m - lo_m) > np.mean(hi_f - lo_f)  # in probability, on average
    assert np.all((lo_m <= p_m) & (p_m <= hi_m))
    # missing inputs stay visible to the explanation as value None
    pred = explain(relapse_model, masked[:1])[0]
    assert {c.feature for c in pred.contributions if c.value is None} == set(hidden)


def test_prediction_says_how_the_interval_was_made_and_its_coverage(relapse_model):
    pred = explain(relapse_model, generate_cohort(3, seed=2))[0]
    assert "missing input" in pred.interval_method and "model's own error" in pred.interval_method
    cov = relapse_model.card.raw["uncertainty"]["coverage"]["overall"]
    assert pred.provenance["interval_coverage"] == (
        f"90% interval, coverage {cov['value']:.1%} on {cov['n']:,} held-out synthetic patients"
    )
    assert pred.withheld is None


def test_no_skill_model_is_withheld_with_its_reason(registry, key, tmp_path, cohort):
    """Labels independent of the features: the card says why and scores carry the reason."""
    labels = [r["relapse_6m"] for r in cohort]
    random.Random(4).shuffle(labels)
    noise = [r | {"relapse_6m": y} for r, y in zip(cohort, labels, strict=True)]
    trained = train_model(noise, RELAPSE, version="1", training_data=CLINIC, config=SMALL)
    skill = trained.card["skill"]
    assert skill["brier_skill"] < MIN_BRIER_SKILL and skill["shown_as_risk_score"] is False
    assert "Not shown as a risk score" in skill["reason"] and "base rate" in skill["reason"]
    assert skill["brier_skill_ci"][0] <= skill["brier_skill"] <= skill["brier_skill_ci"][1]
    model = _install(registry, trained, key, tmp_path)
    rows = cohort[:5]
    assert all(p.withheld == skill["reason"] for p in explain(model, rows))
    assert score_caseload(model, rows).withheld == skill["reason"]


def test_skilful_model_is_shown(trained_big):
    skill = trained_big.card["skill"]
    assert skill["shown_as_risk_score"] is True and skill["brier_skill"] >= MIN_BRIER_SKILL
    assert skill["minimum"] == MIN_BRIER_SKILL and skill["reason"]


def test_true_risk_is_never_a_model_input(cohort):
    assert not any(s.name.startswith(RISK_PREFIX) for s in CATALOGUE)
    for target in TARGETS.values():
        assert target.risk_key.startswith(RISK_PREFIX)
        assert target.risk_key not in target.feature_names
    leak = FeatureSpec("risk_relapse_6m", "true risk", "probability", "history")
    with pytest.raises(InputError, match="never a model input"):
        train_model(
            cohort,
            RELAPSE,
            version="1",
            training_data=CLINIC,
            config=SMALL,
            features=(*RELAPSE.features, leak),
        )
    # scrambling the true risk changes neither the trees nor the calibration
    risks = [r[RELAPSE.risk_key] for r in cohort]
    random.Random(9).shuffle(risks)
    scrambled = [r | {RELAPSE.risk_key: v} for r, v in zip(cohort, risks, strict=True)]
    a = train_model(cohort, RELAPSE, version="1", training_data=CLINIC, config=SMALL)
    b = train_model(scrambled, RELAPSE, version="1", training_data=CLINIC, config=SMALL)
    assert a.model_bytes == b.model_bytes
    assert a.card["calibration"] == b.card["calibration"]


def test_tampered_donor_file_is_refused(registry, trained_relapse, key, tmp_path):
    pkg = write_package(trained_relapse, tmp_path / "pkg", key)
    registry.install_package(pkg, actor="it", activate=True)
    assert registry.load("relapse_6m").donors is not None
    installed = registry.root / "relapse_6m" / "1" / uncertainty.DONOR_FILE
    doc = json.loads(installed.read_text())
    doc["rows"][0][0] = 27.0 if doc["rows"][0][0] != 27.0 else 0.0  # one donor value changed
    installed.write_text(json.dumps(doc))
    with pytest.raises(InputError, match="donor file was altered"):
        registry.load("relapse_6m")
    installed.unlink()
    with pytest.raises(InputError, match="donor file named by the card is missing"):
        registry.load("relapse_6m")


def test_package_with_tampered_donor_file_is_not_installed(
    registry, trained_relapse, key, tmp_path
):
    pkg = write_package(trained_relapse, tmp_path / "pkg", key)
    (pkg / uncertainty.DONOR_FILE).write_text(json.dumps({"features": [], "rows": []}))
    with pytest.raises(InputError, match="donor file was altered"):
        registry.install_package(pkg, actor="it")
    assert registry.versions("relapse_6m") == []


def test_donor_file_holds_feature_values_only(trained_relapse):
    doc = json.loads(trained_relapse.donor_bytes)
    assert set(doc) == {"features", "rows"}
    assert doc["features"] == [s.name for s in RELAPSE.features]
    assert len(doc["rows"]) == uncertainty.N_DONORS
    assert all(v is None or isinstance(v, float) for row in doc["rows"] for v in row)
    assert "no identifiers" in trained_relapse.card["uncertainty"]["donors"]["source"]


def test_real_outcomes_only_get_spread_interval_with_coverage_not_measured(
    registry, key, tmp_path, cohort
):
    """Clinic records carry no true risk: the card says coverage was not measured, and why."""
    real = [{k: v for k, v in r.items() if not k.startswith(RISK_PREFIX)} for r in cohort]
    trained = train_model(real, RELAPSE, version="1", training_data=CLINIC, config=SMALL)
    unc = trained.card["uncertainty"]
    assert unc["method"] == uncertainty.METHOD_LABEL_ONLY
    assert unc["coverage"]["measured"] is False and "never observed" in unc["coverage"]["reason"]
    assert "coverage not measured" in unc["text"]
    assert "this clinic" in unc["donors"]["source"] and "no identifiers" in unc["donors"]["source"]
    assert unc["base_logit_sd"] > 0
    model = _install(registry, trained, key, tmp_path)
    rows = real[:200]
    scores = score_caseload(model, rows)
    assert np.all(scores.interval_low <= scores.probability)
    assert np.all(scores.probability <= scores.interval_high)
    assert np.all(scores.interval_high > scores.interval_low)


def test_legacy_card_without_uncertainty_still_scores(registry, trained_relapse, key, tmp_path):
    """Models installed before this change have no donor file and no uncertainty section."""
    card = {k: v for k, v in trained_relapse.card.items() if k not in ("uncertainty", "skill")}
    old = replace(trained_relapse, card=card, donor_bytes=b"")
    model = _install(registry, old, key, tmp_path)
    assert model.donors is None
    scores = score_caseload(model, generate_cohort(20, seed=3))
    assert scores.withheld is None and np.isfinite(scores.probability).all()
