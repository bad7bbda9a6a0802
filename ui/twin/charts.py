"""Small pyqtgraph charts of the twin: a trajectory with its 90 % band and a date marker.

Why: the side panel and the what-if view both show "a value over time with its uncertainty";
one chart class keeps their look identical (band = translucent fill, estimate = line, the
date on screen = a vertical marker). Dates are plotted as day offsets with date tick labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

ACCENT = QColor(37, 99, 235)
PROJECTION = QColor(124, 58, 237)


class _DateAxis(pg.AxisItem):
    def __init__(self, origin: date) -> None:
        super().__init__(orientation="bottom")
        self.origin = origin

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:  # noqa: N802
        return [(self.origin + timedelta(days=round(v))).strftime("%d %b") for v in values]


class TrajectoryChart(pg.PlotWidget):
    """Estimate line, 90 % band, optional second series (projection) and a date marker."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        self.axis = _DateAxis(date.today())
        super().__init__(parent=parent, axisItems={"bottom": self.axis})
        self.setAccessibleName(title or "Trajectory chart")
        self.setMinimumHeight(150)
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.showGrid(x=False, y=True, alpha=0.15)
        if title:
            self.setTitle(title, size="9pt")
        self.apply_palette()
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(QColor(100, 100, 100), width=1))
        self.zero = pg.InfiniteLine(
            pos=0.0,
            angle=0,
            pen=pg.mkPen(QColor(150, 150, 150), width=1, style=Qt.PenStyle.DashLine),
        )
        self.addItem(self.zero)
        self.addItem(self.marker)
        self._items: list[pg.GraphicsObject] = []

    def apply_palette(self) -> None:
        """Follow the widget palette (light or dark theme)."""
        pal = self.palette()
        self.setBackground(pal.color(QPalette.ColorRole.Base))
        fg = pal.color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            ax = self.getAxis(name)
            ax.setPen(pg.mkPen(fg))
            ax.setTextPen(pg.mkPen(fg))

    def clear_series(self) -> None:
        """Remove all series (keeps the date marker and zero line)."""
        for item in self._items:
            self.removeItem(item)
        self._items = []

    def add_series(
        self,
        days: Sequence[date],
        mean: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
        color: QColor = ACCENT,
        name: str = "",
        dashed: bool = False,
    ) -> None:
        """Plot one estimate with its band; the first series sets the date origin."""
        if not self._items:
            self.axis.origin = days[0]
        x = np.array([(d - self.axis.origin).days for d in days], dtype=float)
        fill = QColor(color)
        fill.setAlpha(50)
        lo = pg.PlotDataItem(x, low, pen=pg.mkPen(None))
        hi = pg.PlotDataItem(x, high, pen=pg.mkPen(None))
        band = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(fill))
        pen = pg.mkPen(
            color, width=2, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        )
        line = pg.PlotDataItem(x, mean, pen=pen, name=name)
        for item in (lo, hi, band, line):
            self.addItem(item)
            self._items.append(item)

    def set_marker(self, day: date) -> None:
        """Move the vertical marker to the date on screen."""
        self.marker.setValue((day - self.axis.origin).days)
