"""The 3D twin view: scene, timeline, region panel, compare, what-if, screenshot and report.

Why: this is where a clinician sees the patient's twin as a brain. The view loads a
``TwinTimeline`` off the GUI thread once per patient (through ``ui.tasks.TaskManager``), builds
the viz scene once per process and then only rewrites scalars in place: no mesh rebuild per
frame and every VTK call on the GUI thread. It composes the toolbar and the playback, compare,
what-if and export controllers, and holds scenes through :mod:`viz.protocol`.

Mount: ``TwinView(ctx, principal, patient_id=None, tasks=None)``; ``set_patient(pid)`` and
``clear()``; signals ``regionSelected(str)``, ``dateChanged(object)``, ``timelineLoaded(str)``,
``reportExported(str)``, ``screenshotSaved(str)``, ``errorOccurred(str)``, ``whatifReady(str)``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from app.core.domain import Principal
from app.services import twin_view as tv
from app.services.context import AppContext
from ui.tasks import TaskManager, user_message
from ui.twin.common import (
    BANNER,
    COMPARE_ZOOM,
    LEGEND_TITLE,
    NO_PATIENT,
    Mode,
    fmt,
    label,
    provenance_text,
    scene_atlas,
)
from ui.twin.compare import CompareController
from ui.twin.export import ExportController
from ui.twin.host import SceneHost, make_host
from ui.twin.memory import release_freed_heap
from ui.twin.panel import RegionDetails
from ui.twin.playback import PlaybackController
from ui.twin.toolbar import TwinToolbar
from ui.twin.whatif import WhatIfController

if TYPE_CHECKING:
    from viz.protocol import PairScene, SingleScene

__all__ = ["LEGEND_TITLE", "Mode", "TwinView", "scene_atlas"]
TRIM_AFTER_LOAD_MS = 1500
T = TypeVar("T")


class TwinView(QWidget):
    """Self-contained Twin tab: pass the session, a patient id and (optionally) a TaskManager."""

    regionSelected = Signal(str)  # noqa: N815
    dateChanged = Signal(object)  # noqa: N815
    timelineLoaded = Signal(str)  # noqa: N815
    reportExported = Signal(str)  # noqa: N815
    screenshotSaved = Signal(str)  # noqa: N815
    errorOccurred = Signal(str)  # noqa: N815
    whatifReady = Signal(str)  # noqa: N815

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        patient_id: str | None = None,
        *,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("twinView")
        self.setAccessibleName("Digital twin 3D view")
        self.ctx, self.principal = ctx, principal
        self._owns_tasks = tasks is None
        self.tasks = TaskManager(None, parent=self) if tasks is None else tasks
        self.patient_id: str | None = None
        self.timeline: tv.TwinTimeline | None = None
        self.mode = Mode.TWIN
        self.index = 0
        self.scene: SingleScene | None = None
        self.lim = 0.5
        self.generation = 0
        self._dirty = False
        self._build_ui()
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(0)
        self._frame_timer.timeout.connect(self.flush)
        self._trim_timer = QTimer(self)
        self._trim_timer.setSingleShot(True)
        self._trim_timer.setInterval(TRIM_AFTER_LOAD_MS)
        self._trim_timer.timeout.connect(release_freed_heap)
        if patient_id:
            self.set_patient(patient_id)

    # ---- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(6)
        self.toolbar = TwinToolbar()
        self.toolbar.modeRequested.connect(self.set_mode)
        self.toolbar.camera.currentIndexChanged.connect(self._camera_changed)
        self.toolbar.deep.toggled.connect(self._deep_toggled)
        self.toolbar.shot_button.clicked.connect(lambda: self.save_screenshot())
        self.toolbar.report_button.clicked.connect(lambda: self.export_report())
        root.addWidget(self.toolbar)
        self.banner = label(BANNER, "twinBanner")
        root.addWidget(self.banner)
        self.compare_ctl = CompareController(self)
        root.addWidget(self.compare_ctl.bar)
        self.whatif_ctl = WhatIfController(self)
        root.addWidget(self.whatif_ctl.bar)
        self.exporter = ExportController(self)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.empty = QLabel("")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setAccessibleName("Twin status")
        self.stack.addWidget(self.empty)
        self.host: SceneHost = make_host((1, 1))
        self.host.setAccessibleName("3D brain view: drag to rotate, scroll to zoom, click a region")
        self.host.clicked.connect(self.pick_at)
        self.stack.addWidget(self.host)
        cl.addWidget(self.stack, 1)
        cl.addWidget(self.whatif_ctl.chart)
        self.splitter.addWidget(centre)
        self.details = RegionDetails(self)
        self.panel = self.details.panel
        self._detail_timer = self.details.timer
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        root.addWidget(self.splitter, 1)

        self.playback = PlaybackController(self)
        self.playback.slider.valueChanged.connect(self._slider_moved)
        self.playback.stopped.connect(self.details.reload_later)
        root.addWidget(self.playback.bar)
        self.provenance = label("", "twinProvenance")
        self.provenance.setAccessibleName("Provenance of the twin")
        root.addWidget(self.provenance)
        # the widgets callers and tests reach through the view
        tb, pb, cc, wc = self.toolbar, self.playback, self.compare_ctl, self.whatif_ctl
        self.mode_buttons, self.camera, self.deep = tb.mode_buttons, tb.camera, tb.deep
        self.shot_button, self.report_button = tb.shot_button, tb.report_button
        self.timeline_bar, self.play_button, self.slider = pb.bar, pb.play_button, pb.slider
        self.date_label, self.speed, self._play = pb.date_label, pb.speed, pb.timer
        self.compare_bar, self.date_a, self.date_b = cc.bar, cc.date_a, cc.date_b
        self.diff_button = cc.diff_button
        self.whatif_bar, self.option, self.project_button = wc.bar, wc.option, wc.project_button
        self.whatif_summary, self.whatif_label, self.whatif_chart = wc.summary, wc.label, wc.chart
        self._apply_mode_visibility()
        self._show_empty(NO_PATIENT)

    @property
    def whatif(self) -> tv.WhatIf | None:
        """The what-if projection on screen (None before one ran)."""
        return self.whatif_ctl.result

    @property
    def compare(self) -> PairScene | None:
        """The side-by-side scene (built on first use of compare mode)."""
        return self.compare_ctl.scene

    @property
    def compare_host(self) -> SceneHost | None:
        """The host of the side-by-side scene."""
        return self.compare_ctl.host

    # ---- patient ----------------------------------------------------------------------------
    def set_patient(self, patient_id: str | None) -> None:
        """Load (off the GUI thread) and show a patient's latest twin."""
        self.clear()
        self.patient_id = patient_id
        if not patient_id:
            return
        self.generation += 1
        self._show_empty("Loading the digital twin\u2026")
        self.run_service(
            tv.load_timeline, patient_id, label="Loading digital twin", on_done=self._timeline_ready
        )

    def clear(self) -> None:
        """Forget the patient (lock, sign-out, switch): no PHI stays in the widgets."""
        had_patient = self.timeline is not None
        self.generation += 1
        self.set_playing(False)
        self.timeline = None
        self.playback.enabled = False
        self.patient_id = None
        self.panel.show_placeholder()
        self.whatif_ctl.clear()
        self.provenance.setText("")
        self.date_label.setText("")
        self.diff_button.setChecked(False)
        if self.mode != Mode.TWIN:
            self.set_mode(Mode.TWIN)
        self._show_empty(NO_PATIENT)
        if had_patient:
            # the second scenes (side by side, report) are built on use for one patient: a
            # closed patient's are released rather than kept for the session
            self.compare_ctl.close()
            self.exporter.close()
            release_freed_heap()  # the patient's timeline and chart data were just dropped

    def _timeline_ready(self, timeline: tv.TwinTimeline | None) -> None:
        if timeline is None:
            self._show_empty(
                "No twin yet. The twin appears after the first assessment, actigraphy import or "
                "note analysis of this patient."
            )
            return
        self.timeline = timeline
        self.playback.enabled = True
        self.lim = timeline.color_limit()
        self._ensure_scene()
        self.panel.set_regions(timeline.region_names)
        n = len(timeline.dates)
        self.index = n - 1
        self.playback.set_range(n - 1, n - 1, fmt(timeline.dates[-1]))
        self.compare_ctl.load(timeline)
        self.provenance.setText(provenance_text(timeline))
        self.stack.setCurrentWidget(self.host)
        self.reset_colormap()
        self.flush()
        # after the first frames: the load's, scene build's and shader compiler's temporaries
        self._trim_timer.start()
        self.timelineLoaded.emit(timeline.patient_id)

    def failed(self, exc: BaseException) -> None:
        """Show a failed background task as a message (never the exception's text)."""
        msg = user_message(exc)
        self.errorOccurred.emit(msg)
        if self.timeline is None:
            self._show_empty(msg)
        else:
            self.whatif_summary.setText(msg)

    def run_service(
        self,
        fn: Callable[..., T],
        *args: object,
        label: str,
        on_done: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Call service ``fn(ctx, principal, *args)`` through the TaskManager; ``on_done`` is
        dropped if the patient changed meanwhile, a failure is shown unless ``on_error``."""
        self.tasks.call(
            fn,
            self.ctx,
            self.principal,
            *args,
            label=label,
            on_done=self.for_this_patient(on_done),
            on_error=on_error or self.failed,
        )

    def for_this_patient(self, fn: Callable[[T], None]) -> Callable[[T], None]:
        """``fn`` for a task's result, dropped if the patient changed while the task ran."""
        gen = self.generation
        return lambda result: fn(result) if gen == self.generation else None

    def _show_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)

    # ---- scene and frames -------------------------------------------------------------------
    def _ensure_scene(self) -> None:
        if self.scene is not None:
            return
        from viz.scene import TwinScene

        self.scene = TwinScene(
            scene_atlas(),
            plotter=self.host.plotter(),
            window_size=self.host.frame_size(),
            colormap="diverging",
            clim=(-self.lim, self.lim),
            title=LEGEND_TITLE,
        )
        self.host.attach(self.scene)

    def reset_colormap(self) -> None:
        """The deviation scale (± the colour limit) on every scene."""
        if self.scene is not None:
            self.scene.set_colormap("diverging", (-self.lim, self.lim), LEGEND_TITLE)
        self.compare_ctl.reset_colormap(self.lim)

    def request_frame(self) -> None:
        """Redraw on the next event-loop turn (several changes coalesce into one frame)."""
        self._dirty = True
        self._frame_timer.start()

    def flush(self) -> None:
        """Apply the current mode/date to the scene and draw it now."""
        self._dirty = False
        self._frame_timer.stop()  # a frame requested earlier is this one
        t, scene = self.timeline, self.scene
        if t is None or scene is None:
            return
        if self.mode == Mode.COMPARE:
            self.compare_ctl.draw(t)
            return
        if self.mode == Mode.WHATIF:
            self.whatif_ctl.draw(scene, t)
        else:
            scene.set_region_values(t.frame(self.index))
            scene.set_caption(f"{fmt(t.dates[self.index])}   model estimate")
        self.host.refresh()

    # ---- timeline ---------------------------------------------------------------------------
    def _slider_moved(self, value: int) -> None:
        if self.timeline is None:
            return
        if self.mode == Mode.WHATIF:
            self.whatif_ctl.step_to(int(value))
            return
        self.index = int(value)
        day = self.timeline.dates[self.index]
        self.date_label.setText(fmt(day))
        self.panel.set_day(day)
        self.dateChanged.emit(day)
        self.request_frame()
        if not self.playback.is_playing():
            self.details.reload_later()

    def set_playing(self, playing: bool) -> None:
        """Start or stop timeline playback (Space toggles)."""
        self.playback.set_playing(playing)

    # ---- modes ------------------------------------------------------------------------------
    def set_mode(self, mode: Mode | str) -> None:
        """Switch between ``Mode.TWIN``, ``Mode.COMPARE`` and ``Mode.WHATIF``."""
        try:
            mode = Mode(mode)
        except ValueError:
            raise ValueError(f"unknown twin view mode '{mode}'") from None
        self.set_playing(False)
        previous, self.mode = self.mode, mode
        self.toolbar.show_mode(mode)
        self.playback.weekly = mode == Mode.WHATIF
        self._apply_mode_visibility()
        if previous == Mode.COMPARE and self.diff_button.isChecked() or mode != previous:
            self.reset_colormap()
        t = self.timeline
        if t is None:
            return
        if mode == Mode.WHATIF:
            self.playback.set_range(*self.whatif_ctl.slider_range())
        else:
            self.playback.set_range(len(t.dates) - 1, self.index, fmt(t.dates[self.index]))
        if mode == Mode.COMPARE:
            self.compare_ctl.show()
        else:
            self.stack.setCurrentWidget(self.host)
        self.flush()

    def _apply_mode_visibility(self) -> None:
        self.compare_bar.setVisible(self.mode == Mode.COMPARE)
        self.whatif_bar.setVisible(self.mode == Mode.WHATIF)
        self.whatif_chart.setVisible(self.mode == Mode.WHATIF)
        self.timeline_bar.setVisible(self.mode != Mode.COMPARE)
        self.panel.setVisible(self.mode != Mode.WHATIF)

    def set_compare_dates(self, a: date, b: date) -> None:
        """Choose the two dates of the comparison."""
        self.compare_ctl.set_dates(a, b)

    def _camera_changed(self) -> None:
        preset = self.camera.currentData()
        if self.scene is not None:
            self.scene.set_camera(preset)
        if self.compare is not None:
            self.compare.set_camera(preset, zoom=COMPARE_ZOOM)
        self.flush()

    def _deep_toggled(self, on: bool) -> None:
        if self.scene is not None:
            style = self.scene.style
            opacity = (style.anatomy_opacity, style.region_opacity) if on else (1.0, 1.0)
            self.scene.set_cortex_opacity(*opacity)
        self.flush()

    # ---- picking and the panel --------------------------------------------------------------
    def pick_at(self, x: float, y: float) -> str | None:
        """Select the region under (x, y) (scene pixels, origin top-left) in the main view."""
        if self.scene is None:
            return None
        rid = self.scene.pick(x, y).region_id
        if rid:
            self.select_region(rid)
        return rid

    def select_region(self, region_id: str) -> None:
        """Show a region's value, uncertainty, trajectory and evidence in the side panel."""
        self.details.select(region_id)

    # ---- what-if, screenshot and report -----------------------------------------------------
    def run_whatif(self, option: str) -> None:
        """Project the twin under a treatment option (off the GUI thread)."""
        if self.timeline is None:
            return
        if self.mode != Mode.WHATIF:
            self.set_mode(Mode.WHATIF)
        self.whatif_ctl.run(option)

    def current_host(self) -> SceneHost:
        """The host on screen (single scene, or the side-by-side comparison)."""
        w = self.stack.currentWidget()
        return w if isinstance(w, SceneHost) else self.host

    def save_screenshot(self, path: str | Path | None = None) -> Path | None:
        """Save the 3D view as a PNG (asks for a file when no path is given)."""
        return self.exporter.save_screenshot(path)

    def export_report(self, path: str | Path | None = None) -> None:
        """Write the PDF patient report (asks for a file when no path is given)."""
        self.exporter.export_report(path)

    # ---- lifecycle --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers, wait for background work and release render windows."""
        self._play.stop()
        self._frame_timer.stop()
        self._trim_timer.stop()
        self._detail_timer.stop()
        if self._owns_tasks:
            self.tasks.wait()
        self.host.close_scene()
        self.compare_ctl.close()
        self.exporter.close()
        self.scene = None

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt override
        self.shutdown()
        super().closeEvent(event)
