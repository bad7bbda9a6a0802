"""What-if mode of the twin view: project the twin under a treatment option for 12 weeks.

Why: a projection must never read as a prediction of this patient's brain. Its controls carry
the projection label and the response model's provenance, the chart shows the recent estimate
then the projection with 90 % bands, and the slider steps projection weeks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.services import twin_view as tv
from app.services import vocabulary
from ui.twin.charts import PROJECTION, TrajectoryChart
from ui.twin.common import PROJECTED_DIMENSION, ViewController, fmt, projection_series

if TYPE_CHECKING:
    from ui.twin.view import TwinView
    from viz.protocol import SingleScene

START_WEEK = 8


class WhatIfController(ViewController):
    """The what-if bar (option, run button, summary, label), its chart and the result."""

    def __init__(self, view: TwinView) -> None:
        super().__init__(view)
        self.result: tv.WhatIf | None = None
        self.step = 0
        self.bar = QWidget()
        wb = QVBoxLayout(self.bar)
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
        self.project_button.clicked.connect(lambda: view.run_whatif(self.option.currentData()))
        row.addWidget(self.project_button)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        row.addWidget(self.summary, 1)
        wb.addLayout(row)
        self.label = QLabel(tv.WHATIF_LABEL)
        self.label.setObjectName("whatifLabel")
        self.label.setWordWrap(True)
        wb.addWidget(self.label)
        self.chart = TrajectoryChart(
            f"{vocabulary.DIMENSION_LABELS[PROJECTED_DIMENSION]}: recent estimate and projection "
            "(90 % band)"
        )
        self.chart.setMaximumHeight(200)

    def clear(self) -> None:
        """Forget the projection (patient closed)."""
        self.result = None
        self.chart.clear_series()
        self.summary.setText("")

    def slider_range(self) -> tuple[int, int, str]:
        """(maximum, position, label) of the slider in what-if mode."""
        if self.result is None:
            return 0, self.step, "Run a projection"
        return len(self.result.projection.days) - 1, self.step, f"Week {self.step}"

    def run(self, option: str) -> None:
        """Project the twin under ``option`` off the GUI thread (the view is in what-if mode)."""
        view = self.view
        t = view.timeline
        if t is None:
            return
        idx = self.option.findData(option)
        if idx >= 0:
            self.option.setCurrentIndex(idx)
        self.project_button.setEnabled(False)
        self.summary.setText("Projecting\u2026")
        view.run_service(
            tv.whatif,
            t,
            option,
            label="What-if projection",
            on_done=self._ready,
            on_error=self._failed,
        )

    def _failed(self, exc: BaseException) -> None:
        self.project_button.setEnabled(True)
        self.view.failed(exc)

    def _ready(self, result: tv.WhatIf) -> None:
        view = self.view
        self.project_button.setEnabled(True)
        self.result = result
        t = view.timeline
        if t is None:  # the patient was cleared while the projection ran
            return
        proj = result.projection
        peak = float(np.nanmax(np.abs(proj.region_mean))) if proj.region_mean.size else 0.0
        view.lim = max(t.color_limit(), float(np.ceil(peak * 20) / 20))
        view.reset_colormap()
        self.label.setText(result.label)
        self.summary.setText(
            f"{result.option_label}: response probability {proj.p:.0%} "
            f"(interval {proj.p_low:.0%}\u2013{proj.p_high:.0%}) from {result.model_version}"
            + (" \u2014 trained on synthetic data, demonstration only" if result.synthetic else "")
        )
        # chart: the last 8 weeks of the estimate, then the projection
        estimate, projection = projection_series(t, result)
        self.chart.clear_series()
        self.chart.add_series(*estimate, name="estimate")
        self.chart.add_series(*projection, color=PROJECTION, dashed=True)
        steps = len(proj.days) - 1
        self.step = min(START_WEEK, steps)
        view.playback.set_range(steps, self.step, self._week_label(result))
        self.chart.set_marker(proj.days[self.step])
        view.flush()
        view.whatifReady.emit(result.option)

    def _week_label(self, result: tv.WhatIf) -> str:
        return f"Week {self.step}  \u00b7  {fmt(result.projection.days[self.step])}"

    def step_to(self, step: int) -> None:
        """Show projection week ``step`` (the slider moved)."""
        if self.result is None:
            return
        self.step = step
        self.view.playback.date_label.setText(self._week_label(self.result))
        self.chart.set_marker(self.result.projection.days[step])
        self.view.request_frame()

    def draw(self, scene: SingleScene, t: tv.TwinTimeline) -> None:
        """Today's estimate before a projection, then the projected week on screen."""
        if self.result is None:
            scene.set_region_values(t.frame(len(t.dates) - 1))
            scene.set_caption(f"{fmt(t.dates[-1])}   model estimate (today)")
            return
        day = self.result.projection.days[self.step]
        scene.set_region_values(self.result.regions_at(self.step))
        scene.set_caption(
            f"Projected week {self.step}  ({fmt(day)})   illustrative, not a prediction"
        )
