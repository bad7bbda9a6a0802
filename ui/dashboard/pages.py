"""The clinical pages of the clinic dashboard: each shows one part of a `Dashboard` (computed by
`app.services.clinic_dashboard`) as a pyqtgraph chart beside a table, and asks the window for a
drill-down when a row is activated. Pages never read the store: `show(dash)` only.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QTableWidget, QVBoxLayout, QWidget

from app.services.clinic_dashboard import INSTRUMENT_TITLES, Count, Dashboard
from engines.xgb.bands import BANDS
from ui.panels.charts import fixed_plot
from ui.panels.common import BAND_COLOURS, chart_colours, fill, label, muted, table

BAR = "#1f6fb2"
BAR2 = "#c98a00"


def cell(v: Count, k: int) -> str:
    """A count as shown: the number, or that it is hidden (small-cell suppression)."""
    return f"< {k}" if v is None else f"{v:,}"


def hours(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} h"


def share(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


class DashboardPage(QWidget):
    """A chart over a table; ``drill(key)`` asks for the patients behind a row."""

    drill = Signal(str)
    title = ""
    headers: tuple[str, ...] = ()
    explanation = ""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.title)
        lay = self.lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.addWidget(muted(self.explanation))
        split = self.split = QSplitter(Qt.Orientation.Vertical)
        self.plot = fixed_plot(pg.PlotWidget(), f"{self.title} chart")
        self.plot.setMinimumHeight(180)
        self.plot.showGrid(x=False, y=True, alpha=0.2)
        split.addWidget(self.plot)
        self.table: QTableWidget = table(self.headers, f"{self.title} table")
        self.table.cellActivated.connect(self._activated)
        self.table.cellDoubleClicked.connect(self._activated)
        split.addWidget(self.table)
        split.setSizes([260, 300])
        lay.addWidget(split, 1)
        self.note = label("", "muted", wrap=True)
        lay.addWidget(self.note)
        self.drillable = False
        self.k = 5

    def _activated(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        key = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if self.drillable and key:
            self.drill.emit(str(key))

    def _style(self) -> None:
        bg, fg = chart_colours(self)
        self.plot.setBackground(bg)
        for name in ("left", "bottom"):
            ax = self.plot.getAxis(name)
            ax.setPen(pg.mkPen(fg))
            ax.setTextPen(pg.mkPen(fg))

    def _bars(self, names: list[str], series: list[tuple[list[float], str]]) -> None:
        """Grouped bars, one group per name (a hidden value draws no bar)."""
        self.plot.clear()
        self._style()
        n = max(len(series), 1)
        width = 0.8 / n
        for j, (values, colour) in enumerate(series):
            xs = [i - 0.4 + width * (j + 0.5) for i in range(len(values))]
            self.plot.addItem(
                pg.BarGraphItem(
                    x=xs, height=values, width=width * 0.9, brush=pg.mkBrush(colour),
                    pen=pg.mkPen(colour),
                )
            )  # fmt: skip
        self.plot.getAxis("bottom").setTicks([list(enumerate(names))])

    def show_dashboard(self, dash: Dashboard) -> None:
        self.drillable = dash.scope.drillable
        self.k = dash.scope.small_cell_min
        self.table.setEnabled(True)
        self.fill(dash)

    def fill(self, dash: Dashboard) -> None:  # override
        raise NotImplementedError


def _v(x: Count) -> float:
    """A bar's height: a hidden count draws no bar."""
    return 0.0 if x is None else float(x)


class CompletionPage(DashboardPage):
    title = "Assessment completion"
    headers = ("Instrument", "Clinician", "Due", "Done", "Completion", "Patients overdue")
    explanation = (
        "Due (amber) vs done (blue) windows per instrument and clinician (a patient on several "
        "care teams counts for each). Double-click a row for the patients who missed a window, "
        "an overdue patient to open the record."
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.overdue = table(
            ("Patient", "MRN", "Instrument", "Last done", "Days overdue"), "overdue patients"
        )
        self.overdue.cellDoubleClicked.connect(self._open_overdue)
        self.overdue.cellActivated.connect(self._open_overdue)
        box = QWidget()
        inner = QVBoxLayout(box)
        inner.setContentsMargins(0, 4, 0, 0)
        self.overdue_title = label("Overdue at the end of the period", "h3")
        inner.addWidget(self.overdue_title)
        inner.addWidget(self.overdue, 1)
        self.split.addWidget(box)
        self.split.setSizes([220, 200, 220])
        self.open_patient_id = ""

    open_patient = Signal(str)

    def _open_overdue(self, row: int, _col: int) -> None:
        item = self.overdue.item(row, 0)
        if item is not None and item.data(Qt.ItemDataRole.UserRole):
            self.open_patient.emit(str(item.data(Qt.ItemDataRole.UserRole)))

    def fill(self, dash: Dashboard) -> None:
        k = self.k
        rows = [
            r for r in dash.completion if dash.scope.kind != "research" or r.clinician_id is None
        ]
        fill(
            self.table,
            [
                (
                    INSTRUMENT_TITLES.get(r.instrument, r.instrument),
                    r.clinician,
                    cell(r.due, k),
                    cell(r.done, k),
                    share(r.rate),
                    cell(r.overdue_patients, k),
                )
                for r in rows
            ],  # fmt: skip
            [
                f"completion:{r.instrument}" + (f":{r.clinician_id}" if r.clinician_id else "")
                for r in rows
            ],
        )
        totals = [r for r in rows if r.clinician_id is None]
        self._bars(
            [INSTRUMENT_TITLES.get(r.instrument, r.instrument) for r in totals],
            [([_v(r.due) for r in totals], BAR2), ([_v(r.done) for r in totals], BAR)],
        )
        self.plot.setLabel("left", "windows")
        self.overdue.setVisible(dash.scope.kind != "research")
        self.overdue_title.setVisible(dash.scope.kind != "research")
        fill(
            self.overdue,
            [
                (
                    o.display_name,
                    o.mrn,
                    INSTRUMENT_TITLES.get(o.instrument, o.instrument),
                    o.last_done.astimezone().strftime("%Y-%m-%d") if o.last_done else "never",
                    "never done" if o.days_overdue is None else str(o.days_overdue),
                )
                for o in dash.overdue
            ],  # fmt: skip
            [o.patient_id for o in dash.overdue],
        )
        self.note.setText(
            f"{len(dash.overdue)} overdue (patient, instrument) pairs."
            if dash.scope.kind != "research"
            else "De-identified: no patient is listed."
        )


class ResponsePage(DashboardPage):
    title = "Alert response"
    headers = ("Severity", "Alerts", "Acknowledged", "Resolved", "Ack median", "Ack p90",
               "Resolve median", "Resolve p90", "Overdue open")  # fmt: skip
    explanation = (
        "Clinical alerts triggered in the period: median hours from triggering to "
        "acknowledgement (blue) and to resolution (amber). Overdue open: not acknowledged "
        "within the policy's target for the severity. Double-click a row for the patients "
        "with an overdue alert."
    )

    def fill(self, dash: Dashboard) -> None:
        k = self.k
        fill(
            self.table,
            [
                (
                    r.severity,
                    cell(r.alerts, k),
                    cell(r.acknowledged, k),
                    cell(r.resolved, k),
                    hours(r.ack_median_h),
                    hours(r.ack_p90_h),
                    hours(r.resolve_median_h),
                    hours(r.resolve_p90_h),
                    cell(r.overdue_open, k),
                )
                for r in dash.response
            ],  # fmt: skip
            [f"alerts:{r.severity}" for r in dash.response],
        )
        self._bars(
            [r.severity for r in dash.response],
            [
                ([r.ack_median_h or 0.0 for r in dash.response], BAR),
                ([r.resolve_median_h or 0.0 for r in dash.response], BAR2),
            ],
        )
        self.plot.setLabel("left", "median hours")


class RiskPage(DashboardPage):
    title = "Caseload risk"
    headers = ("As of", *BANDS, "no prediction")
    explanation = (
        "Patients by the band of their most recent stored prediction at the end of each month "
        "of the period (bars from very low, green, to very high, red). Double-click the last "
        "row for the patients in the high band at the period's end."
    )

    def fill(self, dash: Dashboard) -> None:
        k = self.k
        fill(
            self.table,
            [(p.as_of.isoformat(), *(cell(n, k) for _b, n in p.counts)) for p in dash.risk],
            ["risk:high" if i == len(dash.risk) - 1 else "" for i in range(len(dash.risk))],
        )
        self.plot.clear()
        self._style()
        base = [0.0] * len(dash.risk)
        for band in BANDS:
            heights = [float(dict(p.counts)[band] or 0) for p in dash.risk]
            self.plot.addItem(
                pg.BarGraphItem(
                    x=list(range(len(dash.risk))), y0=list(base), height=heights, width=0.7,
                    brush=pg.mkBrush(BAND_COLOURS[band]), pen=pg.mkPen(BAND_COLOURS[band]),
                )
            )  # fmt: skip
            base = [a + h for a, h in zip(base, heights, strict=True)]
        ticks = [(i, p.as_of.strftime("%b %y")) for i, p in enumerate(dash.risk)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setLabel("left", "patients")
        self.note.setText(f"Target: {dash.filter.target}. Hidden cells draw no bar.")


class FindingsPage(DashboardPage):
    title = "Note findings"
    headers = ("Model", "Findings", "Accepted", "Rejected", "Pending", "Acceptance")
    explanation = (
        "Findings of note analyses made in the period as clinicians reviewed them, per model: "
        "accepted (blue) and rejected (amber)."
    )

    def fill(self, dash: Dashboard) -> None:
        k = self.k
        fill(
            self.table,
            [
                (
                    f.model,
                    cell(f.findings, k),
                    cell(f.accepted, k),
                    cell(f.rejected, k),
                    cell(f.pending, k),
                    share(f.acceptance),
                )
                for f in dash.findings
            ],  # fmt: skip
        )
        self._bars(
            [f.model for f in dash.findings],
            [([_v(f.accepted) for f in dash.findings], BAR),
             ([_v(f.rejected) for f in dash.findings], BAR2)],
        )  # fmt: skip
        self.plot.setLabel("left", "findings")


class ActigraphyPage(DashboardPage):
    title = "Actigraphy coverage"
    headers = ("Patients with recordings", "Days recorded", "Days with wear", "Coverage")
    explanation = (
        "Days in the period covered by an analysed recording, and those worn long enough to "
        "count (policy: minutes of wear per day). The chart: patients by share of days worn. "
        "Double-click the row for the patients."
    )

    def fill(self, dash: Dashboard) -> None:
        k, w = self.k, dash.wear
        fill(
            self.table,
            [
                (
                    cell(w.patients, k),
                    cell(w.days_recorded, k),
                    cell(w.wear_days, k),
                    share(w.coverage),
                )
            ],  # fmt: skip
            ["wear"],
        )
        self._bars([b for b, _ in w.histogram], [([_v(n) for _b, n in w.histogram], BAR)])
        self.plot.setLabel("left", "patients")


PAGES: tuple[type[DashboardPage], ...] = (
    CompletionPage,
    ResponsePage,
    RiskPage,
    FindingsPage,
    ActigraphyPage,
)
