"""The shipped cortex: real fs_LR 32k surfaces in MNI space with HCP-MMP1.0 parcels."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.errors import ValidationError
from viz.brain import BRAIN_FILE, load_brain_file


def test_both_hemispheres_with_all_named_parcels(brain):
    assert brain.n_vertices == 2 * 32492
    assert brain.faces.shape == (129960, 3)
    assert brain.n_left == 32492
    labelled = np.unique(brain.parcel[brain.parcel > 0])
    assert len(labelled) == 360
    names = {brain.parcel_names[i] for i in labelled}
    for name in ("L_46", "R_46", "L_25", "R_s32", "L_pOFC", "R_AVI", "L_p24", "R_8C"):
        assert name in names
    # left parcels only on left vertices
    left_ids = [i for i, n in enumerate(brain.parcel_names) if n.startswith("L_")]
    assert np.isin(brain.parcel[brain.n_left :], left_ids).sum() == 0
    # medial wall is unlabelled, but small
    assert 0.05 < (brain.parcel == 0).mean() < 0.12


def test_coordinates_are_mni_millimetres(brain):
    v = brain.vertices
    lo, hi = v.min(axis=0), v.max(axis=0)
    assert -80 < lo[0] < -55 and 55 < hi[0] < 80  # x: left-right
    assert -115 < lo[1] < -95 and 60 < hi[1] < 80  # y: occipital to frontal pole
    assert -55 < lo[2] < -35 and 70 < hi[2] < 85  # z: temporal pole to vertex
    assert (v[: brain.n_left, 0] < 5).mean() > 0.99
    assert (v[brain.n_left :, 0] > -5).mean() > 0.99
    np.testing.assert_allclose(np.linalg.norm(brain.normals, axis=1), 1.0, atol=0.02)


def test_region_anchors_sit_where_the_literature_puts_them(atlas):
    def anchor(region, hemi):
        return np.array(next(a.xyz for a in atlas.anchors[region] if a.hemi == hemi))

    dl = anchor("dlPFC", "L")
    assert dl[0] < -25 and dl[1] > 15 and dl[2] > 15
    sg = anchor("sgACC", "R")
    assert 0 < sg[0] < 15 and sg[1] > 5 and sg[2] < 5
    ins = anchor("insula", "L")
    assert -45 < ins[0] < -28 and -15 < ins[1] < 20
    ofc = anchor("OFC", "R")
    assert ofc[1] > 10 and ofc[2] < -5


def test_nucleus_glyphs_lie_inside_the_cortex(brain, atlas):
    v = brain.vertices.astype(float)
    lo, hi = v.min(axis=0), v.max(axis=0)
    for rid in atlas.nucleus_ids:
        for p in atlas.nucleus_points[rid]:
            assert np.all(p > lo) and np.all(p < hi), rid
            # cortex is found on both sides (x) and above (z) of every glyph
            for axis, sign in ((0, 1), (0, -1), (2, 1)):
                others = [a for a in range(3) if a != axis]
                near_ray = np.linalg.norm(v[:, others] - p[others], axis=1) < 6.0
                beyond = sign * (v[:, axis] - p[axis]) > 3.0
                assert np.any(near_ray & beyond), (rid, axis, sign)


def test_corrupt_or_incomplete_brain_file_is_a_clear_error(tmp_path, brain):
    junk = tmp_path / BRAIN_FILE
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="not a readable brain mesh"):
        load_brain_file(junk)
    partial = tmp_path / "partial.npz"
    np.savez(partial, vertices=brain.vertices, faces=brain.faces)
    with pytest.raises(ValidationError, match="missing arrays"):
        load_brain_file(partial)
    bad = tmp_path / "bad.npz"
    np.savez(
        bad,
        vertices=brain.vertices[:10],
        faces=np.array([[0, 1, 99]]),
        normals=brain.normals[:10],
        parcel=brain.parcel[:10],
        parcel_names=np.array(brain.parcel_names),
        sulc=brain.sulc[:10],
        n_left=np.int32(5),
        source=np.array("test"),
    )
    with pytest.raises(ValidationError, match="'faces'"):
        load_brain_file(bad)
