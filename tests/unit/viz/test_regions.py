"""Region definitions resolve to parcels and glyphs, and bad ones are clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from app.core.errors import ValidationError
from viz.regions import build_atlas


def test_definition_resolves_parcels_glyphs_and_connections(atlas, brain):
    assert atlas.cortical_ids == ("dlPFC", "sgACC", "ACC", "OFC", "insula")
    assert set(atlas.nucleus_ids) == {
        "amygdala",
        "hippocampus",
        "NAcc",
        "VTA",
        "hypothalamus",
        "thalamus",
        "raphe",
        "LC",
    }
    assert atlas.parcels["sgACC"] == ("L_25", "R_25", "L_s32", "R_s32")
    for rid in atlas.cortical_ids:
        verts = atlas.region_vertices(rid)
        assert (verts < brain.n_left).any() and (verts >= brain.n_left).any(), rid
        names = {brain.parcel_names[p] for p in np.unique(brain.parcel[verts])}
        assert names == set(atlas.parcels[rid])
    # vertices outside every region, incl. the medial wall, map to -1
    assert (atlas.vertex_region[brain.parcel == 0] == -1).all()
    assert atlas.nucleus_points["amygdala"].shape == (2, 3)
    assert atlas.nucleus_points["VTA"].shape == (1, 3)
    assert {a.hemi for a in atlas.anchors["VTA"]} == {"M"}
    assert len(atlas.connections) == 11


def test_list_form_and_single_hemisphere_parcels(brain):
    defn = {"regions": [{"id": "lDL", "parcels": ["L_46"]}, {"id": "amy", "mni": [-22, -4, -18]}]}
    atlas = build_atlas(defn, brain)
    verts = atlas.region_vertices("lDL")
    assert len(verts) > 0 and (verts < brain.n_left).all()
    assert atlas.kinds == {"lDL": "cortical", "amy": "nucleus"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["regions"]["OFC"].update(parcels=["OFC", "XYZ"]),
            "unknown HCP-MMP1.0 parcel 'XYZ'",
        ),
        (lambda d: d["regions"]["ACC"]["parcels"].append("25"), "parcel 'L_25' is in both"),
        (lambda d: d["regions"]["VTA"].pop("mni"), "'VTA': a subcortical region needs 'mni'"),
        (lambda d: d["regions"]["raphe"].update(mni=[0, -28, 400]), "outside"),
        (lambda d: d["regions"]["raphe"].update(mni=[0, "x", 1]), "not numeric"),
        (lambda d: d["regions"]["LC"].update(kind="cerebellar"), "unknown kind 'cerebellar'"),
        (lambda d: d["connections"].append(["dlPFC", "nowhere"]), "unknown region 'nowhere'"),
        (lambda d: d["connections"].append(["dlPFC", "ACC", -1]), "positive"),
        (lambda d: d.update(regions={}), "no regions defined"),
        (lambda d: d["regions"]["OFC"].update(parcels="OFC"), "non-empty list"),
    ],
)
def test_bad_definitions_name_the_file_and_problem(region_defn, brain, mutate, message):
    defn = copy.deepcopy(region_defn)
    mutate(defn)
    with pytest.raises(ValidationError, match="region_map.json") as err:
        build_atlas(defn, brain, source="region_map.json")
    assert message in str(err.value)


def test_twin_engine_file_shape_is_accepted(brain):
    """Keys used by resources/twin/region_map.json: list form, hcp_mmp_parcels, bilateral."""
    defn = {
        "regions": [
            {
                "id": "dlpfc",
                "kind": "cortical",
                "display_name": "dlPFC",
                "hcp_mmp_parcels": ["46", "8C"],
                "mni": [-38, 44, 26],
            },
            {
                "id": "amygdala",
                "kind": "subcortical",
                "hemisphere": "bilateral",
                "mni": [-22, -4, -18],
            },
            {"id": "vta", "kind": "subcortical", "hemisphere": "midline", "mni": [0, -16, -10]},
        ],
        "connections": [{"a": "dlpfc", "b": "amygdala", "refs": ["x"]}],
    }
    atlas = build_atlas(defn, brain)
    assert atlas.labels["dlpfc"] == "dlPFC"
    assert atlas.parcels["dlpfc"] == ("L_46", "R_46", "L_8C", "R_8C")
    np.testing.assert_array_equal(atlas.nucleus_points["amygdala"], [[-22, -4, -18], [22, -4, -18]])
    assert atlas.nucleus_points["vta"].shape == (1, 3)
    assert atlas.connections[0].a == "dlpfc" and atlas.connections[0].b == "amygdala"
