"""The twin view on its default host where OpenGL embeds (VTK in a native child window):
driven like a user would — scrub, Space to play with the 3D view focused, click a region."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ui.twin.host import choose_renderer


@pytest.fixture
def native_view(qtbot, monkeypatch, shared_demo):
    monkeypatch.setenv("NOVAMIND_TWIN_RENDERER", "")
    if choose_renderer() != "native":
        pytest.skip("this display has no native OpenGL child windows for VTK")
    from ui.twin import TwinView

    ctx, who, pid = shared_demo
    view = TwinView(ctx, who)
    view.resize(1100, 720)
    view.show()
    qtbot.waitExposed(view)
    with qtbot.waitSignal(view.timelineLoaded, timeout=60_000):
        view.set_patient(pid)
    yield view
    view.shutdown()
    view.close()
    view.deleteLater()


def test_native_host_scrubs_plays_and_picks_like_a_user(native_view, qtbot) -> None:
    view = native_view
    assert view.host.mode == "native"
    shown = view.host.frames
    view.slider.setFocus()
    for _ in range(5):
        qtbot.keyClick(view.slider, Qt.Key.Key_Left)
    view.flush()
    assert view.host.frames > shown  # every step reached the screen
    frame = QGuiApplication.primaryScreen().grabWindow(view.host.interactor.winId()).toImage()
    pixels = np.array([frame.pixelColor(x, y).red() for x in range(0, 300, 7) for y in (200,)])
    assert pixels.std() > 3  # the native window shows the brain, not a blank widget

    view.activateWindow()  # shortcuts need the active window, as on a desktop
    qtbot.waitActive(view)
    view.host.interactor.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.host.interactor)
    qtbot.keyClick(view.host.interactor, Qt.Key.Key_Space)
    assert view.play_button.isChecked()  # Space reaches the view even from the 3D window
    qtbot.keyClick(view.host.interactor, Qt.Key.Key_Space)
    assert not view.play_button.isChecked()

    atlas = view.scene.atlas
    x, y = view.scene.project(atlas.nucleus_points["amygdala"][0])
    dpr = view.host.interactor.devicePixelRatioF()
    qtbot.mouseClick(
        view.host.interactor, Qt.MouseButton.LeftButton, pos=QPoint(round(x / dpr), round(y / dpr))
    )
    qtbot.waitUntil(lambda: view.panel.region_id == "amygdala", timeout=5000)
