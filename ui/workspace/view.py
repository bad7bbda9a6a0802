"""The patient workspace: a header and tabs (Overview, Clinical history, Twin, Assessments,
Notes, Note analysis, Actigraphy, Predictions, Alerts, Audit). Tabs load on first view and
refresh on the core's events; each is a PatientPanel, and the workspace speaks to them only
through that class."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QTabWidget, QVBoxLayout, QWidget

from app.core.domain import PatientSummary, Principal
from app.services.access import Feature, may
from app.services.context import AppContext
from ui.patients import age
from ui.tasks import TaskManager, user_message
from ui.widgets import EmptyState, label, synthetic_badge
from ui.workspace.alerts import AlertsTab
from ui.workspace.assessments import AssessmentsTab
from ui.workspace.audit import AuditTab
from ui.workspace.features import ActigraphyTab, AnalysisTab, PredictionsTab
from ui.workspace.history import HistoryTab
from ui.workspace.notes import NotesTab
from ui.workspace.overview import OverviewTab
from ui.workspace.panel import PatientPanel
from ui.workspace.twin import TwinTab

T = TypeVar("T", bound=PatientPanel)


class PatientWorkspace(QWidget):
    """Header plus tabs for one open patient; empty page when none is open."""

    error = Signal(str)

    def __init__(self, ctx: AppContext, tasks: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.tasks = ctx, tasks
        self.principal: Principal | None = None
        self.patient_id: str | None = None
        self.stack = QStackedWidget()
        self.empty = EmptyState(
            "No patient open",
            "Choose a patient from the list (double-click or Enter) to open their record.",
        )
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.setContentsMargins(12, 10, 12, 12)
        head = QHBoxLayout()
        self.name = label("", "h1")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.badge = synthetic_badge()
        self.facts = label("", "muted")
        head.addWidget(self.name)
        head.addSpacing(8)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(self.facts)
        pl.addLayout(head)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient record")
        self.tabs.setDocumentMode(False)
        pl.addWidget(self.tabs, 1)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        self.overview = self._tab(OverviewTab)
        self.history = self._tab(HistoryTab)
        self.twin = self._tab(TwinTab)
        self.assessments = self._tab(AssessmentsTab)
        self.notes = self._tab(NotesTab)
        self.analysis = self._tab(AnalysisTab)
        self.actigraphy = self._tab(ActigraphyTab)
        self.predictions = self._tab(PredictionsTab)
        self.alerts = self._tab(AlertsTab)
        self.audit = self._tab(AuditTab)
        self._all: list[tuple[str, PatientPanel]] = [
            ("&Overview", self.overview),
            ("Cl&inical history", self.history),
            ("&Twin", self.twin),
            ("A&ssessments", self.assessments),
            ("&Notes", self.notes),
            ("Note anal&ysis", self.analysis),
            ("Acti&graphy", self.actigraphy),
            ("&Predictions", self.predictions),
            ("A&lerts", self.alerts),
            ("A&udit", self.audit),
        ]
        self.tabs.currentChanged.connect(self._tab_changed)

    def _tab(self, cls: type[T]) -> T:
        """One tab, parented even while not in the tab bar (e.g. Audit); its errors reach the
        shell through the workspace's ``error`` signal."""
        tab = cls(self.ctx, None, None, self.tasks, self)
        tab.hide()
        tab.error.connect(self.error)
        return tab

    def set_principal(self, principal: Principal | None) -> None:
        """Build the tab set the service layer allows (Audit only where the audit may be read)."""
        self.principal = principal
        for _, tab in self._all:
            tab.principal = principal
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        for text, tab in self._all:
            if tab is self.audit and not may(principal, Feature.PATIENT_AUDIT):
                tab.setParent(self)
                tab.hide()
                continue
            self.tabs.addTab(tab, text)
        self.tabs.blockSignals(False)

    def tab_titles(self) -> list[str]:
        return [self.tabs.tabText(i).replace("&", "") for i in range(self.tabs.count())]

    def open(self, summary: PatientSummary) -> None:
        if self.patient_id and self.patient_id != summary.id:
            self._keep_unsaved()
        self.close_patient(save=False)
        self.patient_id = summary.id
        for _, tab in self._all:
            tab.set_patient(summary.id, load=False)
        self.show_summary(summary)
        self.stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(0)
        self._tab_changed(self.tabs.currentIndex())

    def show_summary(self, s: PatientSummary) -> None:
        self.name.setText(s.display_name.replace(" [synthetic]", ""))
        self.badge.setVisible(s.is_synthetic)
        self.facts.setText(
            f"MRN {s.mrn}  ·  born {s.birth_date:%Y-%m-%d} ({age(s.birth_date)} y)  ·  {s.sex}"
            + ("" if s.assigned else "  ·  not on your care team")
        )

    def close_patient(self, *, save: bool = True) -> None:
        """Keep unsaved work as a draft, then drop every widget's PHI."""
        if save:
            self._keep_unsaved()
        self.patient_id = None
        for _, tab in self._all:
            tab.set_patient(None)
        self.name.setText("")
        self.facts.setText("")
        self.stack.setCurrentIndex(0)

    def _keep_unsaved(self) -> None:
        for _, tab in self._all:
            tab.keep_unsaved()

    def current_tab(self) -> PatientPanel | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, PatientPanel) else None

    def _tab_changed(self, _index: int) -> None:
        tab = self.current_tab()
        if tab is not None and self.patient_id and tab.loaded_for != self.patient_id:
            tab.load()

    def on_data_updated(self, patient_id: str, record_type: str) -> None:
        """Reload only the visible tab that shows this record type; mark others stale."""
        if patient_id != self.patient_id:
            return
        for _, tab in self._all:
            if tab.relevant(record_type):
                tab.loaded_for = None
        shown = self.current_tab()
        if shown is not None and shown.loaded_for is None:
            if shown.has_unsaved_changes():
                return  # never overwrite what the user is typing
            shown.load()

    def show_error(self, exc: BaseException) -> None:
        self.error.emit(user_message(exc))
