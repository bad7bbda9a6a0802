"""Double-plotted actogram (pyqtgraph): 48 h per row, day d beside day d+1, activity as filled
bars, scored sleep shaded blue and non-wear shaded grey."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from app.services.actigraphy_view import BIN_MINUTES, Actogram
from ui.panels.charts import fixed_plot, polyline
from ui.panels.common import chart_colours, is_dark

SLEEP_RGBA = (70, 140, 220, 90)
NONWEAR_RGBA = (150, 150, 150, 110)


class ActogramChart(pg.PlotWidget):
    """Draws an :class:`Actogram` read model; ``rows`` and ``sleep_cells`` expose what is drawn."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        fixed_plot(self, "double-plotted actogram")
        self.invertY(True)
        bg, fg = chart_colours(self)
        self.setBackground(bg)
        for ax in ("left", "bottom", "top"):
            self.getAxis(ax).setPen(pg.mkPen(fg))
            self.getAxis(ax).setTextPen(pg.mkPen(fg))
        self.showAxis("top")
        ticks = [(h, f"{h % 24:02d}:00") for h in range(0, 49, 6)]
        self.getAxis("bottom").setTicks([ticks, [(h, "") for h in range(0, 49, 2)]])
        self.getAxis("top").setTicks([ticks, []])
        self.getAxis("left").setWidth(86)
        self.rows = 0
        self.sleep_cells = 0

    def set_actogram(self, gram: Actogram | None) -> None:
        self.clear()
        if gram is None or gram.activity.size == 0:
            self.rows = self.sleep_cells = 0
            return
        n_days, n_bins = gram.activity.shape
        hours = np.arange(n_bins) * BIN_MINUTES / 60.0
        shade = np.zeros((n_bins, n_days, 4), dtype=np.ubyte)
        s = gram.sleep.T >= 0.5
        nw = gram.nonwear.T >= 0.5
        shade[s] = SLEEP_RGBA
        shade[nw] = NONWEAR_RGBA
        self.sleep_cells = int(s.sum())
        img = pg.ImageItem(shade)
        img.setRect(QRectF(0, 0, 48, n_days))
        self.addItem(img)
        act = gram.activity
        finite = act[np.isfinite(act)]
        top = float(np.percentile(finite, 98)) if finite.size else 1.0
        top = top if top > 0 else 1.0
        colour = "#d9e2ec" if is_dark(self) else "#24313f"
        pen, brush = pg.mkPen(colour, width=1), pg.mkBrush(colour)
        for d in range(n_days):
            base = d + 0.96
            y = base - 0.88 * np.clip(act[d] / top, 0, 1)
            ok = np.isfinite(y)
            if not ok.any():
                continue
            y = np.where(ok, y, base)
            self.addItem(polyline(hours, y, pen, brush, fill_level=base))
        for d in range(n_days + 1):
            self.addItem(pg.InfiniteLine(pos=d, angle=0, pen=pg.mkPen((128, 128, 128, 60))))
        self.addItem(pg.InfiniteLine(pos=24, angle=90, pen=pg.mkPen((128, 128, 128, 160))))
        step = max(1, n_days // 20)
        self.getAxis("left").setTicks(
            [[(d + 0.5, gram.day_labels[d]) for d in range(0, n_days, step)], []]
        )
        self.setXRange(0, 48, padding=0)
        self.setYRange(0, n_days, padding=0)
        self.setMinimumHeight(min(900, max(260, 22 * n_days)))
        self.rows = n_days
