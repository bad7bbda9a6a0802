"""The 3D twin view: scene, timeline, region panel, compare, what-if, screenshot and report.

Why: this is where a clinician sees the patient's twin as a brain. The view loads a
``TwinTimeline`` off the GUI thread once per patient, builds the viz scene once per process,
and then only rewrites scalars in place (timeline scrub, compare, what-if): no mesh rebuild per
frame and every VTK call on the GUI thread. Every number on screen is labelled as a model
estimate; what-if projections carry the projection label and the response model's provenance.

Mount: ``TwinView(ctx, principal, patient_id=None, run_task=None)``; ``set_patient(pid)`` and
``clear()``; signals ``regionSelected(str)``, ``dateChanged(object)``, ``timelineLoaded(str)``,
``reportExported(str)``, ``screenshotSaved(str)``, ``errorOccurred(str)``.
"""

from __future__ import annotations

import functools
import json
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.services import twin_view as tv
from app.services import vocabulary
from app.services.context import AppContext
from ui.runner import RunTask, TaskRunner
from ui.tasks import user_message
from ui.twin.charts import PROJECTION, TrajectoryChart
from ui.twin.host import SceneHost, make_host
from ui.twin.panel import RegionPanel

LEGEND_TITLE = "Deviation from healthy\n(model estimate)"
COMPARE_TITLE = "Deviation\n(model est.)"
COMPARE_ZOOM = 0.72  # two half-width views: leave room for the brain and the legend
BANNER = (
    "<b>Model estimate, not a measurement.</b> Region colours are derived from this patient's "
    "clinical scores and actigraphy by an illustrative, literature-informed map; they do not "
    "image or describe the patient's brain."
)
CAMERAS = (
    ("Oblique", "oblique"),
    ("Left lateral", "lateral_left"),
    ("Right lateral", "lateral_right"),
    ("Left medial", "medial_left"),
    ("Right medial", "medial_right"),
    ("Top", "top"),
    ("Front", "front"),
)
SPEEDS = (("0.5\u00d7", 0.5), ("1\u00d7", 1.0), ("2\u00d7", 2.0), ("4\u00d7", 4.0))
BASE_FPS = 12.0  # days per second at 1x
MODES = ("twin", "compare", "whatif")


@functools.cache
def scene_atlas() -> Any:
    """The region atlas of the shipped region map on the shipped brain (built once)."""
    from viz.brain import load_brain
    from viz.regions import build_atlas

    doc = json.loads((files("resources") / "twin" / "region_map.json").read_text("utf-8"))
    return build_atlas(doc, load_brain(), source="region_map.json")


def _fmt(day: date) -> str:
    return day.strftime("%d %b %Y")


def _qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


class TwinView(QWidget):
    """Self-contained Twin tab: pass the session, a patient id and (optionally) a task runner."""

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
        run_task: RunTask | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("twinView")
        self.setAccessibleName("Digital twin 3D view")
        self.ctx, self.principal = ctx, principal
        self._runner = TaskRunner(self) if run_task is None else None
        self.run_task: RunTask = run_task or self._runner  # type: ignore[assignment]
        self.patient_id: str | None = None
        self.timeline: tv.TwinTimeline | None = None
        self.whatif: tv.WhatIf | None = None
        self.mode = "twin"
        self.index = 0
        self.whatif_step = 0
        self.scene: Any = None
        self.compare: Any = None
        self._report_scene: Any = None
        self._lim = 0.5
        self._solid = False
        self._generation = 0
        self._build_ui()
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(0)
        self._frame_timer.timeout.connect(self.flush)
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(150)
        self._detail_timer.timeout.connect(self._load_detail)
        self._play = QTimer(self)
        self._play.timeout.connect(self._tick)
        self._dirty = False
        if patient_id:
            self.set_patient(patient_id)

    # ---- layout ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(6)
        bar = QHBoxLayout()
        self.mode_group = QButtonGroup(self)
        self.mode_buttons: dict[str, QToolButton] = {}
        for i, (mode, text, key) in enumerate(
            (
                ("twin", "&Twin", "Alt+1"),
                ("compare", "&Compare dates", "Alt+2"),
                ("whatif", "&What-if", "Alt+3"),
            )
        ):
            b = QToolButton()
            b.setText(text)
            b.setCheckable(True)
            b.setAccessibleName(text.replace("&", "") + " mode")
            b.setToolTip(f"{text.replace('&', '')} ({key})")
            b.setShortcut(QKeySequence(key))
            self.mode_group.addButton(b, i)
            self.mode_buttons[mode] = b
            bar.addWidget(b)
        self.mode_buttons["twin"].setChecked(True)
        self.mode_group.idClicked.connect(lambda i: self.set_mode(MODES[i]))
        for b in self.mode_buttons.values():
            b.setObjectName("twinMode")
            b.setStyleSheet(
                "QToolButton#twinMode { padding: 4px 12px; border: 1px solid palette(mid);"
                " border-radius: 4px; }"
                "QToolButton#twinMode:checked { background: rgb(37,99,235); color: white;"
                " border-color: rgb(37,99,235); font-weight: 600; }"
            )
        bar.addSpacing(12)
        bar.addWidget(QLabel("View"))
        self.camera = QComboBox()
        self.camera.setAccessibleName("Camera view")
        for text, preset in CAMERAS:
            self.camera.addItem(text, preset)
        self.camera.currentIndexChanged.connect(self._camera_changed)
        bar.addWidget(self.camera)
        self.deep = QCheckBox("Deep structures")
        self.deep.setChecked(True)
        self.deep.setAccessibleName("Show deep structures through a glass cortex")
        self.deep.setToolTip("Glass cortex with subcortical nuclei (off: solid cortex, faster)")
        self.deep.toggled.connect(self._deep_toggled)
        bar.addWidget(self.deep)
        bar.addStretch(1)
        self.shot_button = QPushButton("Screenshot")
        self.shot_button.setAccessibleName("Save a screenshot of the 3D view")
        self.shot_button.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.shot_button.clicked.connect(lambda: self.save_screenshot())
        bar.addWidget(self.shot_button)
        self.report_button = QPushButton("PDF report\u2026")
        self.report_button.setAccessibleName("Export a PDF patient report")
        self.report_button.setShortcut(QKeySequence(QKeySequence.StandardKey.Print))
        self.report_button.clicked.connect(lambda: self.export_report())
        bar.addWidget(self.report_button)
        root.addLayout(bar)

        self.banner = QLabel(BANNER)
        self.banner.setWordWrap(True)
        self.banner.setObjectName("twinBanner")
        self.banner.setStyleSheet(
            "QLabel#twinBanner { background: rgba(217,119,6,0.12); border: 1px solid "
            "rgba(217,119,6,0.45); border-radius: 6px; padding: 6px 10px; }"
        )
        root.addWidget(self.banner)

        # compare / what-if controls (one row each, shown per mode)
        self.compare_bar = QWidget()
        cb = QHBoxLayout(self.compare_bar)
        cb.setContentsMargins(0, 0, 0, 0)
        self.date_a, self.date_b = QDateEdit(), QDateEdit()
        for lab, edit in (("Date A", self.date_a), ("Date B", self.date_b)):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("dd MMM yyyy")
            edit.setAccessibleName(f"Compare {lab.lower()}")
            edit.dateChanged.connect(self._compare_dates_changed)
            cb.addWidget(QLabel(lab))
            cb.addWidget(edit)
        self.diff_button = QPushButton("Difference map (B \u2212 A)")
        self.diff_button.setCheckable(True)
        self.diff_button.setAccessibleName("Show the difference map between the two dates")
        self.diff_button.toggled.connect(self._diff_toggled)
        cb.addWidget(self.diff_button)
        cb.addStretch(1)
        self.compare_note = QLabel("Linked cameras: rotating one view rotates both.")
        cb.addWidget(self.compare_note)
        root.addWidget(self.compare_bar)

        self.whatif_bar = QWidget()
        wb = QVBoxLayout(self.whatif_bar)
        wb.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Treatment option"))
        self.option = QComboBox()
        self.option.setAccessibleName("Treatment option for the what-if projection")
        for key, text in vocabulary.OPTION_LABELS.items():
            self.option.addItem(text, key)
        row.addWidget(self.option)
        self.project_button = QPushButton("Project 12 weeks")
        self.project_button.setAccessibleName("Run the what-if projection")
        self.project_button.clicked.connect(lambda: self.run_whatif(self.option.currentData()))
        row.addWidget(self.project_button)
        self.whatif_summary = QLabel("")
        self.whatif_summary.setWordWrap(True)
        row.addWidget(self.whatif_summary, 1)
        wb.addLayout(row)
        self.whatif_label = QLabel(tv.WHATIF_LABEL)
        self.whatif_label.setObjectName("whatifLabel")
        self.whatif_label.setWordWrap(True)
        self.whatif_label.setStyleSheet(
            "QLabel#whatifLabel { color: rgb(124,58,237); font-weight: 600; }"
        )
        wb.addWidget(self.whatif_label)
        root.addWidget(self.whatif_bar)

        # centre: scene stack | panel
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
        self.compare_host: SceneHost | None = None
        cl.addWidget(self.stack, 1)
        self.whatif_chart = TrajectoryChart(
            "Depression: recent estimate and projection (90 % band)"
        )
        self.whatif_chart.setMaximumHeight(200)
        cl.addWidget(self.whatif_chart)
        self.splitter.addWidget(centre)
        self.panel = RegionPanel()
        self.panel.regionRequested.connect(self.select_region)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        root.addWidget(self.splitter, 1)

        # timeline
        self.timeline_bar = QWidget()
        tb = QHBoxLayout(self.timeline_bar)
        tb.setContentsMargins(0, 0, 0, 0)
        self.play_button = QToolButton()
        self.play_button.setText("\u25b6 Play")
        self.play_button.setCheckable(True)
        self.play_button.setAccessibleName("Play or pause the timeline")
        self.play_button.toggled.connect(self.set_playing)
        tb.addWidget(self.play_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName("Timeline date")
        self.slider.setPageStep(7)
        self.slider.valueChanged.connect(self._slider_moved)
        tb.addWidget(self.slider, 1)
        self.date_label = QLabel("")
        self.date_label.setMinimumWidth(170)
        self.date_label.setAccessibleName("Date shown")
        tb.addWidget(self.date_label)
        tb.addWidget(QLabel("Speed"))
        self.speed = QComboBox()
        self.speed.setAccessibleName("Playback speed")
        for text, value in SPEEDS:
            self.speed.addItem(text, value)
        self.speed.setCurrentIndex(1)
        self.speed.currentIndexChanged.connect(lambda _i: self._retime())
        tb.addWidget(self.speed)
        root.addWidget(self.timeline_bar)
        self.provenance = QLabel("")
        self.provenance.setWordWrap(True)
        self.provenance.setStyleSheet("color: palette(mid); font-size: 8.5pt;")
        self.provenance.setAccessibleName("Provenance of the twin")
        root.addWidget(self.provenance)
        QShortcut(
            QKeySequence(Qt.Key.Key_Space),
            self,
            lambda: self.play_button.toggle(),
            context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
        )
        self._apply_mode_visibility()
        self._show_empty("Open a patient to see the digital twin.")

    # ---- patient ----------------------------------------------------------------------------
    def set_patient(self, patient_id: str | None) -> None:
        """Load (off the GUI thread) and show a patient's latest twin."""
        self.clear()
        self.patient_id = patient_id
        if not patient_id:
            return
        self._generation += 1
        gen = self._generation
        self._show_empty("Loading the digital twin\u2026")
        self.run_task(
            tv.load_timeline,
            self.ctx,
            self.principal,
            patient_id,
            label="Loading digital twin",
            on_done=lambda t: self._timeline_ready(gen, t),
            on_error=self._failed,
        )

    def clear(self) -> None:
        """Forget the patient (lock, sign-out, switch): no PHI stays in the widgets."""
        self._generation += 1
        self.set_playing(False)
        self.timeline = None
        self.whatif = None
        self.patient_id = None
        self.panel.show_placeholder()
        self.whatif_chart.clear_series()
        self.whatif_summary.setText("")
        self.provenance.setText("")
        self.date_label.setText("")
        self.diff_button.setChecked(False)
        if self.mode != "twin":
            self.set_mode("twin")
        self._show_empty("Open a patient to see the digital twin.")

    def _timeline_ready(self, gen: int, timeline: tv.TwinTimeline | None) -> None:
        if gen != self._generation:
            return
        if timeline is None:
            self._show_empty(
                "No twin yet. The twin appears after the first assessment, actigraphy import or "
                "note analysis of this patient."
            )
            return
        self.timeline = timeline
        self._lim = timeline.color_limit()
        self._ensure_scene()
        self.panel.set_regions(timeline.region_names)
        n = len(timeline.dates)
        self.slider.blockSignals(True)
        self.slider.setRange(0, n - 1)
        self.slider.setValue(n - 1)
        self.slider.blockSignals(False)
        self.index = n - 1
        self.date_label.setText(_fmt(timeline.dates[-1]))
        for edit in (self.date_a, self.date_b):
            edit.blockSignals(True)
            edit.setDateRange(_qdate(timeline.dates[0]), _qdate(timeline.dates[-1]))
            edit.blockSignals(False)
        self.date_a.setDate(_qdate(timeline.dates[max(0, n - 57)]))
        self.date_b.setDate(_qdate(timeline.dates[-1]))
        prov = timeline.provenance
        self.provenance.setText(
            f"Twin: {prov.get('model', '')} {prov.get('model_version', '')}, snapshot "
            f"v{prov['twin_state_version']}, {len(timeline.state.observations)} observations, "
            f"{_fmt(timeline.dates[0])} \u2013 {_fmt(timeline.dates[-1])}. Region map "
            f"v{prov['region_map_version']} (illustrative). "
            f"{prov.get('training_data', '').removeprefix('none: ').capitalize()}."
        )
        self.stack.setCurrentWidget(self.host)
        self._reset_colormap()
        self.flush()
        self.timelineLoaded.emit(timeline.patient_id)

    def _failed(self, exc: BaseException) -> None:
        msg = user_message(exc)
        self.errorOccurred.emit(msg)
        if self.timeline is None:
            self._show_empty(msg)
        else:
            self.whatif_summary.setText(msg)

    def _show_empty(self, text: str) -> None:
        self.empty.setText(text)
        self.stack.setCurrentWidget(self.empty)

    # ---- scenes -----------------------------------------------------------------------------
    def _ensure_scene(self) -> None:
        if self.scene is not None:
            return
        from viz.scene import TwinScene

        size = self.host.frame_size()
        self.scene = TwinScene(
            scene_atlas(),
            plotter=self.host.plotter(),
            window_size=size,
            colormap="diverging",
            clim=(-self._lim, self._lim),
            title=LEGEND_TITLE,
        )
        self.host.attach(self.scene)

    def _ensure_compare(self) -> None:
        if self.compare is not None:
            return
        from viz.scene import CompareScene

        self.compare_host = make_host((1, 2))
        self.compare_host.setAccessibleName("Two dates side by side with linked cameras")
        self.compare_host.clicked.connect(self._compare_clicked)
        self.stack.addWidget(self.compare_host)
        self.compare_host.setGeometry(self.host.geometry())  # its shown size, before the camera
        self.compare = CompareScene(
            scene_atlas(),
            plotter=self.compare_host.plotter(),
            window_size=self.compare_host.frame_size(),
            colormap="diverging",
            clim=(-self._lim, self._lim),
            title=COMPARE_TITLE,
        )
        self.compare.set_camera(self.camera.currentData(), zoom=COMPARE_ZOOM)
        self.compare_host.attach(self.compare)

    def _reset_colormap(self) -> None:
        if self.scene is not None:
            self.scene.set_colormap("diverging", (-self._lim, self._lim), LEGEND_TITLE)
        if self.compare is not None:
            self.compare.set_colormap("diverging", (-self._lim, self._lim), COMPARE_TITLE)

    def request_frame(self) -> None:
        """Redraw on the next event-loop turn (several changes coalesce into one frame)."""
        self._dirty = True
        self._frame_timer.start()

    def flush(self) -> None:
        """Apply the current mode/date to the scene and draw it now."""
        self._dirty = False
        self._frame_timer.stop()  # a frame requested earlier is this one
        t = self.timeline
        if t is None or self.scene is None:
            return
        if self.mode == "twin":
            self.scene.set_region_values(t.frame(self.index))
            self.scene.set_caption(f"{_fmt(t.dates[self.index])}   model estimate")
            self.host.refresh()
        elif self.mode == "compare":
            ia, ib = self._compare_indices()
            if self.diff_button.isChecked():
                self.scene.show_difference(t.frame(ia), t.frame(ib), limit=self._lim)
                self.scene.set_caption(f"Change {_fmt(t.dates[ia])} to {_fmt(t.dates[ib])}")
                self.host.refresh()
            else:
                self._ensure_compare()
                self.compare.set_region_values(t.frame(ia), t.frame(ib))
                self.compare.set_captions(f"A  {_fmt(t.dates[ia])}", f"B  {_fmt(t.dates[ib])}")
                self.compare_host.refresh()  # type: ignore[union-attr]
        elif self.mode == "whatif":
            if self.whatif is None:
                self.scene.set_region_values(t.frame(len(t.dates) - 1))
                self.scene.set_caption(f"{_fmt(t.dates[-1])}   model estimate (today)")
            else:
                step = self.whatif_step
                day = self.whatif.projection.days[step]
                self.scene.set_region_values(self.whatif.regions_at(step))
                self.scene.set_caption(
                    f"Projected week {step}  ({_fmt(day)})   illustrative, not a prediction"
                )
            self.host.refresh()

    # ---- timeline ---------------------------------------------------------------------------
    def _slider_moved(self, value: int) -> None:
        if self.timeline is None:
            return
        if self.mode == "whatif":
            if self.whatif is not None:
                self.whatif_step = int(value)
                day = self.whatif.projection.days[self.whatif_step]
                self.date_label.setText(f"Week {self.whatif_step}  \u00b7  {_fmt(day)}")
                self.whatif_chart.set_marker(day)
                self.request_frame()
            return
        self.index = int(value)
        day = self.timeline.dates[self.index]
        self.date_label.setText(_fmt(day))
        self.panel.set_day(day)
        self.dateChanged.emit(day)
        self.request_frame()
        if self.panel.region_id and not self._play.isActive():
            self._detail_timer.start()

    def set_date_index(self, index: int) -> None:
        """Move the timeline to a grid index (like dragging the slider)."""
        self.slider.setValue(int(index))

    def set_playing(self, playing: bool) -> None:
        """Start or stop timeline playback (Space toggles)."""
        if self.play_button.isChecked() != playing:
            self.play_button.setChecked(playing)
            return
        if playing and self.timeline is not None:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self._retime()
            self._play.start()
            self.play_button.setText("\u23f8 Pause")
        else:
            self._play.stop()
            self.play_button.setText("\u25b6 Play")
            if self.panel.region_id:
                self._detail_timer.start()

    def _retime(self) -> None:
        fps = BASE_FPS * float(self.speed.currentData() or 1.0)
        if self.mode == "whatif":
            fps = 2.0 * float(self.speed.currentData() or 1.0)
        self._play.setInterval(max(33, round(1000.0 / fps)))
        self._step = max(1, round(fps / 30.0)) if fps > 30 else 1

    def _tick(self) -> None:
        value = self.slider.value() + getattr(self, "_step", 1)
        if value > self.slider.maximum():
            self.slider.setValue(self.slider.maximum())
            self.set_playing(False)
            return
        self.slider.setValue(value)

    # ---- modes ------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        """Switch between 'twin', 'compare' and 'whatif'."""
        if mode not in MODES:
            raise ValueError(f"unknown twin view mode '{mode}'")
        self.set_playing(False)
        previous, self.mode = self.mode, mode
        self.mode_buttons[mode].setChecked(True)
        self._apply_mode_visibility()
        if previous == "compare" and self.diff_button.isChecked() or mode != previous:
            self._reset_colormap()
        t = self.timeline
        if t is None:
            return
        self.slider.blockSignals(True)
        if mode == "whatif":
            steps = len(self.whatif.projection.days) - 1 if self.whatif else 0
            self.slider.setRange(0, steps)
            self.slider.setValue(self.whatif_step)
            self.date_label.setText(
                f"Week {self.whatif_step}" if self.whatif else "Run a projection"
            )
        else:
            self.slider.setRange(0, len(t.dates) - 1)
            self.slider.setValue(self.index)
            self.date_label.setText(_fmt(t.dates[self.index]))
        self.slider.blockSignals(False)
        if mode == "compare" and not self.diff_button.isChecked():
            self._ensure_compare()
            self.stack.setCurrentWidget(self.compare_host)
        else:
            self.stack.setCurrentWidget(self.host)
        self.flush()

    def _apply_mode_visibility(self) -> None:
        self.compare_bar.setVisible(self.mode == "compare")
        self.whatif_bar.setVisible(self.mode == "whatif")
        self.whatif_chart.setVisible(self.mode == "whatif")
        self.timeline_bar.setVisible(self.mode != "compare")
        self.panel.setVisible(self.mode != "whatif")

    def _compare_indices(self) -> tuple[int, int]:
        t = self.timeline
        if t is None:
            return 0, 0
        a, b = self.date_a.date(), self.date_b.date()
        return (
            t.index_of(date(a.year(), a.month(), a.day())),
            t.index_of(date(b.year(), b.month(), b.day())),
        )

    def set_compare_dates(self, a: date, b: date) -> None:
        """Choose the two dates of the comparison."""
        self.date_a.setDate(_qdate(a))
        self.date_b.setDate(_qdate(b))

    def _compare_dates_changed(self) -> None:
        if self.mode == "compare":
            self.request_frame()

    def _diff_toggled(self, on: bool) -> None:
        if self.mode != "compare" or self.timeline is None:
            return
        if on:
            self.stack.setCurrentWidget(self.host)
        else:
            self._reset_colormap()
            self._ensure_compare()
            self.stack.setCurrentWidget(self.compare_host)
        self.flush()

    def _camera_changed(self) -> None:
        preset = self.camera.currentData()
        if self.scene is not None:
            self.scene.set_camera(preset)
        if self.compare is not None:
            self.compare.set_camera(preset, zoom=COMPARE_ZOOM)
        self.flush()

    def _deep_toggled(self, on: bool) -> None:
        self._solid = not on
        if self.scene is not None:
            if on:
                self.scene.set_cortex_opacity(
                    self.scene.style.anatomy_opacity, self.scene.style.region_opacity
                )
            else:
                self.scene.set_cortex_opacity(1.0, 1.0)
        self.flush()

    # ---- picking and the panel --------------------------------------------------------------
    def pick_at(self, x: float, y: float) -> str | None:
        """Select the region under (x, y) (scene pixels, origin top-left) in the main view."""
        if self.scene is None:
            return None
        rid = self.scene.pick(x, y)
        if rid:
            self.select_region(rid)
        return rid

    def _compare_clicked(self, x: float, y: float) -> None:
        side, rid = self.compare.pick(x, y)
        if rid:
            ia, ib = self._compare_indices()
            self.index = ia if side == 0 else ib
            self.select_region(rid)

    def select_region(self, region_id: str) -> None:
        """Show a region's value, uncertainty, trajectory and evidence in the side panel."""
        if self.timeline is None:
            return
        self.panel.region_id = region_id
        self.regionSelected.emit(region_id)
        self._load_detail()

    def _load_detail(self) -> None:
        t, rid = self.timeline, self.panel.region_id
        if t is None or rid is None:
            return
        day = t.dates[self.index]
        gen = self._generation
        self.run_task(
            tv.region_detail,
            t,
            rid,
            day,
            label="Explaining region",
            on_done=lambda d: gen == self._generation and self._detail_ready(d),
            on_error=self._failed,
        )

    def _detail_ready(self, detail: tv.RegionDetail) -> None:
        if self.timeline is not None and detail.region_id == self.panel.region_id:
            self.panel.show_detail(detail, self.timeline)

    # ---- what-if ----------------------------------------------------------------------------
    def run_whatif(self, option: str) -> None:
        """Project the twin under a treatment option (off the GUI thread)."""
        if self.timeline is None:
            return
        idx = self.option.findData(option)
        if idx >= 0:
            self.option.setCurrentIndex(idx)
        if self.mode != "whatif":
            self.set_mode("whatif")
        self.project_button.setEnabled(False)
        self.whatif_summary.setText("Projecting\u2026")
        gen = self._generation
        self.run_task(
            tv.whatif,
            self.ctx,
            self.principal,
            self.timeline,
            option,
            label="What-if projection",
            on_done=lambda w: gen == self._generation and self._whatif_ready(w),
            on_error=self._whatif_failed,
        )

    def _whatif_failed(self, exc: BaseException) -> None:
        self.project_button.setEnabled(True)
        self._failed(exc)

    def _whatif_ready(self, result: tv.WhatIf) -> None:
        self.project_button.setEnabled(True)
        self.whatif = result
        t = self.timeline
        if t is None:  # the patient was cleared while the projection ran
            return
        proj = result.projection
        peak = float(np.nanmax(np.abs(proj.region_mean))) if proj.region_mean.size else 0.0
        self._lim = max(t.color_limit(), float(np.ceil(peak * 20) / 20))
        self._reset_colormap()
        self.whatif_label.setText(result.label)
        pred_text = (
            f"{result.option_label}: response probability {proj.p:.0%} "
            f"(interval {proj.p_low:.0%}\u2013{proj.p_high:.0%}) from {result.model_version}"
            + (" \u2014 trained on synthetic data, demonstration only" if result.synthetic else "")
        )
        self.whatif_summary.setText(pred_text)
        # chart: the last 8 weeks of the estimate, then the projection
        dep = t.state.dimensions.index("depression")
        recent = slice(max(0, len(t.dates) - 56), len(t.dates))
        m, s = t.state.mean[dep, recent], t.state.sd[dep, recent]
        self.whatif_chart.clear_series()
        self.whatif_chart.add_series(
            t.dates[recent], m, m - tv.Z90 * s, m + tv.Z90 * s, name="estimate"
        )
        pm, plo, phi = proj.series("depression")
        self.whatif_chart.add_series(proj.days, pm, plo, phi, color=PROJECTION, dashed=True)
        steps = len(proj.days) - 1
        self.whatif_step = min(8, steps) if steps >= 8 else steps
        self.slider.blockSignals(True)
        self.slider.setRange(0, steps)
        self.slider.setValue(self.whatif_step)
        self.slider.blockSignals(False)
        day = proj.days[self.whatif_step]
        self.date_label.setText(f"Week {self.whatif_step}  \u00b7  {_fmt(day)}")
        self.whatif_chart.set_marker(day)
        self.flush()
        self.whatifReady.emit(result.option)

    # ---- screenshot and report --------------------------------------------------------------
    def current_host(self) -> SceneHost:
        """The host on screen (single scene, or the side-by-side comparison)."""
        w = self.stack.currentWidget()
        return w if isinstance(w, SceneHost) else self.host

    def save_screenshot(self, path: str | Path | None = None) -> Path | None:
        """Save the 3D view as a PNG (asks for a file when no path is given)."""
        if self.scene is None:
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save twin screenshot", "twin.png", "PNG image (*.png)"
            )
            if not chosen:
                return None
            path = chosen
        self.flush()
        arr = self.current_host().grab_frame()
        h, w, _ = arr.shape
        img = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        out = Path(path)
        if not img.save(str(out), "PNG"):
            self.errorOccurred.emit("The screenshot could not be saved to that location.")
            return None
        if self.timeline is not None and not self._disclosed(out, "png", self.timeline.patient_id):
            return None
        self.screenshotSaved.emit(str(out))
        return out

    def _disclosed(self, out: Path, kind: str, patient_id: str) -> bool:
        """Audit the file as a disclosure (by the service); an unaudited file is removed."""
        from app.services import phi_audit

        try:
            phi_audit.record_disclosure(
                self.ctx, self.principal, patient_id, kind=kind, destination=out
            )
        except Exception as exc:  # noqa: BLE001 — any failure: the file must not stay
            out.unlink(missing_ok=True)
            self._failed(exc)
            return False
        return True

    def export_report(self, path: str | Path | None = None) -> None:
        """Render the report's twin images here (VTK, GUI thread), then write the PDF off it."""
        from ui.twin import report

        t = self.timeline
        if t is None:
            return
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export patient report", "twin-report.pdf", "PDF document (*.pdf)"
            )
            if not chosen:
                return
            path = chosen
        if self._report_scene is None:
            self._report_scene = report.ReportScene(scene_atlas())
        images = self._report_scene.images(t, self._lim, self.whatif)
        self.report_button.setEnabled(False)
        out = Path(path)
        ctx, principal, whatif = self.ctx, self.principal, self.whatif

        def build() -> str:
            from app.services import phi_audit

            data = tv.report_input(ctx, principal, t, whatif)
            report.write_pdf(out, data, images)
            try:
                phi_audit.record_disclosure(
                    ctx, principal, t.patient_id, kind="pdf", destination=out
                )
            except BaseException:
                out.unlink(missing_ok=True)  # an unaudited disclosure must not stay behind
                raise
            return str(out)

        def done(p: str) -> None:
            self.report_button.setEnabled(True)
            self.reportExported.emit(p)

        def failed(exc: BaseException) -> None:
            self.report_button.setEnabled(True)
            self._failed(exc)

        self.run_task(build, label="Writing PDF report", on_done=done, on_error=failed)

    # ---- lifecycle --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop timers, wait for background work and release render windows."""
        self._play.stop()
        self._frame_timer.stop()
        self._detail_timer.stop()
        if self._runner is not None:
            self._runner.wait()
        for host in (self.host, self.compare_host):
            if host is not None:
                host.close_scene()
        if self._report_scene is not None:
            self._report_scene.close()
            self._report_scene = None
        self.scene = self.compare = None

    def closeEvent(self, event: Any) -> None:  # noqa: N802 — Qt override
        self.shutdown()
        super().closeEvent(event)
