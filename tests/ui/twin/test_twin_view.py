"""The twin view driven like a user: scrub, play, pick, compare, difference, what-if, export."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from app.services import twin_view as tv
from ui.twin.host import ImageHost, choose_renderer
from ui.twin.view import TwinView, scene_atlas


def expected_vertices(values: np.ndarray) -> np.ndarray:
    """Per-vertex values the cortex must carry for per-region ``values`` (NaN off-region)."""
    vr = scene_atlas().vertex_region
    out = np.full(len(vr), np.nan)
    inside = vr >= 0
    out[inside] = values[vr[inside]]
    return out


def assert_actor_matches(actual: np.ndarray, values: np.ndarray) -> None:
    np.testing.assert_allclose(actual, expected_vertices(values), rtol=1e-5, atol=1e-6)


def test_scrub_writes_the_twin_state_of_each_date_onto_the_actor(view: TwinView, qtbot) -> None:
    t = view.timeline
    assert t is not None and len(t.dates) > 30
    # the timeline opens on the latest date
    assert view.slider.value() == len(t.dates) - 1
    assert_actor_matches(view.scene.vertex_values(), t.values[:, -1])
    mesh = view.scene.layer.cortex["L"].GetMapper().GetInput()
    for i in (0, 17, len(t.dates) // 2):
        view.slider.setFocus()
        view.slider.setValue(i)
        qtbot.waitUntil(lambda: not view._dirty, timeout=5000)
        assert_actor_matches(view.scene.vertex_values(), t.values[:, i])
        assert view.date_label.text() == t.dates[i].strftime("%d %b %Y")
        # the region values come from the twin state through the region map
        state_day = t.state.at(t.dates[i])
        act = tv.region_map().activity(state_day)
        assert view.scene.region_values()["sgacc"] == pytest.approx(act["sgacc"].value)
    # keyboard: End jumps to the last date
    qtbot.keyClick(view.slider, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: not view._dirty, timeout=5000)
    assert_actor_matches(view.scene.vertex_values(), t.values[:, -1])
    # scrubbing never rebuilt the mesh
    assert view.scene.layer.cortex["L"].GetMapper().GetInput() is mesh


def test_play_advances_the_timeline_and_pause_stops_it(view: TwinView, qtbot) -> None:
    view.slider.setValue(0)
    frames = view.host.frames
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert view._play.isActive()
    qtbot.waitUntil(lambda: view.slider.value() >= 3, timeout=10000)
    qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert not view._play.isActive()
    stopped = view.slider.value()
    qtbot.wait(300)
    assert view.slider.value() == stopped
    assert view.host.frames > frames
    qtbot.waitUntil(lambda: not view._dirty, timeout=5000)
    assert_actor_matches(view.scene.vertex_values(), view.timeline.values[:, stopped])


def _click_scene(view: TwinView, qtbot, xyz: np.ndarray) -> None:
    x, y = view.scene.project(xyz)
    dpr = view.host.devicePixelRatioF()
    qtbot.mouseClick(
        view.host, Qt.MouseButton.LeftButton, pos=QPoint(round(x / dpr), round(y / dpr))
    )


def test_click_on_a_nucleus_opens_its_panel_with_value_band_and_evidence(
    view: TwinView, qtbot
) -> None:
    amygdala = scene_atlas().nucleus_points["amygdala"][0]
    with qtbot.waitSignal(view.regionSelected, timeout=5000) as sig:
        _click_scene(view, qtbot, amygdala)
    assert sig.args == ["amygdala"]
    qtbot.waitUntil(lambda: view.panel.detail is not None, timeout=10000)
    d = view.panel.detail
    t = view.timeline
    i = t.region_ids.index("amygdala")
    assert d.region_id == "amygdala"
    assert d.value == pytest.approx(t.values[i, -1])
    assert d.sd == pytest.approx(t.sd[i, -1])
    assert view.panel.title.text() == "Amygdala" or "amygdala" in view.panel.title.text().lower()
    assert f"{d.value:+.2f}" in view.panel.value.text()
    assert "90 % band" in view.panel.band.text()
    assert view.panel.chip.text() == "Model estimate, not a measurement"
    assert view.panel.evidence.rowCount() == len(d.evidence) > 0
    # evidence rows name observation kinds and ids only
    ids = {o.obs_id.split("/")[0][:8] for o in t.state.observations}
    for r in range(view.panel.evidence.rowCount()):
        assert view.panel.evidence.item(r, 3).text() in ids


def test_click_on_the_cortex_picks_the_parcel_group(view: TwinView, qtbot) -> None:
    view.deep.setChecked(False)  # solid cortex: the surface is what the click hits
    view.flush()
    atlas = scene_atlas()
    from viz.brain import load_brain

    verts = load_brain().vertices
    cam = np.array(view.scene.renderers[0].GetActiveCamera().GetPosition())
    idx = np.flatnonzero(atlas.vertex_region == atlas.ids.index("dlpfc"))
    nearest = idx[np.argmin(np.linalg.norm(verts[idx] - cam, axis=1))]
    with qtbot.waitSignal(view.regionSelected, timeout=5000) as sig:
        _click_scene(view, qtbot, verts[nearest])
    assert sig.args == ["dlpfc"]
    qtbot.waitUntil(lambda: view.panel.detail is not None, timeout=10000)
    assert view.panel.detail.region_id == "dlpfc"
    # a click on the background selects nothing and keeps the panel
    view.pick_at(3, 3)
    assert view.panel.detail.region_id == "dlpfc"


def test_panel_follows_the_timeline_and_keyboard_region_choice(view: TwinView, qtbot) -> None:
    box = view.panel.selector
    box.setFocus()
    idx = box.findData("hippocampus")
    box.setCurrentIndex(idx)
    box.activated.emit(idx)
    qtbot.waitUntil(
        lambda: view.panel.detail is not None and view.panel.detail.region_id == "hippocampus",
        timeout=10000,
    )
    view.slider.setValue(10)
    day = view.timeline.dates[10]
    qtbot.waitUntil(lambda: view.panel.detail.day == day, timeout=10000)
    i = view.timeline.region_ids.index("hippocampus")
    assert view.panel.detail.value == pytest.approx(view.timeline.values[i, 10])


def test_compare_two_dates_side_by_side_and_as_difference(view: TwinView, qtbot) -> None:
    t = view.timeline
    qtbot.mouseClick(view.mode_buttons["compare"], Qt.MouseButton.LeftButton)
    assert view.mode == "compare"
    assert view.stack.currentWidget() is view.compare_host
    assert view.compare.cameras_linked()
    a, b = t.dates[5], t.dates[-1]
    view.set_compare_dates(a, b)
    view.flush()
    assert_actor_matches(view.compare.vertex_values(0), t.values[:, 5])
    assert_actor_matches(view.compare.vertex_values(1), t.values[:, -1])
    assert not view.timeline_bar.isVisible() and view.compare_bar.isVisible()
    qtbot.mouseClick(view.diff_button, Qt.MouseButton.LeftButton)
    assert view.diff_button.isChecked()
    assert view.stack.currentWidget() is view.host
    assert_actor_matches(view.scene.vertex_values(), t.values[:, -1] - t.values[:, 5])
    assert "Change B" in view.scene.scalar_bar.GetTitle()
    # back to the twin: the sequential frame and legend return
    qtbot.mouseClick(view.mode_buttons["twin"], Qt.MouseButton.LeftButton)
    view.flush()
    assert_actor_matches(view.scene.vertex_values(), t.values[:, view.index])
    assert "model estimate" in view.scene.scalar_bar.GetTitle()


def test_whatif_projects_the_chosen_option_with_its_prediction_and_labels(
    view: TwinView, qtbot
) -> None:
    qtbot.mouseClick(view.mode_buttons["whatif"], Qt.MouseButton.LeftButton)
    view.option.setCurrentIndex(view.option.findData("cbt"))
    with qtbot.waitSignal(view.whatifReady, timeout=30000):
        qtbot.mouseClick(view.project_button, Qt.MouseButton.LeftButton)
    w = view.whatif
    assert w.option == "cbt" and w.synthetic
    pred = tv.response_predictions(view.ctx, view.principal, view.patient_id)["cbt"]
    assert w.projection.p == pytest.approx(pred.probability)
    assert w.prediction_id == pred.id
    assert "synthetic" in view.whatif_label.text()
    assert "not a prediction for this patient" in view.whatif_label.text()
    assert "trained on synthetic data" in view.whatif_summary.text()
    # the slider now scrubs projection weeks; the scene shows projected regions
    view.slider.setValue(4)
    qtbot.waitUntil(lambda: not view._dirty, timeout=5000)
    proj = w.projection
    assert_actor_matches(view.scene.vertex_values(), proj.region_mean[:, 4])
    assert view.date_label.text().startswith("Week 4")
    # projected depression falls from today's estimate (response probability > 0)
    dep = proj.series("depression")[0]
    assert dep[-1] < dep[0]


def test_every_treatment_option_projects(view: TwinView) -> None:
    for option in tv.OPTION_LABELS:
        w = tv.whatif(view.ctx, view.principal, view.timeline, option)
        assert w.projection.days[0] == view.timeline.state.as_of
        assert np.all(w.projection.low <= w.projection.high)
        assert w.provenance["response_prediction_id"]


def test_screenshot_saves_the_rendered_scene(view: TwinView, qtbot, tmp_path) -> None:
    out = tmp_path / "twin.png"
    with qtbot.waitSignal(view.screenshotSaved, timeout=10000):
        assert view.save_screenshot(out) == out
    img = QImage(str(out))
    assert not img.isNull()
    w, h = view.host.frame_size()
    assert (img.width(), img.height()) == (w, h)
    px = {img.pixel(x, y) for x in range(0, w, 37) for y in range(0, h, 29)}
    assert len(px) > 50  # a brain, not a blank frame


def test_pdf_report_export(view: TwinView, qtbot, tmp_path) -> None:
    view.run_whatif("ssri")
    qtbot.waitUntil(lambda: view.whatif is not None, timeout=30000)
    out = tmp_path / "report.pdf"
    with qtbot.waitSignal(view.reportExported, timeout=60000) as sig:
        view.export_report(out)
    assert sig.args == [str(out)]
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert data.rstrip().endswith(b"%%EOF")
    assert len(data) > 50_000  # carries the rendered twin images
    pages = int(re.search(rb"/Type\s*/Pages\b.*?/Count (\d+)", data, re.S)[1])
    assert pages >= 3  # twin images, trends + predictions, what-if
    if shutil.which("pdftoppm"):
        subprocess.run(
            ["pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "1", str(out), str(tmp_path / "p")],
            check=True,
            timeout=60,
        )
        assert list(tmp_path.glob("p*.png"))


def test_patient_without_observations_shows_the_empty_state(qtbot, ctx, clinic) -> None:
    from app.core.domain import Role

    who = clinic["users"][Role.CLINICIAN]
    v = TwinView(ctx, who, patient_id=clinic["mine"])
    v.show()
    qtbot.waitUntil(lambda: "No twin yet" in v.empty.text(), timeout=20000)
    assert v.stack.currentWidget() is v.empty
    assert v.timeline is None and v.scene is None
    v.close()
    v.deleteLater()


def test_clear_drops_the_patient(view: TwinView) -> None:
    view.select_region("amygdala")
    view.clear()
    assert view.timeline is None and view.patient_id is None
    assert view.panel.detail is None and view.provenance.text() == ""
    assert view.stack.currentWidget() is view.empty


def test_renderer_choice_honours_the_override(monkeypatch) -> None:
    monkeypatch.setenv("NOVAMIND_TWIN_RENDERER", "image")
    assert choose_renderer() == "image"
    monkeypatch.setenv("NOVAMIND_TWIN_RENDERER", "native")
    assert choose_renderer() == "native"
    monkeypatch.setenv("NOVAMIND_TWIN_RENDERER", "")
    assert choose_renderer() in ("native", "gl", "image")


def test_view_uses_the_image_host_when_told(view: TwinView) -> None:
    assert isinstance(view.host, ImageHost)
    assert view.timeline.dates[-1] - view.timeline.dates[0] == timedelta(
        days=len(view.timeline.dates) - 1
    )


@pytest.mark.parametrize("kind", ["native", "gl"])
def test_embedded_host_renders_scrubs_and_picks(qtbot, monkeypatch, kind: str) -> None:
    """VTK in a native child window, and the pyvistaqt QOpenGLWidget, where this display can
    embed OpenGL (Xvfb + Mesa can): values reach the actor, frames are shown, clicks pick."""
    monkeypatch.delenv("NOVAMIND_TWIN_RENDERER", raising=False)
    if choose_renderer() == "image":
        pytest.skip("Qt cannot embed OpenGL on this display")
    from ui.twin.host import GLHost, NativeHost
    from viz.scene import TwinScene

    host = NativeHost() if kind == "native" else GLHost()
    assert host.mode == kind
    host.resize(500, 400)
    host.show()
    qtbot.waitExposed(host)
    atlas = scene_atlas()
    scene = TwinScene(atlas, plotter=host.plotter(), window_size=host.frame_size())
    host.attach(scene)
    values = {rid: 0.1 * k for k, rid in enumerate(atlas.ids)}
    scene.set_region_values(values)
    host.refresh()
    assert_actor_matches(scene.vertex_values(), np.array([values[r] for r in atlas.ids]))
    shown = host.frames
    for step in range(3):  # scrubbing: every step is a frame on screen
        scene.set_region_values({rid: -0.1 * step for rid in atlas.ids})
        host.refresh()
        qtbot.waitUntil(lambda s=step: host.frames >= shown + s + 1, timeout=5000)
    x, y = scene.project(atlas.nucleus_points["amygdala"][0])
    with qtbot.waitSignal(host.clicked, timeout=5000) as sig:
        dpr = host.interactor.devicePixelRatioF()
        qtbot.mouseClick(
            host.interactor, Qt.MouseButton.LeftButton, pos=QPoint(round(x / dpr), round(y / dpr))
        )
    assert scene.pick(*sig.args).region_id == "amygdala"
    assert host.grab_frame().std() > 5
    host.close_scene()
    host.close()
    host.deleteLater()
