"""app.services.twin_view read models on a real demo store (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import NotFoundError, ValidationError
from app.services import twin_view as tv
from engines.twin import explain_region


def test_timeline_values_are_the_region_map_of_the_state(shared_demo) -> None:
    ctx, who, pid = shared_demo
    t = tv.load_timeline(ctx, who, pid)
    assert t is not None and t.patient_id == pid
    assert t.values.shape == (len(t.region_ids), len(t.dates))
    day = t.dates[20]
    act = tv.region_map().activity(t.state.at(day))
    for rid in t.region_ids:
        i = t.region_ids.index(rid)
        assert t.values[i, 20] == pytest.approx(act[rid].value)
        assert t.sd[i, 20] == pytest.approx(act[rid].sd)
    assert t.color_limit() >= np.nanmax(np.abs(t.values))
    m, lo, hi = t.region_series("amygdala")
    assert np.all(lo < m) and np.all(m < hi)


def test_region_detail_evidence_adds_up_to_the_observation_share(shared_demo) -> None:
    ctx, who, pid = shared_demo
    t = tv.load_timeline(ctx, who, pid)
    d = tv.region_detail(t, "sgacc", t.dates[-1], top=1000)
    full = explain_region(tv.region_map(), t.state, "sgacc", t.dates[-1])
    assert d.low < d.value < d.high
    assert d.label == "model estimate, not a measurement"
    kept = [e for e in full if abs(e.region_weight) >= 5e-4]
    assert [e.obs_id for e in d.evidence] == [e.obs_id for e in kept]
    assert sum(e.contribution for e in d.evidence) == pytest.approx(
        sum(e.contribution for e in kept)
    )
    for e in d.evidence:
        s = e.sentence()
        assert e.day.isoformat() in s and "weight" in s
        assert e.obs_id not in s  # sentences carry kinds and dates; ids are shown separately


def test_whatif_uses_the_latest_response_prediction(shared_demo) -> None:
    ctx, who, pid = shared_demo
    t = tv.load_timeline(ctx, who, pid)
    preds = tv.response_predictions(ctx, who, pid)
    assert set(preds) == set(tv.OPTION_LABELS)
    w = tv.whatif(ctx, who, t, "bupropion")
    assert w.provenance["medication_class_used"] == "ndri"
    assert w.projection.p == pytest.approx(preds["bupropion"].probability)
    assert w.label == tv.WHATIF_LABEL
    assert w.regions_at(0).keys() == set(t.region_ids)
    with pytest.raises(ValidationError, match="unknown treatment option"):
        tv.whatif(ctx, who, t, "homeopathy")


def test_whatif_without_predictions_is_a_clear_error(ctx, clinic) -> None:
    from app.core.domain import Role

    who = clinic["users"][Role.CLINICIAN]
    assert tv.load_timeline(ctx, who, clinic["mine"]) is None
    assert tv.response_predictions(ctx, who, clinic["mine"]) == {}


def test_whatif_needs_a_prediction(shared_demo, ctx, clinic) -> None:
    from dataclasses import replace

    from app.core.domain import Role

    c, who, pid = shared_demo
    t = tv.load_timeline(c, who, pid)
    other = replace(t, patient_id=clinic["mine"])  # a patient with no predictions
    with pytest.raises(NotFoundError, match="No treatment-response prediction"):
        tv.whatif(ctx, clinic["users"][Role.CLINICIAN], other, "ssri")
