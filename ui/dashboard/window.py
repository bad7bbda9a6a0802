"""View → Clinic dashboard: the clinical pages (what the service's scope allows: the clinic, the
user's caseload, or de-identified aggregates) and, for supervisors and IT, the Health and
System alerts pages. Filters (period, clinician) reload through the TaskManager with progress;
a row's drill-down lists the permitted patients (opening one asks the shell); exports are
written here and audited by the service as disclosures.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.core.errors import ValidationError
from app.services import access, clinic_dashboard
from app.services.access import Feature
from app.services.clinic_dashboard import Dashboard, DashboardFilter, DashboardScope, DrillRow
from app.services.context import AppContext
from ui.dashboard.export import write_pdf
from ui.dashboard.pages import PAGES, CompletionPage, DashboardPage
from ui.panels.common import fill, label, muted, notice, section, table
from ui.tasks import TaskManager, user_message

log = logging.getLogger(__name__)

PERIODS = (("Last 30 days", 30), ("Last 90 days", 90), ("Last 12 months", 365),
           ("Last two years", 730), ("Custom", 0))  # fmt: skip
DEFAULT_DAYS = 90


class DrillDialog(QDialog):
    """The patients behind one figure (already permission-checked and audited by the
    service); double-click opens one in the workspace."""

    open_patient = Signal(str)

    def __init__(self, title: str, rows: list[DrillRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setAccessibleName("dashboard patient list")
        lay = QVBoxLayout(self)
        lay.addWidget(muted(f"{len(rows)} patient(s). Double-click to open the record."))
        self.table = table(("Patient", "MRN", "Detail"), "dashboard patients")
        fill(self.table, [(r.display_name, r.mrn, r.detail) for r in rows],
             [r.patient_id for r in rows])  # fmt: skip
        self.table.cellDoubleClicked.connect(self._open)
        self.table.cellActivated.connect(self._open)
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(640, 420)

    def _open(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.open_patient.emit(str(item.data(Qt.ItemDataRole.UserRole)))


class ClinicDashboard(QDialog):
    """``ClinicDashboard(ctx, principal, tasks, parent)``; ``open_patient(pid)`` asks the shell
    to open a record; ``loaded`` fires when the figures are on screen."""

    open_patient = Signal(str)
    loaded = Signal()

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        tasks: TaskManager,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal, self.tasks = ctx, principal, tasks
        self.dash: Dashboard | None = None
        self.scope: DashboardScope | None = None
        self._pending = 0  # the newest load; older answers are dropped
        self.drill_dialog: DrillDialog | None = None
        self.setWindowTitle("Clinic dashboard")
        self.setAccessibleName("Clinic dashboard")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 10)
        self.clinical = access.may(principal, Feature.DASHBOARD_CLINICAL)
        top = QHBoxLayout()
        top.addWidget(section("Clinic dashboard"))
        self.scope_label = label("", "muted")
        top.addWidget(self.scope_label, 1)
        lay.addLayout(top)
        self.filters = self._filter_bar()
        lay.addWidget(self.filters)
        self.research_notice = notice("", "de-identified notice", "info")
        self.research_notice.hide()
        lay.addWidget(self.research_notice)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("dashboard pages")
        self.pages: list[DashboardPage] = []
        if self.clinical:
            for cls in PAGES:
                page = cls()
                page.drill.connect(self.drill)
                self.pages.append(page)
                self.tabs.addTab(page, cls.title)
            completion = self.pages[0]
            if isinstance(completion, CompletionPage):
                completion.open_patient.connect(self.open_patient)
        self._operations_pages()
        lay.addWidget(self.tabs, 1)
        self.definition = muted("")
        self.definition.setAccessibleName("dashboard definitions")
        lay.addWidget(self.definition)
        self.status = label("", "muted")
        self.status.setAccessibleName("dashboard status")
        lay.addWidget(self.status)
        self.filters.setVisible(self.clinical)
        self.resize(1180, 800)
        if self.clinical:
            self.load_scope()

    # -- construction ----------------------------------------------------------------------
    def _filter_bar(self) -> QWidget:
        bar = QWidget()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Period"))
        self.period = QComboBox()
        self.period.setAccessibleName("dashboard period")
        for text, days in PERIODS:
            self.period.addItem(text, days)
        self.period.setCurrentIndex(1)
        row.addWidget(self.period)
        today = datetime.now(UTC).date()
        self.first = QDateEdit(_qdate(today - timedelta(days=DEFAULT_DAYS - 1)))
        self.last = QDateEdit(_qdate(today))
        for w, name in ((self.first, "period first day"), (self.last, "period last day")):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
            w.setAccessibleName(name)
            w.setEnabled(False)
            row.addWidget(w)
        row.addWidget(QLabel("Clinician"))
        self.clinician = QComboBox()
        self.clinician.setAccessibleName("dashboard clinician")
        self.clinician.setMinimumWidth(200)
        row.addWidget(self.clinician)
        row.addStretch(1)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("refresh dashboard")
        self.csv_button = QPushButton("Export &CSV…")
        self.csv_button.setAccessibleName("export dashboard as CSV")
        self.pdf_button = QPushButton("Export &PDF…")
        self.pdf_button.setAccessibleName("export dashboard as PDF")
        for b in (self.refresh_button, self.csv_button, self.pdf_button):
            row.addWidget(b)
        self.period.currentIndexChanged.connect(self._period_chosen)
        self.first.dateChanged.connect(self._dates_edited)
        self.last.dateChanged.connect(self._dates_edited)
        self.clinician.currentIndexChanged.connect(lambda _i: self.load())
        self.refresh_button.clicked.connect(self.load)
        self.csv_button.clicked.connect(lambda: self.export("csv"))
        self.pdf_button.clicked.connect(lambda: self.export("pdf"))
        return bar

    def _operations_pages(self) -> None:
        """F's Health and System alerts pages, for supervisors and IT."""
        if not access.may(self.principal, Feature.DASHBOARD_OPERATIONS):
            return
        from ui.dashboard.health_page import HealthPage
        from ui.dashboard.system_alerts_page import SystemAlertsPage

        self.health_page = HealthPage(self.ctx, self.principal, self.tasks)
        self.alerts_page = SystemAlertsPage(self.ctx, self.principal, self.tasks)
        self.tabs.addTab(self.health_page, "Health")
        self.tabs.addTab(self.alerts_page, "System alerts")

    # -- filters ---------------------------------------------------------------------------
    def current_filter(self) -> DashboardFilter:
        clinician = self.clinician.currentData() or None
        if self.scope is not None and self.scope.kind != "clinic":
            clinician = None  # the service fixes a clinician's scope; researchers have none
        return DashboardFilter(
            _pydate(self.first.date()), _pydate(self.last.date()), clinician_id=clinician
        )

    def _period_chosen(self, _index: int) -> None:
        days = int(self.period.currentData() or 0)
        custom = days == 0
        self.first.setEnabled(custom)
        self.last.setEnabled(custom)
        if custom:
            return
        today = datetime.now(UTC).date()
        for w in (self.first, self.last):
            w.blockSignals(True)
        self.first.setDate(_qdate(today - timedelta(days=days - 1)))
        self.last.setDate(_qdate(today))
        for w in (self.first, self.last):
            w.blockSignals(False)
        self.load()

    def _dates_edited(self, _d: QDate) -> None:
        if int(self.period.currentData() or 0) == 0:
            self.load()

    # -- loading ---------------------------------------------------------------------------
    def load_scope(self) -> None:
        self.status.setText("Opening the dashboard…")
        self.tasks.call(
            clinic_dashboard.scope,
            self.ctx,
            self.principal,
            label="Opening the clinic dashboard",
            on_done=self._scope_loaded,
            on_error=self._failed,
        )

    def _scope_loaded(self, sc: DashboardScope) -> None:
        self.scope = sc
        self.clinician.blockSignals(True)
        self.clinician.clear()
        if sc.kind == "clinic":
            self.clinician.addItem("Whole clinic", "")
            for uid, name in sc.clinicians:
                self.clinician.addItem(name, uid)
        elif sc.kind == "caseload":
            for uid, name in sc.clinicians:
                self.clinician.addItem(f"My caseload ({name})", uid)
        else:
            self.clinician.addItem("Whole clinic (de-identified)", "")
        self.clinician.setEnabled(sc.kind == "clinic")
        self.clinician.blockSignals(False)
        self.scope_label.setText(
            {
                "clinic": "Whole clinic (supervisor view)",
                "caseload": "Your caseload (care team)",
                "research": "De-identified aggregates",
            }[sc.kind]
        )
        if sc.kind == "research":
            self.research_notice.setText(
                f"De-identified: no patient is named and counts under {sc.small_cell_min} "
                "(zero included) are hidden, on screen and in exports."
            )
            self.research_notice.show()
        self.load()

    def load(self) -> None:
        if not self.clinical or self.scope is None:
            return
        try:
            flt = self.current_filter()
            flt.validate()
        except ValidationError as exc:
            self.status.setText(exc.user_message())
            return
        self._pending += 1
        ticket = self._pending
        self.status.setText("Loading figures…")
        self.tasks.run(
            lambda _token, progress: clinic_dashboard.load(
                self.ctx, self.principal, flt, progress=progress
            ),
            label="Loading the clinic dashboard",
            on_done=partial(self._show, ticket),
            on_error=self._failed,
            cancellable=False,
        )

    def _show(self, ticket: int, dash: Dashboard) -> None:
        if ticket != self._pending:
            return  # a newer filter is on its way
        self.dash = dash
        for page in self.pages:
            page.show_dashboard(dash)
        self.definition.setText(dash.definition)
        hidden = f"; {dash.suppressed_cells} small cells hidden" if dash.suppressed_cells else ""
        pts = "—" if dash.patients is None else f"{dash.patients:,}"
        self.status.setText(
            f"{pts} patients, {dash.filter.first} to {dash.filter.last}{hidden}. "
            f"Computed {dash.computed_at.astimezone().strftime('%H:%M')}."
        )
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.status.setText(user_message(exc))

    # -- drill-down and export ------------------------------------------------------------------
    def drill(self, key: str) -> None:
        if self.dash is None or not self.dash.scope.drillable:
            return
        self.tasks.call(
            clinic_dashboard.drill,
            self.ctx,
            self.principal,
            self.dash,
            key,
            label="Listing patients",
            on_done=lambda rows: self._drilled(key, rows),
            on_error=self._failed,
        )

    def _drilled(self, key: str, rows: list[DrillRow]) -> None:
        if self.drill_dialog is not None:
            self.drill_dialog.close()
            self.drill_dialog.deleteLater()
        self.drill_dialog = DrillDialog(f"Patients: {key.split(':')[0]}", rows, self)
        self.drill_dialog.open_patient.connect(self.open_patient)
        self.drill_dialog.show()

    def choose_file(self, kind: str) -> Path | None:
        """Ask where to write (tests replace this)."""
        name, _f = QFileDialog.getSaveFileName(
            self, f"Export dashboard as {kind.upper()}", f"clinic-dashboard.{kind}",
            f"{kind.upper()} (*.{kind})",
        )  # fmt: skip
        return Path(name) if name else None

    def export(self, kind: str) -> None:
        if self.dash is None:
            return
        path = self.choose_file(kind)
        if path is None:
            return
        dash = self.dash
        if kind == "pdf":
            write_pdf(dash, path)
            self.tasks.call(
                clinic_dashboard.record_export, self.ctx, self.principal, dash, kind="pdf",
                destination=path, label="Recording the export",
                on_done=lambda _r: self._exported(path), on_error=self._failed,
            )  # fmt: skip
        else:
            self.tasks.call(
                clinic_dashboard.export_csv, self.ctx, self.principal, dash, path,
                label="Exporting the dashboard", on_done=lambda _p: self._exported(path),
                on_error=self._failed,
            )  # fmt: skip

    exported = Signal(str)

    def _exported(self, path: Path) -> None:
        self.status.setText(f"Exported to {path.name} (recorded in the audit log).")
        self.exported.emit(str(path))

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 — Qt API
        if self.drill_dialog is not None:
            self.drill_dialog.close()
        super().closeEvent(event)


def _qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(d: QDate) -> date:
    return date(d.year(), d.month(), d.day())
