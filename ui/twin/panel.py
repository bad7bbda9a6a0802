"""Side panel of the twin view: one region's value, uncertainty, trajectory and evidence.

Why: a coloured brain is only trustworthy if a click tells what the colour means, how sure the
model is, and which observations produced it. Values are shown as model estimates (never as
measurements); evidence lists observation kinds, dates and ids only (no free text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services.twin_view import RegionDetail, TwinTimeline, region_detail
from app.services.vocabulary import DIMENSION_LABELS
from ui.twin.charts import TrajectoryChart
from ui.twin.common import ViewController

if TYPE_CHECKING:
    from ui.twin.view import TwinView

ESTIMATE_CHIP = "Model estimate, not a measurement"
DETAIL_DELAY_MS = 150  # scrubbing: explain the region once the slider rests


def describe(value: float, low: float, high: float) -> str:
    """Plain words for a deviation and its 90 % band."""
    if low > 0:
        return "Above the healthy reference (the 90 % band excludes zero)."
    if high < 0:
        return "Below the healthy reference (the 90 % band excludes zero)."
    return "Not distinguishable from the healthy reference (the 90 % band includes zero)."


def _label(text: str = "", *, bold: bool = False, size: float | None = None) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    font = lab.font()
    if bold:
        font.setBold(True)
    if size:
        font.setPointSizeF(size)
    lab.setFont(font)
    return lab


class RegionPanel(QWidget):
    """Shows a ``RegionDetail``; its combo lets keyboard users choose a region too."""

    regionRequested = Signal(str)  # noqa: N815 — Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("twinRegionPanel")
        self.setMinimumWidth(300)
        self.setMaximumWidth(420)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(6)
        self.selector = QComboBox()
        self.selector.setAccessibleName("Brain region")
        self.selector.activated.connect(self._chosen)
        layout.addWidget(self.selector)
        self.title = _label("Select a brain region", bold=True, size=13)
        self.title.setAccessibleName("Region name")
        layout.addWidget(self.title)
        self.chip = QLabel(ESTIMATE_CHIP)
        self.chip.setObjectName("estimateChip")
        layout.addWidget(self.chip, 0, Qt.AlignmentFlag.AlignLeft)
        self.value = _label("", bold=True, size=16)
        self.value.setAccessibleName("Region value")
        layout.addWidget(self.value)
        self.band = _label("")
        self.band.setAccessibleName("Region uncertainty")
        layout.addWidget(self.band)
        self.meaning = _label("")
        layout.addWidget(self.meaning)
        self.chart = TrajectoryChart("Trajectory with 90 % band")
        layout.addWidget(self.chart, 1)
        self.mapping = _label("")
        self.mapping.setAccessibleName("How this region is derived")
        layout.addWidget(self.mapping)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        layout.addWidget(line)
        self.evidence_title = _label("Evidence behind this value", bold=True)
        layout.addWidget(self.evidence_title)
        self.evidence = QTableWidget(0, 4)
        self.evidence.setHorizontalHeaderLabels(["Observation", "Date", "Weight", "Id"])
        self.evidence.setAccessibleName("Observations behind this region's value")
        self.evidence.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.evidence.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.evidence.verticalHeader().hide()
        self.evidence.setShowGrid(False)
        self.evidence.setAlternatingRowColors(True)
        self.evidence.setWordWrap(True)
        hdr = self.evidence.horizontalHeader()
        hdr.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            hdr.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.evidence, 1)
        self.note = _label("")
        self.note.setObjectName("twinPanelNote")
        layout.addWidget(self.note)
        self.region_id: str | None = None
        self.detail: RegionDetail | None = None
        self.show_placeholder()

    def set_regions(self, names: Mapping[str, str]) -> None:
        """Fill the region chooser (id → display name)."""
        self.selector.clear()
        self.selector.addItem("Choose a region\u2026", None)
        for rid, name in names.items():
            self.selector.addItem(name, rid)

    def _chosen(self, index: int) -> None:
        rid = self.selector.itemData(index)
        if rid:
            self.regionRequested.emit(rid)

    def show_placeholder(self) -> None:
        """No region selected yet."""
        self.region_id = None
        self.detail = None
        self.title.setText("Select a brain region")
        self.value.setText("")
        self.band.setText("")
        self.meaning.setText(
            "Click a region in the 3D view, or choose one above, to see its estimated value, "
            "how certain the model is, and the observations behind it."
        )
        self.mapping.setText("")
        self.chart.clear_series()
        self.evidence.setRowCount(0)
        self.note.setText("")
        self._details_visible(False)

    def _details_visible(self, on: bool) -> None:
        for w in (self.chart, self.evidence_title, self.evidence, self.chip):
            w.setVisible(on)

    def show_detail(self, detail: RegionDetail, timeline: TwinTimeline) -> None:
        """Fill the panel for one region on one date."""
        self.region_id = detail.region_id
        self.detail = detail
        self._details_visible(True)
        idx = self.selector.findData(detail.region_id)
        if idx >= 0:
            self.selector.setCurrentIndex(idx)
        self.title.setText(detail.name)
        self.value.setText(f"{detail.value:+.2f}  \u00b1 {detail.sd:.2f} SD")
        self.band.setText(
            f"90 % band {detail.low:+.2f} to {detail.high:+.2f} on "
            f"{detail.day.strftime('%d %b %Y')}  \u2014  deviation from the healthy reference "
            "(0), in twin dimension units"
        )
        self.meaning.setText(describe(detail.value, detail.low, detail.high))
        parts = [
            f"{DIMENSION_LABELS.get(d, d).lower()} ({w:+.1f})" for d, w in detail.dimensions.items()
        ]
        self.mapping.setText(
            "Derived from " + ", ".join(parts) + " by the illustrative region map "
            f"v{timeline.region_map_version} (references: {', '.join(detail.references)})."
        )
        mean, low, high = timeline.region_series(detail.region_id)
        self.chart.clear_series()
        self.chart.add_series(timeline.dates, mean, low, high, name="estimate")
        self.chart.set_marker(detail.day)
        self.evidence.setRowCount(len(detail.evidence))
        for r, e in enumerate(detail.evidence):
            cells = [
                f"{e.what} \u2192 {DIMENSION_LABELS.get(e.dimension, e.dimension).lower()}",
                e.day.isoformat(),
                f"{e.weight:+.3f}",
                e.obs_id.split("/")[0][:8],
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(e.sentence() + f"  [observation {e.obs_id}]")
                self.evidence.setItem(r, c, item)
        self.evidence.resizeRowsToContents()
        self.note.setText(
            detail.prior_note
            or "Weight = how much each observation moved this region's value (Kalman smoother "
            "weights times the region map weight). Largest first."
        )

    def set_day(self, day: date) -> None:
        """Move the chart's date marker (the detail itself reloads separately)."""
        if self.detail is not None:
            self.chart.set_marker(day)


class RegionDetails(ViewController):
    """The panel's controller: which region is selected, and its detail loaded off the GUI
    thread for the date on screen (again after scrubbing or playback stops)."""

    def __init__(self, view: TwinView) -> None:
        super().__init__(view)
        self.panel = RegionPanel()
        self.panel.regionRequested.connect(view.select_region)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DETAIL_DELAY_MS)
        self.timer.timeout.connect(self.load)

    def select(self, region_id: str) -> None:
        """Select a region of the twin on screen and explain it."""
        if self.view.timeline is None:
            return
        self.panel.region_id = region_id
        self.view.regionSelected.emit(region_id)
        self.load()

    def reload_later(self) -> None:
        """Explain the selected region for the new date once the timeline rests."""
        if self.panel.region_id:
            self.timer.start()

    def load(self) -> None:
        """Load the selected region's detail for the date on screen (off the GUI thread)."""
        view = self.view
        t, rid = view.timeline, self.panel.region_id
        if t is None or rid is None:
            return
        view.tasks.call(
            region_detail,
            t,
            rid,
            t.dates[view.index],
            label="Explaining region",
            on_done=view.for_this_patient(self._ready),
            on_error=view.failed,
        )

    def _ready(self, detail: RegionDetail) -> None:
        t = self.view.timeline
        if t is not None and detail.region_id == self.panel.region_id:
            self.panel.show_detail(detail, t)
