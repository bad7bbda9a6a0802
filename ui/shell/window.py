"""The application window: pages, patient list and workspace, dialogs, and shutdown.

The session flow (sign-in, lock, sign-out) is `ui.shell.session`, the menus and toolbar
`ui.shell.menus`, the running task in the status bar `ui.shell.taskbar`.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from app.core.config import save_user_setting
from app.core.domain import PatientSummary, Principal
from app.core.errors import NovamindError, PermissionDeniedError
from app.core.events import AlertTriggered, PatientDataUpdated
from app.services import alerts, firstrun, lookup, patients
from app.services.access import Feature
from app.services.context import AppContext
from ui import theme
from ui.backup_dialog import BackupScheduler
from ui.bus import EventBridge
from ui.dialogs import BreakGlassDialog, show_modeless
from ui.idle import IdleWatcher
from ui.login import FirstRunPage, LockPage, LoginPage
from ui.patients import PatientListPanel
from ui.shell.dialogs import ShellDialogs
from ui.shell.menus import ShellActions, build_menus
from ui.shell.session import SESSION_CHECK_MS, Page, SessionController
from ui.shell.taskbar import TaskStatusBar
from ui.state import UiState
from ui.sync_panel import SyncController
from ui.tasks import TaskManager, user_message
from ui.widgets import EmptyState
from ui.workspace import PatientWorkspace

log = logging.getLogger(__name__)
OPS_CHECK_MS = 60 * 60 * 1000  # ops_schedule decides which checks are due; asked hourly


class ShellWindow(SessionController, ShellActions, ShellDialogs):
    """One main window whose central stack shows login, first run, workspace or lock."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.settings = ctx.settings
        self._init_session()
        self.ui_state = UiState(self.settings.data_dir)
        self.setWindowTitle("Novamind")
        self.setAccessibleName("Novamind")
        self.tasks = TaskManager(ctx, self)
        self.bridge = EventBridge(ctx.bus, self)
        self.sync = SyncController(ctx, self.tasks, self)
        self.backups = BackupScheduler(ctx, self.tasks, self)
        self.idle = IdleWatcher(self.settings.idle_lock_minutes, self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.idle)
        self.idle.idle.connect(self.lock)
        self.session_timer = QTimer(self)
        self.session_timer.setInterval(SESSION_CHECK_MS)
        self.session_timer.timeout.connect(self.check_session)
        self.ops_timer = QTimer(self)  # model, security and health checks while signed in
        self.ops_timer.setInterval(OPS_CHECK_MS)
        self.ops_timer.timeout.connect(self.run_ops_checks)

        self.clinic_dashboard: QDialog | None = None
        self.stack = QStackedWidget()
        self.login_page = LoginPage("encrypted (SQLCipher)")
        self.first_run_page = FirstRunPage()
        self.patient_list = PatientListPanel()
        self.workspace = PatientWorkspace(ctx, self.tasks)
        self.no_clinical = EmptyState(
            "No clinical content for this role",
            "Administrator, IT and research accounts do not see patient records here. "
            "Use 'novamind admin …' for accounts and care teams.",
        )
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.patient_list)
        self.splitter.addWidget(self.workspace)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([640, 720])
        self.main_page = QStackedWidget()
        self.main_page.addWidget(self.splitter)
        self.main_page.addWidget(self.no_clinical)
        self.lock_page = LockPage()
        for page in (self.login_page, self.first_run_page, self.main_page, self.lock_page):
            self.stack.addWidget(page)
        self.setCentralWidget(self.stack)
        build_menus(self)
        self._build_status()
        self._connect()
        self._restore_state()
        self._show_start_page()

    # -- construction ---------------------------------------------------------------------------
    def _build_status(self) -> None:
        sb = self.statusBar()
        self.status_user = QLabel("")
        self.status_user.setAccessibleName("Signed-in user")
        self.status_store = QLabel("Store: encrypted")
        self.status_sync = QLabel("Sync: not configured")
        self.status_sync.setAccessibleName("Sync status")
        self.taskbar = TaskStatusBar(self.tasks, sb, self)
        self.task_label = self.taskbar.label
        self.task_progress = self.taskbar.progress
        self.task_cancel = self.taskbar.cancel
        for w in (self.status_user, self.status_store, self.status_sync):
            sb.addPermanentWidget(w)

    def _connect(self) -> None:
        self.sync.status_changed.connect(self.status_sync.setText)
        self.login_page.submitted.connect(self.sign_in)
        self.first_run_page.create_admin.connect(self._create_admin)
        self.first_run_page.open_demo.connect(self._open_demo)
        self.lock_page.unlock.connect(self.unlock)
        self.lock_page.sign_out.connect(self.sign_out)
        self.patient_list.open_patient.connect(self.open_patient)
        self.workspace.error.connect(self.show_error)
        self.tasks.error.connect(self.show_error)
        self.bridge.patient_data_updated.connect(self._on_data_updated)
        self.bridge.alert_triggered.connect(self._on_alert)
        hints = QApplication.styleHints()
        if hints is not None:
            hints.colorSchemeChanged.connect(lambda _s: self._reapply_theme())

    def _restore_state(self) -> None:
        geometry = self.ui_state.get("main.geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1360, 820)
        for key, splitter in (
            ("main.splitter", self.splitter),
            ("notes.splitter", self.workspace.notes.splitter),
        ):
            blob = self.ui_state.get(key)
            if blob is not None:
                splitter.restoreState(blob)

    def save_state(self) -> None:
        self.ui_state.put("main.geometry", self.saveGeometry())
        self.ui_state.put("main.splitter", self.splitter.saveState())
        self.ui_state.put("notes.splitter", self.workspace.notes.splitter.saveState())
        try:
            self.ui_state.save()
        except OSError:
            log.warning("could not save window state")

    # -- pages ------------------------------------------------------------------------------
    def _set_page(self, page: Page) -> None:
        self.stack.setCurrentIndex(page)
        in_session = page == Page.MAIN
        self.toolbar.setVisible(in_session)
        for a in self.session_actions:
            a.setEnabled(in_session)
        self.act_lock.setEnabled(in_session)
        self.setWindowTitle(
            {
                Page.LOGIN: "Novamind — sign in",
                Page.FIRST_RUN: "Novamind — welcome",
                Page.MAIN: "Novamind",
                Page.LOCK: "Novamind — locked",
            }[page]
        )

    def _show_start_page(self) -> None:
        if not firstrun.first_run_allowed(self.ctx):  # enrolled: accounts come by sync
            self._set_page(Page.LOGIN)
            self.login_page.username.setFocus()
        else:
            self._set_page(Page.FIRST_RUN)

    def _enter_session(self, principal: Principal) -> None:
        """Show the signed-in user's pages, menus and background work."""
        self.status_user.setText(f"{principal.display_name} · {principal.role.value}")
        self.workspace.set_principal(principal)
        clinical = self.may(Feature.CLINICAL)
        self.main_page.setCurrentIndex(0 if clinical else 1)
        self._set_page(Page.MAIN)
        self.act_alerts.setEnabled(clinical)
        self.act_open_mrn.setEnabled(clinical)
        dashboard = self.may(Feature.CLINIC_DASHBOARD)
        self.act_clinic_dashboard.setVisible(dashboard)
        self.act_clinic_dashboard.setEnabled(dashboard)
        self.sync.start()
        self.backups.start(principal)
        self.run_ops_checks()
        self.ops_timer.start()
        if self.may(Feature.DASHBOARD_CLINICAL):
            self.prepare_dashboard(principal)
        if clinical:
            self.load_patients()

    def _leave_session(self) -> None:
        self.status_user.setText("")
        self.workspace.set_principal(None)
        self.ops_timer.stop()

    # -- operations ------------------------------------------------------------------------
    def run_ops_checks(self) -> None:
        """The due monitoring checks (weekly model check, security scan, health), off the GUI
        thread; a failure is logged by class only and never interrupts the user."""
        from app.services import ops_schedule

        self.tasks.call(
            ops_schedule.run_due_checks,
            self.ctx,
            label="Running monitoring checks",
            on_error=lambda exc: log.warning("monitoring checks failed: %s", type(exc).__name__),
        )

    def prepare_dashboard(self, principal: Principal) -> None:
        """Warm what the clinic dashboard's first page reads (the service decides for whom)."""
        from app.services import clinic_dashboard

        self.tasks.call(
            clinic_dashboard.prepare,
            self.ctx,
            principal,
            label="Preparing the clinic dashboard",
            on_error=lambda exc: log.warning("dashboard warm-up failed: %s", type(exc).__name__),
        )

    def show_clinic_dashboard(self) -> None:
        """View → Clinic dashboard: what the role may see of it (the service decides)."""
        if self.principal is None or not self.may(Feature.CLINIC_DASHBOARD):
            return
        from ui.dashboard.window import ClinicDashboard

        if self.clinic_dashboard is not None:
            self.clinic_dashboard.raise_()
            self.clinic_dashboard.activateWindow()
            return
        dialog = ClinicDashboard(self.ctx, self.principal, self.tasks, self)
        dialog.open_patient.connect(self.open_patient)
        self.clinic_dashboard = dialog

        def closed() -> None:
            self.clinic_dashboard = None

        show_modeless(dialog, closed)

    # -- patients ------------------------------------------------------------------------------
    def load_patients(self) -> None:
        self.call_as_user(
            patients.list_patients, label="Loading patients", on_done=self._patients_loaded
        )

    def _patients_loaded(self, rows: list[PatientSummary]) -> None:
        if self.principal is None:
            return
        self.patient_list.model.set_rows(rows)
        if self.workspace.patient_id:
            self.patient_list.select(self.workspace.patient_id)
        self.refresh_alert_badge()

    def refresh(self) -> None:
        self.load_patients()
        tab = self.workspace.current_tab()
        if tab is not None and self.workspace.patient_id:
            tab.load()

    def refresh_alert_badge(self) -> None:
        if self.may(Feature.CLINICAL):
            self.call_as_user(
                alerts.list_open_alerts,
                label="Checking alerts",
                on_done=lambda rows: self._set_badge(len(rows)),
            )

    def _set_badge(self, n: int) -> None:
        self.alerts_badge.setText(str(n))
        self.alerts_badge.setObjectName("badge" if n else "badgeZero")
        self.alerts_badge.style().unpolish(self.alerts_badge)
        self.alerts_badge.style().polish(self.alerts_badge)
        self.act_alerts.setText(f"Open alerts ({n})" if n else "Open alerts")

    def open_patient(self, patient_id: str) -> None:
        self.call_as_user(
            patients.get_patient,
            patient_id,
            label="Opening patient",
            on_done=self.workspace.open,
            on_error=lambda exc: self._open_denied(patient_id, exc),
        )

    def _open_denied(self, patient_id: str, exc: BaseException) -> None:
        who = self.principal
        if (
            isinstance(exc, PermissionDeniedError)
            and who is not None
            and self.may(Feature.BREAK_GLASS)
        ):
            dialog = BreakGlassDialog(self)
            try:
                if dialog.exec() != QDialog.DialogCode.Accepted:
                    return
                reason = dialog.text()
            finally:
                dialog.deleteLater()
            self.tasks.call(
                patients.break_glass,
                self.ctx,
                who,
                patient_id,
                reason,
                label="Emergency access",
                on_done=lambda _r: self.open_patient(patient_id),
                on_error=lambda e: self.show_error(user_message(e)),
            )
            return
        self.show_error(user_message(exc))

    def open_by_mrn(self) -> None:
        if self.principal is None:
            return
        mrn, ok = QInputDialog.getText(self, "Open by MRN", "Medical record number:")
        if ok and mrn.strip():
            self.call_as_user(
                lookup.patient_id_by_mrn, mrn, label="Finding patient", on_done=self.open_patient
            )

    # -- events from the core (already on the GUI thread) ---------------------------------------
    def _on_data_updated(self, event: PatientDataUpdated) -> None:
        if self.principal is None:
            return
        self.workspace.on_data_updated(event.patient_id, event.record_type)
        if event.record_type in ("alert", "patient", "prediction", "assessment"):
            self._refresh_row(event.patient_id)

    def _on_alert(self, event: AlertTriggered) -> None:
        if self.principal is None:
            return
        self.workspace.on_data_updated(event.patient_id, "alert")
        self._refresh_row(event.patient_id)

    def _refresh_row(self, patient_id: str) -> None:
        """Re-read one patient's row (only if it is in this user's list) and the badge."""
        if self.patient_list.model.summary(patient_id) is not None:
            self.call_as_user(
                patients.get_patient,
                patient_id,
                label="Refreshing patient",
                on_done=self._row_refreshed,
                on_error=lambda _e: None,
            )
        self.refresh_alert_badge()

    def _row_refreshed(self, summary: PatientSummary) -> None:
        if self.principal is None:
            return
        self.patient_list.model.upsert(summary)
        if self.workspace.patient_id == summary.id:
            self.workspace.show_summary(summary)

    # -- misc ---------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Readable errors: a non-blocking message box (details are in the log)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Novamind", text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def set_theme(self, choice: str) -> None:
        try:
            self.settings = save_user_setting(self.settings, "theme", choice)
        except NovamindError as exc:
            self.show_error(exc.user_message())
            self.theme_actions[self.settings.theme].setChecked(True)
            return
        self._reapply_theme()

    def _reapply_theme(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, self.settings.theme)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def shutdown(self) -> None:
        """Save state and drafts, stop background work, stop listening to the core."""
        if self.principal is not None:
            self.workspace.notes.save_autodraft()
        self.idle.stop()
        self.session_timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.idle)
        self.save_state()
        self.sync.stop()
        self.backups.stop()
        for tab in (
            self.workspace.twin,
            self.workspace.analysis,
            self.workspace.actigraphy,
            self.workspace.predictions,
        ):
            tab.shutdown()
        self.tasks.cancel_all()
        self.tasks.wait(10000)
        self.tasks.shutdown_cpu()  # the child processes of CPU-bound work, if any started
        self.bridge.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt API
        self.shutdown()
        super().closeEvent(event)
