"""Trend of every instrument a patient has taken, over time, on its own severity bands.

One pyqtgraph plot per instrument (stacked, shared time axis). Band regions come from the
instrument definition (app.services.instrument_catalog.band_regions); instruments without a total
(C-SSRS) are drawn on their band scale. Hovering a point shows its date, value and band.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from app.core.domain import Principal
from app.core.events import AssessmentCompleted, PatientDataUpdated
from app.services import assessments
from app.services.assessments import AssessmentRow
from app.services.context import AppContext
from app.services.instrument_catalog import BandRegion, Instrument, band_regions, instruments
from ui.assessments.result import band_colour
from ui.bus import EventBridge, concerns
from ui.tasks import TaskManager

HOVER_PX = 12.0
X_SPAN = (0.0, 4.1e9)  # band shading spans every date a chart can show (POSIX seconds)


class BandRegionItem(QGraphicsRectItem):
    """A horizontal band from ``low`` to ``high`` across the whole time axis.

    A plain rectangle: pyqtgraph's LinearRegionItem (with its draggable lines) crashed
    PySide6 6.12 at interpreter exit once deleted from a multi-plot layout.
    """

    def __init__(self, low: float, high: float, colour: QColor) -> None:
        super().__init__(X_SPAN[0], low, X_SPAN[1] - X_SPAN[0], high - low)
        self.setBrush(QBrush(colour))
        self.setPen(QPen(Qt.PenStyle.NoPen))

    def getRegion(self) -> tuple[float, float]:  # noqa: N802 — pyqtgraph's name for it
        """(low, high) of the band."""
        r = self.rect()
        return (r.top(), r.bottom())


@dataclass(frozen=True)
class Series:
    """One instrument's points: x = POSIX seconds, y on the band regions' axis."""

    inst: Instrument
    regions: tuple[BandRegion, ...]
    rows: tuple[AssessmentRow, ...]
    xs: tuple[float, ...]
    ys: tuple[float, ...]

    @property
    def axis(self) -> str:
        """'total' or 'rank'."""
        return self.regions[0].axis

    def hover_text(self, i: int) -> str:
        """What hovering point i shows: date, value and band."""
        row = self.rows[i]
        band = next((r.label for r in self.regions if r.code == row.band), row.band)
        when = row.administered_at.astimezone().strftime("%Y-%m-%d %H:%M")
        value = f"total {row.total:g}" if row.total is not None else "no total"
        crit = "  ·  critical item" if row.critical else ""
        return f"{self.inst.short_name}  {when}\n{value}  ·  {band}{crit}"


def build_series(rows: list[AssessmentRow]) -> list[Series]:
    """Group a history by instrument in catalogue order; y from total or band rank."""
    out = []
    for inst in instruments():
        mine = tuple(r for r in rows if r.instrument == inst.id)
        if not mine:
            continue
        regions = tuple(band_regions(inst))
        ranks = {b.code: b.rank for b in inst.bands}
        if regions[0].axis == "total":
            ys = tuple(_total(r) for r in mine)
        else:
            ys = tuple(float(ranks.get(r.band, 0)) for r in mine)
        xs = tuple(r.administered_at.timestamp() for r in mine)
        out.append(Series(inst, regions, mine, xs, ys))
    return out


def _total(row: AssessmentRow) -> float:
    """A total-axis instrument's y; every scored administration of one has a total."""
    if row.total is None:
        raise TypeError(f"{row.instrument} assessment {row.id} has no total")
    return float(row.total)


class TrendChart(QWidget):
    """All instruments over time with band shading; reloads when an assessment is stored.

    Mount: ``TrendChart(ctx, principal, patient_id, tasks=tasks)``.
    """

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        patient_id: str,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal, self.patient_id = ctx, principal, patient_id
        self.tasks = tasks or TaskManager(None, parent=self)
        self.series: list[Series] = []
        self.plots: dict[str, pg.PlotItem] = {}
        self.regions: dict[str, list[BandRegionItem]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.tips: dict[str, pg.TextItem] = {}
        self._pins: dict[int, list[object]] = {}
        self.hovered: str = ""
        self.loading = False
        lay = self._lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        self.empty = QLabel("No assessments yet for this patient.")
        self.empty.setObjectName("emptyNote")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.empty)
        self.view = self._new_view()
        lay.addWidget(self.view, 1)
        self.view.hide()
        self.bridge = EventBridge(ctx.bus, self, types=(AssessmentCompleted, PatientDataUpdated))
        self.bridge.any_event.connect(self._event)
        self.load()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt override
        self.bridge.close()
        self.view.scene().sigMouseMoved.disconnect(self.hover_at)
        self._release()
        super().closeEvent(event)

    def _release(self) -> None:
        # Drop every Python reference to pyqtgraph items before Qt deletes them: wrappers of
        # already-deleted items collected at interpreter exit crashed PySide6 6.12.
        for plot in self.plots.values():
            vb = plot.vb
            for slot in self._pins.pop(id(vb), []):
                vb.sigXRangeChanged.disconnect(slot)
        self.series, self.plots, self.regions, self.curves, self.tips = [], {}, {}, {}, {}

    def _event(self, e: object) -> None:
        if concerns(e, self.patient_id, "assessment"):
            self.load()

    def load(self) -> None:
        """Fetch the patient's history in the background and redraw."""
        self.loading = True
        self.tasks.call(
            assessments.history,
            self.ctx,
            self.principal,
            self.patient_id,
            label="Loading assessment history",
            on_done=self._show,
            on_error=self._error,
        )

    def _error(self, exc: BaseException) -> None:
        self.loading = False
        self.empty.setText("The assessment history could not be loaded.")

    def _new_view(self) -> pg.GraphicsLayoutWidget:
        view = pg.GraphicsLayoutWidget()
        view.setBackground(self.palette().color(QPalette.ColorRole.Base))
        view.setAccessibleName("Assessment trends")
        view.ci.setSpacing(14)
        view.scene().sigMouseMoved.connect(self.hover_at)
        return view

    def _replace_view(self) -> None:
        """A fresh plot area (a new instrument appeared): the old one is deleted whole."""
        self._release()
        old = self.view
        old.scene().sigMouseMoved.disconnect(self.hover_at)
        self.view = self._new_view()
        self._lay.replaceWidget(old, self.view)
        old.hide()
        old.deleteLater()

    def _show(self, rows: list[AssessmentRow]) -> None:
        # Plots are created once per instrument and then only updated; a new instrument gets a
        # fresh plot area (GraphicsLayout.clear on a shown layout crashed PySide6 6.12 at exit).
        self.loading = False
        series = build_series(rows)
        if self.plots and not {x.inst.id for x in series} <= set(self.plots):
            self._replace_view()
        self.series = series
        self.empty.setVisible(not self.series)
        self.view.setVisible(bool(self.series))
        text = self.palette().color(QPalette.ColorRole.Text)
        for s in self.series:
            if s.inst.id in self.plots:
                self._update(s, text)
                continue
            plot = self.view.addPlot(
                row=len(self.plots), col=0, axisItems={"bottom": pg.DateAxisItem("bottom")}
            )
            self._draw(plot, s, text)
        if self.series:
            # One shared time range (set on each plot: pyqtgraph's setXLink between plots
            # crashed PySide6 6.12 when the widget was deleted). Room on the left for the band
            # names, a little on the right for the last point.
            xs = [x for s in self.series for x in s.xs]
            span = max(max(xs) - min(xs), 86400.0 * 14)
            for plot in self.plots.values():
                plot.setXRange(min(xs) - span * 0.13, max(xs) + span * 0.04, padding=0)
            self.view.setMinimumHeight(170 * len(self.plots))

    def _brushes(self, s: Series, text: QColor) -> list[object]:
        return [pg.mkBrush("#c0392b") if row.critical else pg.mkBrush(text) for row in s.rows]

    def _update(self, s: Series, text: QColor) -> None:
        self.curves[s.inst.id].setData(list(s.xs), list(s.ys), symbolBrush=self._brushes(s, text))

    def _draw(self, plot: pg.PlotItem, s: Series, text: QColor) -> None:
        iid = s.inst.id
        self.plots[iid] = plot
        title = f"{s.inst.short_name}" + ("" if s.axis == "total" else "  (risk level)")
        plot.setTitle(title, color=text.name(), size="11pt", justify="left")
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)  # a fixed, shared time axis
        plot.hideButtons()
        for ax in ("left", "bottom"):
            plot.getAxis(ax).setTextPen(text)
            plot.getAxis(ax).setPen(pg.mkPen(text.lighter(150) if text.lightness() < 128 else text))
        lo, hi = s.regions[0].low, s.regions[-1].high
        plot.setYRange(lo, hi, padding=0.02)
        regs = []
        small = QFont()
        small.setPointSize(8)
        for r in s.regions:
            colour = QColor(band_colour(r.rank, len(s.regions)))
            colour.setAlpha(48)
            item = BandRegionItem(r.low, r.high, colour)
            item.setZValue(-10)
            item.setToolTip(f"{r.label}: {r.low + 0.5:g}–{r.high - 0.5:g}")
            plot.addItem(item, ignoreBounds=True)
            regs.append(item)
            tone = QColor(band_colour(r.rank, len(s.regions))).darker(135)
            if text.lightness() > 128:  # dark theme: lighter band names
                tone = QColor(band_colour(r.rank, len(s.regions))).lighter(140)
            label = pg.TextItem(r.label, anchor=(0, 0.5), color=tone)
            label.setFont(small)
            label.setZValue(-5)
            plot.addItem(label, ignoreBounds=True)
            self._pin_label(plot, label, (r.low + r.high) / 2)
        self.regions[iid] = regs
        left = plot.getAxis("left")
        left.setWidth(44)  # equal widths keep the linked time axes aligned
        if s.axis == "rank":
            left.setTicks([[(float(r.rank), "") for r in s.regions]])  # labels sit in the bands
        brushes = [pg.mkBrush("#c0392b") if row.critical else pg.mkBrush(text) for row in s.rows]
        curve = plot.plot(
            list(s.xs),
            list(s.ys),
            pen=pg.mkPen(text, width=2),
            symbol="o",
            symbolSize=9,
            symbolBrush=brushes,
            symbolPen=pg.mkPen(self.palette().color(QPalette.ColorRole.Base), width=1.5),
        )
        self.curves[iid] = curve
        tip = pg.TextItem("", anchor=(0, 1), fill=pg.mkBrush(30, 36, 44, 225), color="w")
        tip.setZValue(100)
        plot.addItem(tip, ignoreBounds=True)
        tip.hide()
        self.tips[iid] = tip

    def _pin_label(self, plot: pg.PlotItem, label: pg.TextItem, y: float) -> None:
        vb = plot.vb

        def place() -> None:
            label.setPos(vb.viewRange()[0][0], y)

        slot = lambda *_: place()  # noqa: E731 — kept to disconnect on close
        vb.sigXRangeChanged.connect(slot)
        self._pins.setdefault(id(vb), []).append(slot)
        place()

    # -- hover -----------------------------------------------------------------------------
    def hover_at(self, scene_pos: QPointF) -> str:
        """Show the nearest point's date/value/band under the mouse; returns the text."""
        for s in self.series:
            plot = self.plots[s.inst.id]
            vb = plot.vb
            if not vb.sceneBoundingRect().contains(scene_pos):
                continue
            best, best_d = None, HOVER_PX
            for i, (x, y) in enumerate(zip(s.xs, s.ys, strict=True)):
                p = vb.mapViewToScene(QPointF(x, y))
                d = ((p.x() - scene_pos.x()) ** 2 + (p.y() - scene_pos.y()) ** 2) ** 0.5
                if d <= best_d:
                    best, best_d = i, d
            if best is not None:
                text = s.hover_text(best)
                self._hide_tips()
                tip = self.tips[s.inst.id]
                tip.setText(text)
                # open towards the inside of the plot so the text is never clipped
                x0, x1 = vb.viewRange()[0]
                tip.setAnchor((1 if s.xs[best] > (x0 + x1) / 2 else 0, 1))
                tip.setPos(s.xs[best], s.ys[best])
                tip.show()
                self.hovered = text
                return text
        self._hide_tips()
        self.hovered = ""
        return ""

    def _hide_tips(self) -> None:
        for tip in self.tips.values():
            tip.hide()

    def point_scene_pos(self, instrument_id: str, i: int) -> QPointF:
        """Scene position of a point (for tests and keyboard focus)."""
        s = next(x for x in self.series if x.inst.id == instrument_id)
        return self.plots[instrument_id].vb.mapViewToScene(QPointF(s.xs[i], s.ys[i]))

    def shown_at(self) -> datetime | None:
        """Time of the newest point shown (None if empty)."""
        xs = [x for s in self.series for x in s.xs]
        return datetime.fromtimestamp(max(xs)).astimezone() if xs else None
