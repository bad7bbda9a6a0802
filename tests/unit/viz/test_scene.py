"""The twin scene offscreen: values on the actors, in-place updates, picking, comparison."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.core.errors import ValidationError
from tests.unit.viz.conftest import VALUES_A, VALUES_B
from viz import gl
from viz.scene import COLOR_ARRAY, VALUE_ARRAY, CompareScene, Pick, TwinScene


@pytest.fixture(scope="module")
def scene(atlas, brain):
    s = TwinScene(atlas, brain, window_size=(400, 400))
    s.render()
    yield s
    s.close()


def expected_vertex_values(atlas, values):
    vec = np.array([values.get(r, np.nan) for r in atlas.ids] + [np.nan])
    idx = atlas.vertex_region.copy()
    idx[idx < 0] = len(atlas.ids)
    return vec[idx]


def actor_arrays(scene, name):
    return np.concatenate(
        [
            np.array(a.GetMapper().GetInput().GetPointData().GetArray(name))
            for a in scene.layer.cortex.values()
        ]
    )


def test_scalars_on_the_actor_match_the_values_for_a_date(scene, atlas):
    for values in (VALUES_A, VALUES_B):
        scene.set_region_values(values)
        scene.render()
        np.testing.assert_allclose(
            actor_arrays(scene, VALUE_ARRAY), expected_vertex_values(atlas, values), rtol=1e-6
        )
        np.testing.assert_array_equal(scene.vertex_values(), actor_arrays(scene, VALUE_ARRAY))
        for rid in atlas.nucleus_ids:
            got = scene.layer.nucleus_rgb(rid)
            np.testing.assert_allclose(got, scene.colormap.rgb(values[rid]), atol=0.5 / 255)


def test_region_colours_follow_the_colour_map_and_anatomy_stays_grey(scene, atlas):
    scene.set_region_values({"dlPFC": 1.0, "OFC": 0.0})
    color = actor_arrays(scene, COLOR_ARRAY)
    dl = atlas.region_vertices("dlPFC")
    ofc = atlas.region_vertices("OFC")
    outside = atlas.vertex_region < 0
    assert np.all(color[dl] > 0.99) and np.all((color[ofc] >= 0) & (color[ofc] < 0.01))
    assert np.all(color[outside] < 0)  # grey anatomy half of the table
    # a region without a value shows anatomy, not a colour
    assert np.all(color[atlas.region_vertices("ACC")] < 0)


def test_update_is_in_place_without_rebuilding_the_mesh(scene):
    poly = [a.GetMapper().GetInput() for a in scene.layer.cortex.values()]
    arrays = [p.GetPointData().GetArray(VALUE_ARRAY) for p in poly]
    times = [a.GetMTime() for a in arrays]
    scene.set_region_values(VALUES_A)
    assert [a.GetMapper().GetInput() for a in scene.layer.cortex.values()] == poly
    assert [p.GetPointData().GetArray(VALUE_ARRAY) for p in poly] == arrays
    assert all(a.GetMTime() > t for a, t in zip(arrays, times))


def test_unknown_region_or_bad_value_changes_nothing(scene):
    scene.set_region_values(VALUES_A)
    before = scene.vertex_values().copy()
    with pytest.raises(ValidationError, match="unknown region"):
        scene.set_region_values({"dlPFC": 0.1, "nowhere": 0.5})
    with pytest.raises(ValidationError, match="'OFC' is not a number"):
        scene.set_region_values({"OFC": "high"})
    np.testing.assert_array_equal(scene.vertex_values(), before)


def visible_point(scene, atlas, brain, region, hemi, view_dir):
    """The region vertex nearest its centroid among those facing the camera."""
    verts = atlas.region_vertices(region)
    verts = verts[(verts < brain.n_left) == (hemi == "L")]
    pts = brain.vertices[verts].astype(float)
    facing = brain.normals[verts] @ -np.asarray(view_dir, float) > 0.7
    pts = pts[facing]
    centroid = pts.mean(axis=0)
    return pts[np.argmin(np.linalg.norm(pts - centroid, axis=1))]


@pytest.mark.parametrize(
    ("preset", "region", "hemi", "view_dir"),
    [
        ("lateral_left", "dlPFC", "L", (1, 0, 0)),
        ("medial_left", "sgACC", "L", (-1, 0, 0)),
        ("bottom", "OFC", "R", (0, 0, 1)),
    ],
)
def test_pick_at_a_regions_screen_position_returns_it(
    scene, atlas, brain, preset, region, hemi, view_dir
):
    scene.set_region_values(VALUES_A)
    scene.set_camera(preset)
    scene.render()
    x, y = scene.project(visible_point(scene, atlas, brain, region, hemi, view_dir))
    assert 0 <= x < 400 and 0 <= y < 400
    assert scene.pick(x, y) == Pick(region)


def test_pick_nucleus_through_glass_cortex_and_background(scene, atlas):
    scene.set_camera("bottom")
    scene.render()
    for rid in ("amygdala", "thalamus", "VTA"):
        x, y = scene.project(atlas.nucleus_points[rid][0])
        assert scene.pick(x, y) == Pick(rid)
    assert scene.pick(2, 2) == Pick(None)  # background corner
    scene.set_camera("oblique")


def test_camera_presets_and_unknown_preset(scene):
    scene.set_camera("medial_left")
    assert scene.layer.cortex["L"].GetVisibility() and not scene.layer.cortex["R"].GetVisibility()
    scene.set_camera("top")
    assert all(a.GetVisibility() for a in scene.layer.cortex.values())
    with pytest.raises(ValidationError, match="camera preset 'sideways'"):
        scene.set_camera("sideways")
    scene.set_camera("oblique")


def test_difference_map_uses_a_symmetric_diverging_scale(atlas, brain):
    s = TwinScene(atlas, brain, window_size=(200, 200))
    try:
        diff = s.show_difference(VALUES_A, VALUES_B)
        assert diff["NAcc"] == pytest.approx(0.4)
        assert diff["dlPFC"] == pytest.approx(-0.3)
        assert s.colormap.name == "diverging"
        lo, hi = s.colormap.clim
        assert lo == -hi and hi == pytest.approx(max(abs(v) for v in diff.values()))
        expected = {k: VALUES_B[k] - VALUES_A[k] for k in VALUES_A}
        np.testing.assert_allclose(
            s.vertex_values(), expected_vertex_values(atlas, expected), rtol=1e-5, atol=1e-6
        )
        assert "B \u2212 A" in s.scalar_bar.GetTitle()
    finally:
        s.close()


def test_compare_two_dates_with_linked_cameras(atlas, brain):
    c = CompareScene(atlas, brain, window_size=(600, 300))
    try:
        c.set_region_values(VALUES_A, VALUES_B)
        c.render()
        assert c.cameras_linked()
        np.testing.assert_allclose(c.vertex_values(0), expected_vertex_values(atlas, VALUES_A))
        np.testing.assert_allclose(c.vertex_values(1), expected_vertex_values(atlas, VALUES_B))
        cam = c.layers[0].renderer.GetActiveCamera()
        cam.Azimuth(40)
        assert c.layers[1].renderer.GetActiveCamera().GetPosition() == cam.GetPosition()
        c.set_camera("bottom")
        c.render()
        x, y = c.project(atlas.nucleus_points["amygdala"][0], layer=1)
        assert c.pick(x, y) == Pick("amygdala", side=1)
        x, y = c.project(atlas.nucleus_points["amygdala"][0], layer=0)
        assert c.pick(x, y) == Pick("amygdala", side=0)
    finally:
        c.close()


def test_multisampling_follows_the_opengl_renderer(scene):
    assert scene.renderer_name
    assert scene.render_window.GetMultiSamples() == gl.multisamples_for(scene.renderer_name)
    if "llvmpipe" in scene.renderer_name:
        assert scene.software_rendering and scene.render_window.GetMultiSamples() == 0


@pytest.mark.parametrize(
    ("name", "software"),
    [
        ("llvmpipe (LLVM 15.0.6, 256 bits)", True),
        ("softpipe", True),
        ("Mesa OffScreen", True),
        ("NVIDIA H100 80GB HBM3/PCIe/SSE2", False),
        ("Microsoft Basic Render Driver", True),
    ],
)
def test_software_renderer_detection(name, software, monkeypatch):
    monkeypatch.delenv(gl.ENV_MULTISAMPLES, raising=False)
    assert gl.is_software_renderer(name) is software
    assert gl.multisamples_for(name) == (0 if software else gl.HARDWARE_MULTISAMPLES)
    monkeypatch.setenv(gl.ENV_MULTISAMPLES, "2")
    assert gl.multisamples_for(name) == 2


def hemisphere_draw_order(layer):
    props = layer.renderer.GetViewProps()
    props.InitTraversal()
    drawn = [props.GetNextProp() for _ in range(props.GetNumberOfItems())]
    names = {id(a): h for h, a in layer.cortex.items()}
    names[id(layer.inside)] = "inside"
    return [names[id(p)] for p in drawn if id(p) in names]


def test_glass_is_blended_far_hemisphere_first_then_tubes_and_nuclei(atlas, brain):
    """Plain alpha blending needs back-to-front order, re-sorted on every frame."""
    s = TwinScene(atlas, brain, window_size=(200, 200))
    try:
        s.set_camera("oblique")  # from the left: the right hemisphere is the far one
        s.render()
        assert hemisphere_draw_order(s.layer) == ["R", "L", "inside"]
        cam = s.renderers[0].GetActiveCamera()
        cam.Azimuth(180)  # now from the right, e.g. after the user rotated the view
        s.render_window.Render()  # a frame triggered outside the scene (as the Qt view does)
        assert hemisphere_draw_order(s.layer) == ["L", "R", "inside"]
        assert s.renderers[0].GetUseOIT() == 0 and s.renderers[0].GetUseDepthPeeling() == 0
        assert all(a.GetForceTranslucent() for a in s.layer.cortex.values())
        s.set_cortex_opacity(1.0, 1.0)
        assert all(a.GetForceOpaque() for a in s.layer.cortex.values())
        assert not s.layer.inside.GetVisibility()  # nuclei and tubes hidden in a solid cortex
    finally:
        s.close()


def test_scene_draws_into_a_callers_pyvista_plotter(atlas, brain):
    """The Qt view passes its pyvistaqt plotter; the scene must use that window as is."""
    pv = pytest.importorskip("pyvista")
    pl = pv.Plotter(off_screen=True, window_size=[240, 200])
    try:
        s = TwinScene(atlas, brain, plotter=pl)
        s.set_region_values(VALUES_A)
        s.render()
        assert s.render_window is pl.render_window
        assert s.renderers[0] is pl.renderer
        assert pl.renderer.GetLights().GetNumberOfItems() == 1  # one headlight, not a kit
        np.testing.assert_allclose(s.vertex_values(), expected_vertex_values(atlas, VALUES_A))
        s.close()  # not ours to close
        assert pl.render_window is not None and s.render_window.GetSize()[0] == 240
        with pytest.raises(ValidationError, match="plotter with 2 views"):
            CompareScene(atlas, brain, plotter=pl)
    finally:
        pl.close()
    pl2 = pv.Plotter(off_screen=True, window_size=[300, 150], shape=(1, 2))
    try:
        c = CompareScene(atlas, brain, plotter=pl2)
        c.set_region_values(VALUES_A, VALUES_B)
        c.render()
        assert c.cameras_linked() and c.renderers == list(pl2.renderers)
    finally:
        pl2.close()


def test_importing_the_scene_does_not_import_pyvista_or_matplotlib():
    """~2 s of start-up: the offscreen scene and reports must not pay it."""
    code = (
        "import sys, viz.scene, viz.colormaps; "
        "bad = [m for m in ('pyvista', 'matplotlib') if m in sys.modules]; "
        "sys.exit(', '.join(bad) or None)"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
