"""Actigraphy panel: import, double-plotted actogram with sleep shaded, nightly sleep table and
trends, circadian metrics, the research depression screen with its cross-validated metrics, and
the PAT embedding status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QPushButton,
)

from app.services import actigraphy_view as av
from ui.panels.actigraphy_import import ImportDialog
from ui.panels.actogram import ActogramChart
from ui.panels.charts import fixed_plot, polyline
from ui.panels.common import (
    Frame,
    chart_colours,
    fill,
    label,
    muted,
    notice,
    scroll_body,
    section,
    table,
    user_message,
    value_label,
)
from ui.workspace.panel import PatientPanel

METRIC_HELP = {
    "IS": ("Interdaily stability", "0–1, higher = more regular day-to-day rhythm"),
    "IV": ("Intradaily variability", "0–2, higher = more fragmented rhythm"),
    "RA": ("Relative amplitude", "0–1, (M10 − L5) / (M10 + L5)"),
    "L5": ("L5 — least active 5 h", "mean activity; onset"),
    "M10": ("M10 — most active 10 h", "mean activity; onset"),
}


def _clock(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%H:%M") if iso else "—"


def _num(v: float | None, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


class ActigraphyPanel(PatientPanel):
    """Mount in the shell's Actigraphy tab: ``ActigraphyPanel(ctx, principal, pid,
    tasks=ws.tasks)``; ``set_patient(pid)`` on patient change; reload on a
    PatientDataUpdated with record_type 'actigraphy'."""

    loaded = Signal()
    record_types = frozenset({"actigraphy"})

    def _build(self) -> None:
        self.view: av.ActigraphyView | None = None
        self.dialog: ImportDialog | None = None

        lay = scroll_body(self)

        top = QHBoxLayout()
        top.addWidget(section("Actigraphy"))
        self.summary = label("", "muted")
        self.summary.setAccessibleName("recording summary")
        top.addWidget(self.summary, 1)
        self.import_button = QPushButton("&Import recording…")
        self.import_button.setAccessibleName("import actigraphy recording")
        self.import_button.clicked.connect(self.open_import)
        top.addWidget(self.import_button)
        lay.addLayout(top)
        self.pat = notice(av.PAT_UNAVAILABLE, "PAT embedding status", "info")
        lay.addWidget(self.pat)
        self.empty = muted(
            "No actigraphy recording for this patient yet. Use “Import "
            "recording…” to add a minute-level activity file."
        )
        lay.addWidget(self.empty)

        lay.addWidget(section("Double-plotted actogram"))
        lay.addWidget(
            muted(
                "Each row shows 48 hours: the day and the next day. Dark bars are "
                "activity counts; blue shading marks scored sleep (Cole-Kripke, "
                "sleep onset to final wake); grey marks non-wear."
            )
        )
        self.actogram = ActogramChart()
        lay.addWidget(self.actogram)

        lay.addWidget(section("Nightly sleep"))
        self.nightly = table(
            (
                "Night of",
                "Sleep onset",
                "Final wake",
                "TST",
                "Efficiency",
                "SOL",
                "WASO",
                "Midpoint",
            ),
            "nightly sleep metrics",
        )
        self.nightly.setMinimumHeight(220)
        lay.addWidget(self.nightly)
        trends = QHBoxLayout()
        self.tst_plot = self._trend("Total sleep time (h)")
        self.se_plot = self._trend("Sleep efficiency (%)")
        trends.addWidget(self.tst_plot)
        trends.addWidget(self.se_plot)
        lay.addLayout(trends)

        lay.addWidget(section("Circadian rhythm (non-parametric, whole recording)"))
        self.circ_grid = QGridLayout()
        self.circ_cards: dict[str, tuple[Any, Any]] = {}
        for i, key in enumerate(METRIC_HELP):
            f = Frame()
            title, help_text = METRIC_HELP[key]
            f.body.addWidget(label(title.upper(), "cardTitle"))
            value = value_label("—")
            value.setAccessibleName(key)
            detail = label(help_text, "muted", wrap=True)
            f.body.addWidget(value)
            f.body.addWidget(detail)
            self.circ_cards[key] = (value, detail)
            self.circ_grid.addWidget(f, 0, i)
        lay.addLayout(self.circ_grid)
        self.weekly = table(
            ("Week from", "Days", "IS", "IV", "RA", "L5", "M10"), "weekly circadian metrics"
        )
        self.weekly.setMaximumHeight(170)
        lay.addWidget(self.weekly)

        lay.addWidget(section("Depression screen (research)"))
        self.research = notice(
            f"Research model — {av.RESEARCH_LABEL}. Not a diagnosis.", "research data label"
        )
        lay.addWidget(self.research)
        self.screen_card = Frame()
        self.screen_value = value_label("—")
        self.screen_value.setAccessibleName("screen result")
        self.screen_detail = muted("")
        self.screen_card.body.addWidget(self.screen_value)
        self.screen_card.body.addWidget(self.screen_detail)
        lay.addWidget(self.screen_card)
        self.cv = table(("Metric (nested CV)", "Value", "95% CI"), "screen cross-validated metrics")
        self.cv.setMaximumHeight(220)
        lay.addWidget(self.cv)
        self.baselines = muted(
            "Published baselines on the same data: F1 0.73 / MCC 0.44 "
            "(Garcia-Ceja 2018); accuracy 0.84 / MCC 0.65 (Jakobsen 2020)."
        )
        lay.addWidget(self.baselines)
        lay.addStretch(1)
        self._render()

    def _trend(self, title: str) -> pg.PlotWidget:
        p = fixed_plot(pg.PlotWidget(), title)
        bg, fg = chart_colours(self)
        p.setBackground(bg)
        p.setTitle(title, color=fg.name(), size="10pt")
        p.setLabel("bottom", "night")
        p.getPlotItem().showGrid(x=False, y=True, alpha=0.2)
        p.setMinimumHeight(200)
        return p

    # -- data --------------------------------------------------------------------------------
    def clear(self) -> None:
        """Drop PHI from the widgets (lock, sign-out, patient switch)."""
        super().clear()
        self.view = None
        self._render()

    def load(self) -> None:
        self.summary.setText("Loading…")
        self.fetch(
            av.actigraphy_view,
            "Loading actigraphy",
            self._loaded,
            on_error=lambda e: self.summary.setText(user_message(e)),
        )

    def _loaded(self, view: av.ActigraphyView | None) -> None:
        self.view = view
        self._render()
        self.loaded.emit()

    def open_import(self) -> None:
        """Open the import dialog (non-blocking)."""
        if not self.patient_id:
            return
        self.dialog = ImportDialog(self.ctx, self.user, self.patient, self.tasks, self)
        self.dialog.imported.connect(lambda _o: self.load())
        self.dialog.finished.connect(self._dialog_closed)
        self.dialog.open()

    def _dialog_closed(self) -> None:
        if self.dialog is not None:
            self.dialog.deleteLater()
        self.dialog = None

    # -- rendering ---------------------------------------------------------------------------
    def _render(self) -> None:
        v = self.view
        for w in (
            self.actogram,
            self.nightly,
            self.tst_plot,
            self.se_plot,
            self.weekly,
            self.screen_card,
            self.cv,
            self.research,
            self.baselines,
        ):
            w.setVisible(v is not None)
        self.empty.setVisible(v is None)
        if v is None:
            self.summary.setText("")
            self.actogram.set_actogram(None)
            self.nightly.setRowCount(0)
            self.weekly.setRowCount(0)
            self.cv.setRowCount(0)
            self.tst_plot.clear()
            self.se_plot.clear()
            for value, _ in self.circ_cards.values():
                value.setText("—")
            return
        days = v.minutes / 1440
        self.summary.setText(
            f"  Recording from {v.start:%Y-%m-%d %H:%M}, {days:.1f} days, {len(v.nightly)} nights"
        )
        self.pat.setText(v.pat_status)
        self.actogram.set_actogram(v.actogram)
        self._render_nightly(v.nightly)
        self._render_circadian(v.circadian)
        self._render_screen(v.screen)

    def _render_nightly(self, nights: list[dict[str, Any]]) -> None:
        fill(
            self.nightly,
            [
                (
                    n["night_of"],
                    _clock(n.get("sleep_onset")),
                    _clock(n.get("final_wake")),
                    "—" if n.get("tst_min") is None else f"{n['tst_min'] / 60:.1f} h",
                    _num(
                        None if n.get("sleep_efficiency") is None else 100 * n["sleep_efficiency"],
                        ".0f",
                    )
                    + " %",
                    _num(n.get("sol_min"), ".0f") + " min",
                    _num(n.get("waso_min"), ".0f") + " min",
                    _clock(n.get("midpoint")),
                )
                for n in nights
            ],
        )
        x = np.arange(1, len(nights) + 1, dtype=float)
        tst = np.array([np.nan if n.get("tst_min") is None else n["tst_min"] / 60 for n in nights])
        se = np.array(
            [
                np.nan if n.get("sleep_efficiency") is None else 100 * n["sleep_efficiency"]
                for n in nights
            ]
        )
        for plot, y, colour in ((self.tst_plot, tst, "#1f6fb2"), (self.se_plot, se, "#2e7d32")):
            plot.clear()
            if len(y):
                plot.addItem(polyline(x, y, pg.mkPen(colour, width=2)))
                if np.isfinite(y).any():
                    mean = float(np.nanmean(y))
                    plot.addItem(
                        pg.InfiniteLine(
                            pos=mean,
                            angle=0,
                            pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                        )
                    )

    def _render_circadian(self, circ: dict[str, Any]) -> None:
        b = circ.get("binarized") or {}
        raw = circ.get("raw") or {}
        for key, (value, detail) in self.circ_cards.items():
            x = b.get(key)
            if key in ("L5", "M10"):
                r = raw.get(key)
                value.setText("—" if r is None else f"{r:.0f}")
                detail.setText(
                    f"counts/min (raw); onset {str(raw.get(key + '_onset', '—'))[:5]}"
                    f" · binarised {_num(x, '.2f')}"
                )
            else:
                value.setText(_num(x, ".2f"))
                detail.setText(f"{METRIC_HELP[key][1]} · raw {_num(raw.get(key), '.2f')}")
        fill(
            self.weekly,
            [
                (
                    f"day {w['first_day'] + 1}",
                    str(w["days"]),
                    _num(w.get("IS"), ".2f"),
                    _num(w.get("IV"), ".2f"),
                    _num(w.get("RA"), ".2f"),
                    _num(w.get("L5"), ".2f"),
                    _num(w.get("M10"), ".2f"),
                )
                for w in circ.get("weekly", [])
            ],
        )

    def _render_screen(self, s: dict[str, Any]) -> None:
        if not s:
            self.screen_value.setText("—")
            self.cv.setRowCount(0)
            return
        p, thr = float(s["probability"]), float(s.get("threshold", 0.5))
        verdict = (
            "activity pattern resembles the depressed group"
            if s.get("positive")
            else "activity pattern resembles the control group"
        )
        self.screen_value.setText(f"{p:.0%} — {verdict}")
        self.screen_detail.setText(
            f"Threshold {thr:.0%}. Model {s.get('model_name', '?')} v"
            f"{s.get('model_version', '?')}; trained on {s.get('provenance', '?')}. "
            "A research screen of the activity pattern: model estimate, not a measurement and "
            "not a diagnosis."
        )
        cv, ci = s.get("cv_metrics", {}), s.get("cv_ci95", {})
        order = ("AUC", "F1", "MCC", "sensitivity", "specificity", "accuracy")
        fill(
            self.cv,
            [
                (k, f"{cv[k]:.2f}", f"{ci[k][0]:.2f}–{ci[k][1]:.2f}" if k in ci else "—")
                for k in order
                if k in cv
            ],
        )
