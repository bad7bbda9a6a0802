from __future__ import annotations

import numpy as np
import pytest

from engines.errors import EngineConfigError, InputError
from engines.xgb.demo import bundled_registry
from engines.xgb.features import assemble_matrix, specs_for
from engines.xgb.predict import score_caseload

SPECS = specs_for(["phq9_current", "sleep_tst_h", "anxious_depression", "age_years"])


def test_missing_features_stay_missing_never_zero():
    rows = [
        {"patient_id": "a", "phq9_current": 12, "sleep_tst_h": None, "anxious_depression": True},
        {"patient_id": "b", "phq9_current": 0},  # keys absent entirely
    ]
    x = assemble_matrix(rows, SPECS)
    assert x.dtype == np.float32 and x.shape == (2, 4)
    assert x[0, 0] == 12 and x[0, 2] == 1.0
    assert np.isnan(x[0, 1]) and np.isnan(x[0, 3])
    assert x[1, 0] == 0.0  # a real zero stays zero
    assert np.isnan(x[1, 1:]).all()


def test_columnar_input_equals_row_input():
    rows = [
        {"patient_id": str(i), "phq9_current": i, "sleep_tst_h": None if i % 2 else 6.5}
        for i in range(6)
    ]
    cols = {
        "patient_id": [r["patient_id"] for r in rows],
        "phq9_current": [r["phq9_current"] for r in rows],
        "sleep_tst_h": [r["sleep_tst_h"] for r in rows],
    }
    np.testing.assert_array_equal(assemble_matrix(rows, SPECS), assemble_matrix(cols, SPECS))


def test_out_of_range_value_names_patient_and_feature():
    with pytest.raises(InputError, match=r"patient p7: feature 'phq9_current' = 31"):
        assemble_matrix([{"patient_id": "p7", "phq9_current": 31}], SPECS)


def test_non_number_is_a_clear_error():
    with pytest.raises(InputError, match=r"patient p8: feature 'sleep_tst_h' is not a number"):
        assemble_matrix([{"patient_id": "p8", "sleep_tst_h": "seven"}], SPECS)


def test_unknown_feature_name_is_an_error():
    with pytest.raises(InputError, match="unknown feature"):
        specs_for(["phq9_curent"])


def test_policy_refuses_disallowed_demographic():
    with pytest.raises(EngineConfigError, match="age_years"):
        assemble_matrix([{}], SPECS, allowed_demographics=frozenset())
    assemble_matrix([{}], SPECS, allowed_demographics=frozenset({"age_years"}))


def test_model_treats_missing_differently_from_zero():
    """Native missing handling: NaN follows the learned default branch, not the zero branch."""
    model = bundled_registry().load("relapse_6m")
    base = {"phq9_current": 8, "phq9_baseline": 18, "prior_episodes": 2, "age_years": 40}
    missing = score_caseload(model, [dict(base)])
    zero = score_caseload(model, [dict(base, adherence_pdc=0.0, sleep_tst_h=0.0)])
    assert missing.probability[0] != pytest.approx(zero.probability[0], abs=1e-4)


def test_ten_thousand_patients_assemble_fast():
    import time

    rng = np.random.default_rng(0)
    specs = specs_for(["phq9_current", "phq9_baseline", "sleep_tst_h", "prior_episodes"] * 3)
    rows = [
        {"phq9_current": float(v), "sleep_tst_h": None, "prior_episodes": 1}
        for v in rng.integers(0, 27, 10_000)
    ]
    t = time.perf_counter()
    x = assemble_matrix(rows, specs)
    assert x.shape == (10_000, 12)
    assert (
        time.perf_counter() - t < 1.0
    )  # generous on a shared 2-core machine; bench has the figure
