from __future__ import annotations

import numpy as np
import pytest

from app.core.events import PredictionGenerated
from app.services.engine_events import prediction_event
from engines.xgb.bands import BANDS, SUICIDE_RISK_NOTICE, risk_band, risk_band_codes
from engines.xgb.demo import bundled_registry
from engines.xgb.features import assemble_matrix
from engines.xgb.predict import contributions, explain, score_caseload
from engines.xgb.synthetic import generate_cohort


@pytest.fixture(scope="module")
def patients():
    return generate_cohort(400, seed=99)


@pytest.fixture(scope="module")
def hosp():
    return bundled_registry().load("hosp_90d")


@pytest.mark.parametrize(
    "p,band",
    [
        (0.0, "very low"),
        (0.1999, "very low"),
        (0.2, "low"),
        (0.3999, "low"),
        (0.4, "moderate"),
        (0.6, "high"),
        (0.7999, "high"),
        (0.8, "very high"),
        (1.0, "very high"),
    ],
)
def test_band_edges(p, band):
    assert risk_band(p) == band
    assert BANDS[risk_band_codes(np.array([p]))[0]] == band


def test_band_rejects_invalid_probability():
    with pytest.raises(ValueError):
        risk_band(1.2)
    with pytest.raises(ValueError):
        risk_band(float("nan"))


def test_contributions_sum_to_margin(hosp, patients):
    x = assemble_matrix(patients, hosp.card.features)
    contrib = contributions(hosp, x)
    margin = hosp.booster.inplace_predict(x, predict_type="margin")
    assert contrib.shape == (len(patients), len(hosp.card.features) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, atol=1e-4)
    # missing features exist in this cohort and still get a well-defined contribution
    assert np.isnan(x).any()


def test_explained_prediction_is_consistent(hosp, patients):
    preds = explain(hosp, patients[:20])
    caseload = score_caseload(hosp, patients[:20])
    for i, pr in enumerate(preds):
        assert pr.patient_id == patients[i]["patient_id"]
        assert pr.bias + sum(c.contribution for c in pr.contributions) == pytest.approx(
            pr.margin, abs=1e-4
        )
        assert pr.interval_low <= pr.probability <= pr.interval_high
        assert pr.band == risk_band(pr.probability)
        assert pr.probability == pytest.approx(caseload.probability[i])
        sizes = [abs(c.contribution) for c in pr.contributions]
        assert sizes == sorted(sizes, reverse=True)
        assert pr.model_version == "hosp_90d@1" and pr.synthetic
        assert pr.provenance["training_data"] == "synthetic"
        assert SUICIDE_RISK_NOTICE in pr.notice and "demonstration only" in pr.notice
        assert "missing input" in pr.interval_method
        assert pr.provenance["interval_coverage"].startswith("90% interval, coverage ")
        missing = {c.feature for c in pr.contributions if c.value is None}
        assert missing == {s.name for s in hosp.card.features if patients[i].get(s.name) is None}


def test_prediction_event(hosp, patients):
    pr = explain(hosp, patients[:1])[0]
    ev = prediction_event(pr, "pred-1")
    assert isinstance(ev, PredictionGenerated)
    assert ev.payload()["model_version"] == "hosp_90d@1"
    assert ev.probability == pytest.approx(pr.probability, abs=1e-6) and ev.band == pr.band
    assert ev.patient_id == pr.patient_id


def test_caseload_sorted_by_risk(hosp, patients):
    scores = score_caseload(hosp, patients)
    order = scores.order_by_risk()
    assert np.all(np.diff(scores.probability[order]) <= 0)
    assert len(scores.patient_ids) == len(patients)
    assert scores.band(int(order[0])) in BANDS


def test_interval_widths_are_bounded_and_contain_the_estimate(hosp, patients):
    scores = score_caseload(hosp, patients)
    width = scores.interval_high - scores.interval_low
    assert np.all(width > 0) and np.all(width < 0.5)
    assert np.all(scores.interval_low <= scores.probability)
    assert np.all(scores.probability <= scores.interval_high)


def test_every_demo_card_records_coverage_and_skill():
    """The shipped demo models: measured coverage within 87-93 % and a Brier skill decision."""
    reg = bundled_registry()
    for name in reg.names():
        card = reg.load(name).card.raw
        cov = card["uncertainty"]["coverage"]
        assert cov["measured"] and 0.87 <= cov["overall"]["value"] <= 0.93, name
        skill = card["skill"]
        assert skill["shown_as_risk_score"] == (skill["brier_skill"] >= skill["minimum"]), name
        assert skill["reason"]


def test_detect_device_reports_cpu_without_cuda_build():
    import xgboost as xgb

    from engines.xgb.device import detect_device

    rep = detect_device()
    assert rep.device in ("cpu", "cuda")
    if not xgb.build_info().get("USE_CUDA"):
        assert rep.device == "cpu" and not rep.cuda_build and "no CUDA" in rep.summary()


def test_trained_on_reads_the_device_the_booster_used():
    """A CUDA build without a GPU trains on the CPU with only a warning: the booster's own
    config, not the requested device, says where it ran."""
    import numpy as np
    import xgboost as xgb

    from engines.xgb.device import trained_on

    x = np.random.default_rng(0).random((64, 2)).astype(np.float32)
    dm = xgb.DMatrix(x, label=(x[:, 0] > 0.5).astype(np.float32))
    booster = xgb.train({"tree_method": "hist", "device": "cpu", "verbosity": 0}, dm, 1)
    assert trained_on(booster) == "cpu"
    config = booster.save_config()
    assert '"device":"cpu"' in config.replace(" ", "")
