"""pyqtgraph charts for the panels: signed contribution bars and a reliability diagram."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QFont, QFontMetrics, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QWidget

from ui.panels.common import LOWERS, RAISES, chart_colours

TOP_K = 8
MAX_LABEL_WIDTH = 396  # px of tick label text beside the contribution bars
LABEL_MARGIN = 24  # px the axis needs beyond its widest label (tick and offset)
# pyqtgraph's exit clean-up walks every scene at interpreter exit; with PySide6 it can
# free Qt objects twice during finalisation. Widgets here are closed by their owners.
pg.setConfigOptions(exitCleanup=False, antialias=True)


def plain_words(item: dict[str, Any]) -> str:
    """'latest PHQ-9: 18 points (0-27)' or 'sleep efficiency: not recorded'."""
    name = str(item.get("label") or item.get("feature", "?"))
    value = item.get("value")
    if value is None:
        return f"{name}: not recorded"
    unit = str(item.get("unit") or "").split(" (")[0]
    if unit in ("yes/no", "flag"):
        return f"{name}: {'yes' if value else 'no'}"
    if unit.startswith("proportion"):
        return f"{name}: {100 * value:.0f} %"
    unit = {"count": "", "0-1": "", "percent": "%", "hours per night": "h/night"}.get(unit, unit)
    if abs(value - round(value)) < 1e-9 or abs(value) >= 10:
        shown = f"{value:.0f}"
    else:
        shown = f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"
    return f"{name}: {shown} {unit}".rstrip()


def top_contributions(items: Sequence[dict[str, Any]], k: int = TOP_K) -> list[dict[str, Any]]:
    """The k largest by absolute size, largest first (stable for ties)."""
    order = sorted(range(len(items)), key=lambda i: -abs(float(items[i]["contribution"])))
    return [items[i] for i in order[:k]]


def polyline(
    xs: Sequence[float] | np.ndarray,
    ys: Sequence[float] | np.ndarray,
    pen: QPen,
    brush: QBrush | None = None,
    fill_level: float | None = None,
) -> QGraphicsPathItem:
    """A line (or a filled area down to ``fill_level``) as a plain Qt path item; NaN breaks it.

    pyqtgraph's array-to-path fast path triggers a refcount error at interpreter exit with
    PySide6 6.12 ("bool_dealloc"), so curves are built with the Qt API directly.
    """
    path = QPainterPath()
    run: list[tuple[float, float]] = []

    def flush_run() -> None:
        if not run:
            return
        if fill_level is not None:
            path.moveTo(run[0][0], fill_level)
            for x, y in run:
                path.lineTo(x, y)
            path.lineTo(run[-1][0], fill_level)
            path.closeSubpath()
        else:
            path.moveTo(*run[0])
            for x, y in run[1:]:
                path.lineTo(x, y)
        run.clear()

    for x, y in zip(xs, ys, strict=True):
        if np.isfinite(y):
            run.append((float(x), float(y)))
        else:
            flush_run()
    flush_run()
    item = QGraphicsPathItem(path)
    pen = QPen(pen)
    pen.setCosmetic(True)
    item.setPen(pen)
    if brush is not None:
        item.setBrush(brush)
    return item


def markers(xs: Sequence[float], ys: Sequence[float], colour: str, size: float) -> pg.BarGraphItem:
    """Square point markers. (pyqtgraph's ScatterPlotItem symbols crash PySide6 6.12 at
    interpreter exit through a refcount error, so points are drawn as tiny bars.)"""
    return pg.BarGraphItem(
        x=list(xs),
        y=list(ys),
        width=size,
        height=size,
        brush=pg.mkBrush(colour),
        pen=pg.mkPen(colour),
    )


def _style(plot: pg.PlotWidget, widget: QWidget) -> None:
    bg, fg = chart_colours(widget)
    plot.setBackground(bg)
    for name in ("left", "bottom"):
        ax = plot.getAxis(name)
        ax.setPen(pg.mkPen(fg))
        ax.setTextPen(pg.mkPen(fg))


def fixed_plot(plot: pg.PlotWidget, name: str) -> pg.PlotWidget:
    """A plot the user reads but does not pan, zoom or open a menu on."""
    plot.setAccessibleName(name)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    return plot


class ContributionChart(pg.PlotWidget):
    """Horizontal signed bars: red raises the predicted probability, blue lowers it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fixed_plot(self, "explanation: top contributions")
        self.setMinimumHeight(240)
        self.getPlotItem().showGrid(x=True, y=False, alpha=0.2)
        self.setLabel("bottom", "← lowers probability      contribution (log-odds)      raises →")
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self._items: list[dict[str, Any]] = []
        self._bar: pg.BarGraphItem | None = None
        self.tick_labels: list[str] = []  # the bar labels as drawn (elided when long)
        _style(self, self)

    def set_contributions(self, items: Sequence[dict[str, Any]], k: int = TOP_K) -> None:
        """Show the top-k contributions (largest at the top) in plain words."""
        self.clear()
        self._items = top_contributions(items, k)
        n = len(self._items)
        if n == 0:
            self._bar = None
            self.tick_labels = []
            return
        vals = np.array([float(c["contribution"]) for c in self._items])
        ys = np.arange(n)[::-1].astype(float)  # first item at the top
        brushes = [pg.mkBrush(RAISES if v > 0 else LOWERS) for v in vals]
        self._bar = pg.BarGraphItem(
            x0=np.minimum(vals, 0.0),
            width=np.abs(vals),
            y=ys,
            height=0.62,
            brushes=brushes,
            pens=[pg.mkPen(None)] * n,
        )
        self.addItem(self._bar)
        self.addItem(pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#7f8a99", width=1)))
        left = self.getAxis("left")
        metrics = QFontMetrics(left.style.get("tickFont") or self.font())
        # pyqtgraph drops a tick label wider than its axis, leaving a bar unnamed: elide long
        # ones in the middle (name start and value stay); the chart's tooltip has them in full
        words = [plain_words(c) for c in self._items]
        self.tick_labels = [
            metrics.elidedText(t, Qt.TextElideMode.ElideMiddle, MAX_LABEL_WIDTH) for t in words
        ]
        left.setTicks([list(zip(map(float, ys), self.tick_labels, strict=True)), []])
        widest = max(metrics.horizontalAdvance(t) for t in self.tick_labels)
        left.setWidth(min(MAX_LABEL_WIDTH, widest) + LABEL_MARGIN)
        lim = float(np.max(np.abs(vals))) * 1.15 or 1.0
        self.setXRange(-lim, lim, padding=0)
        self.setYRange(-0.6, n - 0.4, padding=0)
        self.setToolTip(
            "\n".join(f"{plain_words(c)}  ({c['contribution']:+.2f})" for c in self._items)
        )

    def bars(self) -> list[tuple[str, float]]:
        """(feature, signed length) of the drawn bars, top to bottom (read from the item)."""
        if self._bar is None:
            return []
        o = self._bar.opts
        signed = [(x0 + w) if x0 >= 0 else x0 for x0, w in zip(o["x0"], o["width"], strict=True)]
        ys = list(o["y"])
        order = sorted(range(len(ys)), key=lambda i: -ys[i])
        return [(self._items[i]["feature"], float(signed[i])) for i in order]


class ReliabilityChart(pg.PlotWidget):
    """Observed event rate against mean predicted probability per bin (the card's data)."""

    def __init__(self, card: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("calibration reliability diagram")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMinimumSize(340, 300)
        self.setMaximumSize(520, 400)
        _style(self, self)
        self.setLabel("bottom", "mean predicted probability")
        self.setLabel("left", "observed frequency")
        self.setXRange(0, 1, padding=0.02)
        self.setYRange(0, 1, padding=0.02)
        self.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
        self.addItem(
            polyline([0, 1], [0, 1], pg.mkPen("#9aa6b4", width=1, style=Qt.PenStyle.DashLine))
        )
        cal = card.get("calibration", {})
        self.series: dict[str, list[tuple[float, float]]] = {}
        for key, colour, _name in (
            ("reliability_uncalibrated", "#b0b8c4", "before calibration"),
            ("reliability", "#1f6fb2", f"calibrated ({cal.get('method', 'none')})"),
        ):
            pts = [
                (float(b["mean_predicted"]), float(b["observed"]))
                for b in cal.get(key, [])
                if b.get("n", 0) > 0
            ]
            if not pts:
                continue
            self.series[key] = pts
            xs, ys = zip(*pts, strict=True)
            self.addItem(polyline(xs, ys, pg.mkPen(colour, width=2)))
            self.addItem(markers(xs, ys, colour, 0.018))
            self.addItem(markers(xs, ys, colour, 0.018))
        font = QFont()
        font.setPointSize(8)
        self.getAxis("bottom").setTickFont(font)
        self.getAxis("left").setTickFont(font)
