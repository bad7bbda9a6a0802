"""Depression screen: trained for real on Depresjon, nested CV, JSON artefacts, loading, events."""

import json

import numpy as np
import pytest

from app.core.events import AssessmentCompleted
from app.services.engine_events import screen_completed_event
from engines.errors import InputError
from engines.pat import screen as scr
from engines.pat.features import FEATURE_NAMES
from engines.pat.importer import import_csv


@pytest.fixture(scope="module")
def trained(depresjon_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    # one repeat keeps this quick; the shipped card holds 5 (repeat 0 is checked against it below)
    model_path, card_path, ev = scr.train_and_evaluate(depresjon_dir, out, n_boot=200, repeats=1)
    return model_path, card_path, ev


def test_metrics_helpers_by_hand():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8])
    m = scr.binary_metrics(y, p)
    # tp=2 (0.9, 0.8), fn=1 (0.4), fp=1 (0.6), tn=1 (0.1)
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(0.5)
    assert m["F1"] == pytest.approx(4 / 6)
    assert m["MCC"] == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    # AUC: pairs (pos, neg) won: 0.9>0.6,0.1; 0.4>0.1; 0.8>0.6,0.1 -> 5/6
    assert m["AUC"] == pytest.approx(5 / 6)


def test_nested_evaluation_and_card(trained):
    model_path, card_path, ev = trained
    assert ev.probability.shape == (1, 41) and ev.decision.shape == (1, 41)
    assert 0.5 < ev.metrics["AUC"] <= 1.0  # better than chance on held-out subjects
    for k, (lo, hi) in ev.ci95.items():
        assert lo <= hi, k
    # each outer fold's threshold was picked for >= 0.80 sensitivity on its inner folds
    assert len(ev.thresholds) == scr.OUTER_K and all(0 < t < 1 for t in ev.thresholds)
    assert set(ev.chosen) <= {c.label() for c in scr.CANDIDATES}
    card = json.loads(card_path.read_text())
    assert card["n_subjects"] == 41 and card["n_positive"] == 17
    assert card["training_data"] == scr.PROVENANCE
    assert "not validated for clinical use" in card["training_data"]
    assert "Garcia-Ceja" in card["citation"]
    assert card["features"] == list(FEATURE_NAMES)
    assert card["published_baselines"]
    assert "nested" in card["evaluation"] and "bootstrap" in card["evaluation"]
    assert "LOSO" not in card["evaluation"] and "leave-one" not in card["evaluation"]
    assert "beat" in card["baseline_comparison"]
    assert model_path.read_text().startswith("{")  # XGBoost JSON, not pickle


def test_load_and_screen_recording(trained, depresjon_dir):
    model = scr.load_screen_model(trained[0], trained[1])
    res = scr.screen(model, import_csv(depresjon_dir / "control_5.csv.gz"))
    assert 0.0 <= res.probability <= 1.0
    assert res.positive == (res.probability >= res.threshold)
    assert res.provenance == scr.PROVENANCE and res.model_version == scr.MODEL_VERSION
    assert set(res.cv_metrics) >= {"AUC", "F1", "MCC", "sensitivity", "specificity"}
    ev = screen_completed_event(res, patient_id="p-1", assessment_id="a-1")
    assert isinstance(ev, AssessmentCompleted) and ev.source == "pat"
    assert ev.total == pytest.approx(res.probability, abs=1e-4)
    assert ev.band in ("screen positive", "screen negative")


def test_tampered_model_is_rejected(trained, tmp_path):
    blob = trained[0].read_bytes().replace(b'"', b"'", 1)
    bad = tmp_path / "m.json"
    bad.write_bytes(blob)
    with pytest.raises(InputError, match="SHA-256"):
        scr.load_screen_model(bad, trained[1])


def test_bundled_model_loads_and_is_reproducible(trained, depresjon_dir, tmp_path):
    model = scr.load_bundled_model()
    card = model.card
    assert card["n_subjects"] == 41
    assert card["training_data"] == scr.PROVENANCE
    assert card["model_version"] == scr.MODEL_VERSION
    # nested figures only: repeat 0 of the shipped run equals this (same seed) one-repeat re-run
    ev = trained[2]
    assert card["evaluation"].startswith(f"nested subject-level CV: {scr.REPEATS} repeats")
    assert len(card["cv_per_repeat"]) == scr.REPEATS
    for k, v in ev.per_repeat[0].items():
        assert card["cv_per_repeat"][0][k] == pytest.approx(v, abs=1e-6), k
    for k, v in card["cv_metrics"].items():  # reported = mean over the repeats
        mean = np.mean([r[k] for r in card["cv_per_repeat"]])
        assert v == pytest.approx(mean, abs=1e-5), k
        lo, hi = card["cv_ci95"][k]
        assert lo <= hi
    # the shipped model and threshold are what the final selection on all subjects produces
    assert json.loads(trained[1].read_text())["threshold"] == pytest.approx(card["threshold"])
    assert json.loads(trained[1].read_text())["model_sha256"] == card["model_sha256"]
    assert card["params"] == json.loads(trained[1].read_text())["params"]
    # the screening threshold reaches >= 0.80 sensitivity on the training subjects' inner CV
    assert 0.0 < card["threshold"] < 1.0
