"""Depression screen: trained for real on Depresjon, LOSO CV, JSON artefacts, loading, events."""

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
    model_path, card_path, ev = scr.train_and_evaluate(depresjon_dir, out, n_boot=200)
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


def test_loso_evaluation_and_card(trained):
    model_path, card_path, ev = trained
    assert ev.n_subjects == 41 and ev.n_positive == 17
    assert ev.oof_probability.shape == (41,)
    assert 0.5 < ev.metrics["AUC"] <= 1.0  # better than chance on held-out subjects
    for k, (lo, hi) in ev.ci95.items():
        assert lo <= ev.metrics[k] <= hi or np.isnan(ev.metrics[k]), k
    card = json.loads(card_path.read_text())
    assert card["training_data"] == scr.PROVENANCE
    assert "not validated for clinical use" in card["training_data"]
    assert "Garcia-Ceja" in card["citation"]
    assert card["features"] == list(FEATURE_NAMES)
    assert card["published_baselines"]
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


def test_bundled_model_loads_and_is_reproducible(trained):
    model = scr.load_bundled_model()
    assert model.card["n_subjects"] == 41
    assert model.card["training_data"] == scr.PROVENANCE
    # the shipped artefact is what this code trains (deterministic seed): same CV metrics
    ev = trained[2]
    for k, v in ev.metrics.items():
        assert model.card["cv_metrics"][k] == pytest.approx(v, abs=1e-9), k
