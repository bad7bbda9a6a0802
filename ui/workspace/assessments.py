"""Assessments tab: history table, trend charts with severity bands, administering an
instrument."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.services import overview
from app.services.assessments import AssessmentRow
from ui.widgets import fill_table, table_widget
from ui.workspace.panel import PatientPanel, padded_layout

if TYPE_CHECKING:
    from ui.assessments.trend import TrendChart


class PerPatient(QWidget):
    """Holds a widget that is built for one patient and rebuilt when the patient changes;
    ``reload`` says whether the same patient's widget reloads (trends) or keeps its state
    (an instrument half filled in)."""

    def __init__(
        self,
        build: Callable[[str], QWidget],
        reload: Callable[[QWidget], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.build, self.reload = build, reload
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.widget: QWidget | None = None
        self.patient_id: str | None = None

    def set_patient(self, patient_id: str | None) -> None:
        if patient_id == self.patient_id and self.widget is not None:
            if self.reload is not None:
                self.reload(self.widget)
            return
        self.clear()
        self.patient_id = patient_id
        if patient_id:
            self.widget = self.build(patient_id)
            self.lay.addWidget(self.widget)
            self.widget.show()

    def clear(self) -> None:
        if self.widget is not None:
            self.widget.close()
            self.widget.deleteLater()
            self.widget = None
        self.patient_id = None


class AssessmentsTab(PatientPanel):
    record_types = frozenset({"assessment"})

    def _build(self) -> None:
        lay = padded_layout(self)
        self.table = table_widget(
            ("Date", "Instrument", "Total", "Severity band", "Critical item", "Mode"),
            "Assessments",
        )
        self.sub = QTabWidget()
        self.sub.setAccessibleName("Assessment views")
        self.trend_chart: TrendChart | None = None
        self.trends = PerPatient(self._build_trends, reload=self._reload_trends)
        self.administer = PerPatient(self._build_administer)
        self.sub.addTab(self.table, "&History")
        self.sub.addTab(self.trends, "T&rends")
        self.sub.addTab(self.administer, "Ad&minister")
        lay.addWidget(self.sub)

    def _build_trends(self, pid: str) -> QWidget:
        from ui.assessments.trend import TrendChart

        self.trend_chart = TrendChart(self.ctx, self.user, pid, tasks=self.tasks)
        return self.trend_chart

    def _reload_trends(self, _widget: QWidget) -> None:
        if self.trend_chart is not None:
            self.trend_chart.load()

    def _build_administer(self, pid: str) -> QWidget:
        from ui.assessments.administer import AdministerWidget

        return AdministerWidget(self.ctx, self.user, pid, tasks=self.tasks)

    def load(self) -> None:
        self.fetch(overview.list_assessments, "Loading assessments", self._show)
        self.trends.set_patient(self.patient_id)
        if self.administer.patient_id != self.patient_id:
            self.administer.set_patient(self.patient_id)

    def _show(self, rows: list[AssessmentRow]) -> None:
        fill_table(
            self.table,
            [
                (
                    f"{a.administered_at:%Y-%m-%d}",
                    a.instrument,
                    "" if a.total is None else f"{a.total:g}",
                    a.band.replace("_", " "),
                    "yes" if a.critical else "",
                    a.mode,
                )
                for a in rows
            ],
        )

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)
        self.trends.clear()
        self.administer.clear()
