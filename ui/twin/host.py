"""Where a viz scene is drawn inside Qt: an embedded VTK window or an offscreen image.

Why: clinic workstations, VMs and CI differ in what OpenGL Qt can embed. Where Qt can create an
OpenGL context, VTK renders straight into a native child window (X11, Windows, macOS:
:class:`NativeHost`) or, where native child windows are not VTK's (Wayland), into a pyvistaqt
``QtInteractor`` (:class:`GLHost`); rotate/zoom are VTK's. Otherwise (or with
``NOVAMIND_TWIN_RENDERER=image``) it renders offscreen and the frame is shown as a pixmap,
re-rendered on drag, wheel, resize and scrub. Every host reports clicks in the scene's pixel
convention (physical pixels, origin top-left) so picking is the same code.
All VTK calls happen on the GUI thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QGuiApplication,
    QImage,
    QMouseEvent,
    QPainter,
    QResizeEvent,
    QShowEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from vtkmodules.vtkRenderingCore import vtkCamera, vtkRenderer, vtkRenderWindow

    from viz.protocol import Scene
    from viz.scene import RenderTarget

log = logging.getLogger(__name__)
ENV_RENDERER = "NOVAMIND_TWIN_RENDERER"
RENDERERS = ("native", "gl", "image")
NATIVE_PLATFORMS = ("xcb", "windows", "cocoa")  # Qt platforms whose child windows VTK can own
CLICK_SLOP_PX = 4  # a press/release closer than this is a click, not a drag


def choose_renderer() -> str:
    """'native' or 'gl' when Qt can create an OpenGL context on a real display, else 'image'.

    ``NOVAMIND_TWIN_RENDERER`` (native | gl | image) overrides the detection.
    """
    forced = os.environ.get(ENV_RENDERER, "").strip().lower()
    if forced in RENDERERS:
        return forced
    if QGuiApplication.platformName() in ("offscreen", "minimal", "vnc", ""):
        return "image"
    try:
        from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

        gl_ctx = QOpenGLContext()
        if not gl_ctx.create():
            return "image"
        surface = QOffscreenSurface()
        surface.create()
        ok = gl_ctx.makeCurrent(surface)
        gl_ctx.doneCurrent()
    except Exception:  # noqa: BLE001 — any failure here means: do not embed GL
        return "image"
    if not ok:
        return "image"
    return "native" if QGuiApplication.platformName() in NATIVE_PLATFORMS else "gl"


class SceneHost(QWidget):
    """Base: a widget that shows one viz scene and reports clicks in scene pixels."""

    clicked = Signal(float, float)  # physical pixels, origin top-left
    cameraMoved = Signal()  # noqa: N815 — Qt signal naming

    mode = "?"

    def __init__(self, shape: tuple[int, int] = (1, 1), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.shape = shape
        self.scene: Scene | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(320, 240))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def plotter(self) -> RenderTarget | None:
        """The render target a scene should draw into (None: the scene makes its own)."""
        return None

    def attach(self, scene: Scene) -> None:
        """Show ``scene`` in this host."""
        self.scene = scene

    def refresh(self) -> None:
        """Draw the scene now (after values, camera or size changed)."""
        raise NotImplementedError

    def frame_size(self) -> tuple[int, int]:
        """Size of the rendered frame in physical pixels."""
        dpr = self.devicePixelRatioF()
        return max(2, round(self.width() * dpr)), max(2, round(self.height() * dpr))

    def grab_frame(self) -> np.ndarray:
        """The current frame as an (h, w, 3) uint8 array (for screenshots and reports)."""
        if self.scene is None:
            raise RuntimeError("no scene is attached to this host")
        return self.scene.render_image()

    def close_scene(self) -> None:
        """Release the scene's render window."""
        if self.scene is not None:
            self.scene.close()
            self.scene = None


class ImageHost(SceneHost):
    """Offscreen rendering shown as an image; drag rotates, wheel zooms, click picks."""

    mode = "image"

    def __init__(self, shape: tuple[int, int] = (1, 1), parent: QWidget | None = None) -> None:
        super().__init__(shape, parent)
        self._image: QImage | None = None
        self._press: QPointF | None = None
        self._last: QPointF | None = None
        self._dragged = False
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.setInterval(0)
        self._pending.timeout.connect(self.refresh)
        self.frames = 0

    def refresh(self) -> None:
        """Render offscreen at the widget's physical size and show the frame."""
        if self.scene is None or not self.isVisible():
            return
        arr = self.scene.render_image(self.frame_size())
        h, w, _ = arr.shape
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        img.setDevicePixelRatio(self.devicePixelRatioF())
        self._image = img
        self.frames += 1
        self.update()

    def schedule(self) -> None:
        """Coalesce several changes into one render on the next event-loop turn."""
        self._pending.start()

    def paintEvent(self, event: QEvent) -> None:  # noqa: N802 — Qt override
        painter = QPainter(self)
        if self._image is not None:
            painter.drawImage(0, 0, self._image)
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 — Qt override
        super().resizeEvent(event)
        self.schedule()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 — Qt override
        super().showEvent(event)
        self.schedule()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 — Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = self._last = event.position()
            self._dragged = False

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 — Qt override
        if self._press is None or self.scene is None:
            return
        pos = event.position()
        if (pos - self._press).manhattanLength() > CLICK_SLOP_PX:
            self._dragged = True
        if self._dragged and self._last is not None:
            dx, dy = pos.x() - self._last.x(), pos.y() - self._last.y()
            for cam in _cameras(self.scene):
                cam.Azimuth(-dx * 0.5)
                cam.Elevation(dy * 0.5)
                cam.OrthogonalizeViewUp()
            for ren in self.scene.renderers:
                ren.ResetCameraClippingRange()
            self._last = pos
            self.cameraMoved.emit()
            self.schedule()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 — Qt override
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        if not self._dragged:
            dpr = self.devicePixelRatioF()
            self.clicked.emit(event.position().x() * dpr, event.position().y() * dpr)
        self._press = None

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 — Qt override
        if self.scene is None:
            return
        factor = 1.1 if event.angleDelta().y() > 0 else 1 / 1.1
        for cam in _cameras(self.scene):
            cam.Zoom(factor)
        self.cameraMoved.emit()
        self.schedule()


def _cameras(scene: Scene) -> list[vtkCamera]:
    cams: list[vtkCamera] = []
    for ren in scene.renderers:
        cam = ren.GetActiveCamera()
        if all(cam is not c for c in cams):
            cams.append(cam)
    return cams


class _EmbeddedHost(SceneHost):
    """A host whose scene VTK draws into an embedded interactor widget (rotate/zoom by VTK)."""

    interactor: Any

    def _embed(self, interactor: QWidget) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.interactor = interactor
        layout.addWidget(interactor)
        self._filter = _ClickFilter(self._on_click)
        interactor.installEventFilter(self._filter)
        self.frames = 0

    def _on_click(self, x: float, y: float) -> None:
        dpr = self.interactor.devicePixelRatioF()
        self.clicked.emit(x * dpr, y * dpr)

    def close_scene(self) -> None:
        super().close_scene()
        self.interactor.close()


class GLHost(_EmbeddedHost):
    """The scene inside an embedded pyvistaqt ``QtInteractor`` (a QOpenGLWidget)."""

    mode = "gl"

    def __init__(self, shape: tuple[int, int] = (1, 1), parent: QWidget | None = None) -> None:
        super().__init__(shape, parent)
        from pyvistaqt import QtInteractor

        self._embed(QtInteractor(self, shape=shape, auto_update=False))
        # frames shown: counted when Qt has swapped the painted frame
        self.interactor.frameSwapped.connect(self._swapped)

    def _swapped(self) -> None:
        self.frames += 1

    def plotter(self) -> RenderTarget:
        return self.interactor

    def refresh(self) -> None:
        if self.scene is None:
            return
        if self.scene.has_rendered:
            # pyvistaqt renders in paintGL on every paint: ask for one paint rather than
            # rendering here too (which would draw each frame twice).
            self.scene.fit_overlays()
            self.interactor.update()
        else:
            self.scene.render()  # the first frame also settles multi-sampling for this GL

    def frame_size(self) -> tuple[int, int]:
        w, h = self.interactor.render_window.GetSize()
        return int(w), int(h)


class _EmbeddedWindow:
    """What a viz scene needs from a host: one render window and its renderers."""

    def __init__(self, render_window: vtkRenderWindow, renderers: list[vtkRenderer]) -> None:
        self.render_window = render_window
        self.renderers = renderers


class NativeHost(_EmbeddedHost):
    """VTK renders straight into a native child window (``vtkmodules.qt``, QWidget base).

    Why: a frame is one VTK render and one buffer swap of the 3D area. The QOpenGLWidget path
    (:class:`GLHost`) renders into a framebuffer object that Qt then composites with the whole
    window, and pyvistaqt re-renders on every paint, so on software OpenGL a timeline step cost
    two renders plus a full-window composite (13 fps against 32 for the bare scene, issue 8).
    Needs a platform with native child windows for VTK (X11, Windows, macOS); Wayland uses
    :class:`GLHost`.
    """

    mode = "native"

    def __init__(self, shape: tuple[int, int] = (1, 1), parent: QWidget | None = None) -> None:
        super().__init__(shape, parent)
        from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
        from vtkmodules.vtkCommonCore import vtkCommand
        from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera

        from viz.scene import make_render_window

        window, renderers = make_render_window(shape[0] * shape[1])
        self._window = _EmbeddedWindow(window, renderers)
        self._embed(QVTKRenderWindowInteractor(self, rw=window))
        style = vtkInteractorStyleTrackballCamera()
        # VTK's one-letter shortcuts (wireframe, stereo, actor mode, exit) are not for clinicians.
        style.AddObserver(vtkCommand.CharEvent, lambda *_: None)
        self.interactor.SetInteractorStyle(style)
        self.interactor.Initialize()

    def plotter(self) -> RenderTarget:
        # The window takes the host's size before a scene is built in it, so camera presets
        # frame the brain for the aspect it will be shown at (a hidden page has no resize yet).
        self._window.render_window.SetSize(*self.frame_size())
        return self._window

    def refresh(self) -> None:
        if self.scene is not None and self.interactor.isVisible():
            self.scene.render()
            self.frames += 1

    def close_scene(self) -> None:
        self.interactor.Finalize()
        super().close_scene()


class _ClickFilter(QObject):
    """Turns a press + release without movement into a click (VTK keeps the drag)."""

    def __init__(self, on_click: Callable[[float, float], None]) -> None:
        super().__init__()
        self.on_click = on_click
        self._press: QPointF | None = None

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt override
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            if event.button() == Qt.MouseButton.LeftButton:
                self._press = event.position()
        elif event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            if self._press is not None and event.button() == Qt.MouseButton.LeftButton:
                if (event.position() - self._press).manhattanLength() <= CLICK_SLOP_PX:
                    self.on_click(event.position().x(), event.position().y())
            self._press = None
        return False


def make_host(shape: tuple[int, int] = (1, 1), parent: QWidget | None = None) -> SceneHost:
    """An embedded VTK host where OpenGL embedding works, else an image host."""
    kind = choose_renderer()
    if kind != "image":
        try:
            return NativeHost(shape, parent) if kind == "native" else GLHost(shape, parent)
        except Exception:  # noqa: BLE001 — fall back rather than show nothing
            log.warning("embedded %s view failed; using the image renderer", kind)
    return ImageHost(shape, parent)
