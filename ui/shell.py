"""The application window and its flow: first run → sign-in → workspace ⇄ lock → sign-out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QWidget,
)

from app.core.config import save_user_setting
from app.core.domain import PatientSummary, Principal
from app.core.errors import (
    AccountLockedError,
    AuthenticationError,
    NovamindError,
    PermissionDeniedError,
)
from app.core.events import AlertTriggered, PatientDataUpdated
from app.services import alerts, auth, firstrun, lookup, patients
from app.services.access import Feature, may
from app.services.auth import SecondFactorRequiredError, SessionEndedError
from ui import theme
from ui.backup_dialog import BackupDialog, BackupScheduler
from ui.bus import EventBridge
from ui.dialogs import AboutDialog, BreakGlassDialog
from ui.idle import IdleWatcher
from ui.login import FirstRunPage, LockPage, LoginPage
from ui.password_dialog import PasswordDialog
from ui.patients import PatientListPanel
from ui.state import UiState
from ui.sync_panel import ConflictDialog, SyncController
from ui.tasks import TaskManager, user_message
from ui.widgets import EmptyState, label
from ui.workspace import PatientWorkspace

log = logging.getLogger(__name__)
MAX_UNLOCK_FAILURES = 5
SESSION_CHECK_MS = 60_000  # re-read the account's role and active flag every minute
PAGE_LOGIN, PAGE_FIRST_RUN, PAGE_MAIN, PAGE_LOCK = range(4)


class ShellWindow(QMainWindow):
    """One main window whose central stack shows login, first run, workspace or lock."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.settings = ctx.settings
        self.principal: Principal | None = None
        self._locked_as: Principal | None = None
        self._reopen: str | None = None
        self._unlock_failures = 0
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
        self._build_actions()
        self._build_status()
        self._connect()
        self._restore_state()
        self._show_start_page()

    # -- construction ---------------------------------------------------------------------------
    def _action(self, text: str, slot: Any, shortcut: Any = None, *, name: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        if name:
            a.setObjectName(name)
        return a

    def _build_actions(self) -> None:
        sk = QKeySequence.StandardKey
        self.act_open_mrn = self._action("&Open by MRN…", self.open_by_mrn, sk.Open)
        self.act_close_patient = self._action(
            "&Close patient", lambda: self.workspace.close_patient(), sk.Close
        )
        self.act_refresh = self._action("&Refresh", self.refresh, sk.Refresh)
        self.act_caseload = self._action("&Caseload by risk…", self.show_caseload)
        self.act_lock = self._action("&Lock", self.lock, "Ctrl+L")
        self.act_sign_out = self._action("Sign &out", self.sign_out)
        self.act_change_password = self._action("Change &password…", self.change_password)
        self.act_quit = self._action("&Quit", self.close, sk.Quit)
        self.act_find = self._action(
            "&Find patient", lambda: self.patient_list.search.setFocus(), sk.Find
        )
        self.act_alerts = self._action("Open &alerts", self._filter_alerts)
        self.act_about = self._action("&About Novamind", self.about)
        self.act_sync = self._action("&Sync now", lambda: self.sync.sync_now())
        self.act_backup = self._action("&Backup and restore…", self.show_backups)
        self.act_conflicts = self._action("Sync &conflicts…", self.show_conflicts)
        self.act_full = self._action("&Full screen", self._toggle_full, sk.FullScreen)
        menu = self.menuBar()
        m = menu.addMenu("&File")
        for a in (self.act_open_mrn, self.act_close_patient):
            m.addAction(a)
        m.addSeparator()
        for a in (self.act_change_password, self.act_lock, self.act_sign_out):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = menu.addMenu("&Edit")
        m.addAction(self.act_find)
        m = menu.addMenu("&View")
        m.addAction(self.act_refresh)
        m.addAction(self.act_caseload)
        m.addAction(self.act_full)
        themes = m.addMenu("&Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for key, text in (("system", "Follow &system"), ("light", "&Light"), ("dark", "&Dark")):
            a = QAction(text, self)
            a.setCheckable(True)
            a.setChecked(self.settings.theme == key)
            a.triggered.connect(lambda _c=False, k=key: self.set_theme(k))
            group.addAction(a)
            themes.addAction(a)
            self.theme_actions[key] = a
        m = menu.addMenu("&Sync")
        m.addAction(self.act_sync)
        m.addAction(self.act_conflicts)
        m.addSeparator()
        m.addAction(self.act_backup)
        m = menu.addMenu("&Help")
        m.addAction(self.act_about)
        self.session_actions = [
            self.act_caseload,
            self.act_backup,
            self.act_sync,
            self.act_conflicts,
            self.act_open_mrn,
            self.act_close_patient,
            self.act_refresh,
            self.act_lock,
            self.act_sign_out,
            self.act_find,
            self.act_alerts,
        ]
        self.session_actions.append(self.act_change_password)
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.addWidget(label("  Novamind  ", "h2"))
        tb.addSeparator()
        tb.addAction(self.act_refresh)
        tb.addAction(self.act_open_mrn)
        spacer = QWidget()
        spacer.setSizePolicy(
            spacer.sizePolicy().horizontalPolicy().Expanding,
            spacer.sizePolicy().verticalPolicy().Preferred,
        )
        tb.addWidget(spacer)
        self.alerts_button = QToolButton()
        self.alerts_button.setDefaultAction(self.act_alerts)
        self.alerts_button.setAccessibleName("Open alerts")
        tb.addWidget(self.alerts_button)
        self.alerts_badge = label("0", "badgeZero")
        self.alerts_badge.setAccessibleName("Number of open alerts")
        tb.addWidget(self.alerts_badge)
        tb.addSeparator()
        tb.addAction(self.act_lock)
        self.toolbar = tb

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.status_user = QLabel("")
        self.status_user.setAccessibleName("Signed-in user")
        self.status_store = QLabel("Store: encrypted")
        self.status_sync = QLabel("Sync: not configured")
        self.status_sync.setAccessibleName("Sync status")
        self.task_label = QLabel("")
        self.task_progress = QProgressBar()
        self.task_progress.setFixedWidth(140)
        self.task_progress.setAccessibleName("Task progress")
        self.task_cancel = QToolButton()
        self.task_cancel.setText("Cancel")
        self.task_cancel.setAccessibleName("Cancel task")
        for w in (self.task_label, self.task_progress, self.task_cancel):
            w.hide()
            sb.addWidget(w)
        for w in (self.status_user, self.status_store, self.status_sync):
            sb.addPermanentWidget(w)
        self._task_shown: int | None = None

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
        self.tasks.started.connect(self._task_started)
        self.tasks.progress.connect(self._task_progress)
        self.tasks.finished.connect(self._task_finished)
        self.task_cancel.clicked.connect(self._cancel_shown_task)
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
    def _set_page(self, page: int) -> None:
        self.stack.setCurrentIndex(page)
        in_session = page == PAGE_MAIN
        self.toolbar.setVisible(in_session)
        for a in self.session_actions:
            a.setEnabled(in_session)
        self.act_lock.setEnabled(in_session)
        self.setWindowTitle(
            {
                PAGE_LOGIN: "Novamind — sign in",
                PAGE_FIRST_RUN: "Novamind — welcome",
                PAGE_MAIN: "Novamind",
                PAGE_LOCK: "Novamind — locked",
            }[page]
        )

    def _show_start_page(self) -> None:
        if not firstrun.first_run_allowed(self.ctx):  # enrolled: accounts come by sync
            self._set_page(PAGE_LOGIN)
            self.login_page.username.setFocus()
        else:
            self._set_page(PAGE_FIRST_RUN)

    # -- first run ----------------------------------------------------------------------------
    def _create_admin(self, username: str, display: str, password: str) -> None:
        self.first_run_page.set_busy(True)

        def done(_user: Any) -> None:
            self.first_run_page.set_busy(False)
            self._set_page(PAGE_LOGIN)
            self.login_page.username.setText(username)
            self.login_page.show_message("")
            self.login_page.password.setFocus()

        def failed(exc: BaseException) -> None:
            self.first_run_page.set_busy(False)
            self.first_run_page.show_message(user_message(exc))

        self.tasks.call(
            firstrun.create_first_admin,
            self.ctx,
            username=username,
            display_name=display,
            password=password,
            label="Creating administrator",
            on_done=done,
            on_error=failed,
        )

    def _open_demo(self, patients_n: int = 24) -> None:
        from app.demo import DEMO_PASSWORD, create_demo_clinic

        self.first_run_page.set_busy(True)

        def done(_summary: Any) -> None:
            self.first_run_page.set_busy(False)
            self._set_page(PAGE_LOGIN)
            self.login_page.username.setText("dr.adams")
            self.login_page.show_message("")
            self.login_page.footer.setText(
                f"Demo clinic (synthetic): sign in as dr.adams or sup.davis, password "
                f"'{DEMO_PASSWORD}'."
            )

        def failed(exc: BaseException) -> None:
            self.first_run_page.set_busy(False)
            self.first_run_page.show_message(user_message(exc))

        self.tasks.call(
            create_demo_clinic,
            self.ctx,
            patients=patients_n,
            label="Creating the demo clinic",
            on_done=done,
            on_error=failed,
        )

    # -- sign-in -----------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, totp: str) -> None:
        if not username or not password:
            self.login_page.show_message("Enter your user name and password.")
            return
        self.login_page.set_busy(True)
        self.tasks.call(
            auth.login,
            self.ctx,
            username,
            password,
            totp or None,
            label="Signing in",
            on_done=self._signed_in,
            on_error=self._sign_in_failed,
        )

    def _sign_in_failed(self, exc: BaseException) -> None:
        page = self.login_page
        page.set_busy(False)
        page.password.selectAll()
        if isinstance(exc, SecondFactorRequiredError):
            page.show_totp(True)
            page.show_message(str(exc))
        elif isinstance(exc, AccountLockedError):
            page.show_message(exc.user_message())
            page.password.clear()
        elif isinstance(exc, AuthenticationError):
            page.show_message(exc.user_message())
            if page.totp.isVisible():
                page.totp.clear()
        else:
            page.show_message(user_message(exc))

    def _signed_in(self, principal: Principal) -> None:
        self.principal = principal
        self.login_page.reset()
        self._unlock_failures = 0
        self.status_user.setText(f"{principal.display_name} · {principal.role.value}")
        self.workspace.set_principal(principal)
        clinical = may(principal, Feature.CLINICAL)
        self.main_page.setCurrentIndex(0 if clinical else 1)
        self._set_page(PAGE_MAIN)
        self.act_alerts.setEnabled(clinical)
        self.act_open_mrn.setEnabled(clinical)
        self.idle.start()
        self.session_timer.start()
        self.sync.start()
        self.backups.start(principal)
        if clinical:
            self.load_patients()
        if self._reopen:
            pid, self._reopen = self._reopen, None
            self.open_patient(pid)

    # -- patients ------------------------------------------------------------------------------
    def load_patients(self) -> None:
        who = self.principal
        if who is None:
            return
        self.tasks.call(
            patients.list_patients,
            self.ctx,
            who,
            label="Loading patients",
            on_done=self._patients_loaded,
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
        who = self.principal
        if not may(who, Feature.CLINICAL):
            return
        self.tasks.call(
            alerts.list_open_alerts,
            self.ctx,
            who,
            label="Checking alerts",
            on_done=lambda rows: self._set_badge(len(rows)),
        )

    def _set_badge(self, n: int) -> None:
        self.alerts_badge.setText(str(n))
        self.alerts_badge.setObjectName("badge" if n else "badgeZero")
        self.alerts_badge.style().unpolish(self.alerts_badge)
        self.alerts_badge.style().polish(self.alerts_badge)
        self.act_alerts.setText(f"Open alerts ({n})" if n else "Open alerts")

    def show_caseload(self) -> None:
        """Every visible patient scored in one batch, highest risk first (demo models say so)."""
        if self.principal is None or not may(self.principal, Feature.CLINICAL):
            return
        from PySide6.QtWidgets import QDialog, QVBoxLayout

        from ui.panels.caseload import CaseloadWidget

        dialog = QDialog(self)
        dialog.setWindowTitle("Caseload by risk")
        dialog.setAccessibleName("Caseload by risk")
        lay = QVBoxLayout(dialog)
        widget = CaseloadWidget(self.ctx, self.principal, run_task=self.tasks.call)
        widget.patient_activated.connect(self.open_patient)
        lay.addWidget(widget)
        dialog.resize(900, 600)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        self.caseload_dialog = dialog
        dialog.show()  # the widget scores the caseload as soon as it is built

    def show_backups(self) -> None:
        """Backup and restore (IT and administrators)."""
        if self.principal is None or not may(self.principal, Feature.BACKUPS):
            self.show_error("Backup and restore is for IT and administrator accounts.")
            return
        dialog = BackupDialog(self.ctx, self.principal, self.tasks, self.restart_with, self)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        self.backup_dialog = dialog
        dialog.show()

    def restart_with(self, while_closed: Callable[[], object]) -> None:
        """Close the session and the store, run `while_closed` (a restore), restart Novamind."""
        import sys

        from PySide6.QtCore import QProcess

        self.shutdown()
        self.ctx.close()
        try:
            while_closed()
        except NovamindError as exc:
            QMessageBox.critical(self, "Restore failed", exc.user_message())
        QProcess.startDetached(sys.executable, ["-m", "ui.launcher"])
        QApplication.quit()

    def show_conflicts(self) -> None:
        """The sync conflict queue: both values side by side, the user keeps one (audited)."""
        if self.principal is None:
            return
        dialog = ConflictDialog(self.ctx, self.principal, self.tasks, self)
        dialog.finished.connect(lambda _r: (self.sync.refresh(), dialog.deleteLater()))
        self.conflict_dialog = dialog
        dialog.show()

    def _filter_alerts(self) -> None:
        """Open the alert inbox: every open alert of the patients this user may see."""
        self.patient_list.alerts_only.setChecked(True)
        if self.principal is None:
            return
        from PySide6.QtWidgets import QDialog, QVBoxLayout

        from ui.assessments.inbox import AlertInbox

        dialog = QDialog(self)
        dialog.setWindowTitle("Alert inbox")
        dialog.setAccessibleName("Alert inbox")
        lay = QVBoxLayout(dialog)
        inbox = AlertInbox(self.ctx, self.principal, run_task=self.tasks.call)
        lay.addWidget(inbox)
        dialog.resize(980, 560)
        dialog.finished.connect(lambda _r: (self.refresh_alert_badge(), dialog.deleteLater()))
        self.inbox_dialog = dialog
        dialog.setModal(False)  # the inbox stays open beside the work
        dialog.show()

    def open_patient(self, patient_id: str) -> None:
        who = self.principal
        if who is None:
            return
        self.tasks.call(
            patients.get_patient,
            self.ctx,
            who,
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
            and may(who, Feature.BREAK_GLASS)
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
        who = self.principal
        if who is None:
            return
        mrn, ok = QInputDialog.getText(self, "Open by MRN", "Medical record number:")
        if not ok or not mrn.strip():
            return
        self.tasks.call(
            lookup.patient_id_by_mrn,
            self.ctx,
            who,
            mrn,
            label="Finding patient",
            on_done=self.open_patient,
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
        who = self.principal
        if who is None or self.patient_list.model.summary(patient_id) is None:
            self.refresh_alert_badge()
            return
        self.tasks.call(
            patients.get_patient,
            self.ctx,
            who,
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

    # -- lock and sign-out -------------------------------------------------------------------------
    def _drop_session_views(self) -> None:
        """Keep drafts, close dialogs, and remove every piece of PHI from the widgets."""
        self.workspace.close_patient(save=True)
        self.patient_list.model.clear()
        self.patient_list.search.clear()
        self._set_badge(0)
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QDialog) and w.isVisible():
                w.reject()

    def lock(self) -> None:
        """Cover the window: PHI hidden, principal dropped until the password is re-entered."""
        if self.principal is None:
            return
        self.idle.stop()
        self.session_timer.stop()
        self._reopen = self.workspace.patient_id
        self._locked_as, self.principal = self.principal, None
        self._drop_session_views()
        self.lock_page.prepare(self._locked_as.display_name, self._locked_as.username)
        self._set_page(PAGE_LOCK)
        log.info("session locked")

    def unlock(self, password: str) -> None:
        who = self._locked_as
        if who is None or not password:
            return
        self.lock_page.set_busy(True)

        def done(ok: bool) -> None:
            self.lock_page.set_busy(False)
            if self._locked_as is not who:
                return  # signed out while the check ran
            if ok:
                self._locked_as = None
                self._signed_in(who)
                return
            # wrong password or locked account (the core counts it toward the lockout)
            self._unlock_failures += 1
            if self._unlock_failures >= MAX_UNLOCK_FAILURES:
                self.sign_out()
                self.login_page.show_message("Signed out after too many failed unlocks.")
            else:
                self.lock_page.show_message(auth.GENERIC)
                self.lock_page.password.clear()

        def failed(exc: BaseException) -> None:
            self.lock_page.set_busy(False)
            if isinstance(exc, SessionEndedError):
                self._session_ended(exc)
                return
            self.lock_page.show_message(user_message(exc))

        self.tasks.call(
            auth.verify_unlock,
            self.ctx,
            who,
            password,
            label="Unlocking",
            on_done=done,
            on_error=failed,
        )

    # -- session re-check and password change ----------------------------------------------
    def check_session(self) -> None:
        """Re-read role and active flag; a deactivated or re-roled account is signed out."""
        who = self.principal
        if who is None:
            return
        self.tasks.call(
            auth.refresh,
            self.ctx,
            who,
            label="Checking session",
            on_done=lambda _p: None,
            on_error=lambda exc: self._session_check_failed(who, exc),
        )

    def _session_check_failed(self, who: Principal, exc: BaseException) -> None:
        current = self.principal or self._locked_as
        if current is None or current.user_id != who.user_id:
            return  # a later session: not this check's business
        if isinstance(exc, SessionEndedError):
            self._session_ended(exc)
        else:
            log.warning("session check failed: %s", type(exc).__name__)

    def _session_ended(self, exc: SessionEndedError) -> None:
        self.sign_out()
        self.login_page.show_message(exc.user_message())

    def change_password(self) -> None:
        """The signed-in user changes their own password (old one re-checked by the core)."""
        if self.principal is None:
            return
        dialog = PasswordDialog(self.ctx, self.principal, self.tasks.call, self)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        self.password_dialog = dialog
        dialog.open()

    def sign_out(self) -> None:
        self.idle.stop()
        self.session_timer.stop()
        if self.principal is not None:
            self._drop_session_views()
        self.principal = self._locked_as = None
        self._reopen = None
        self.status_user.setText("")
        self.workspace.set_principal(None)
        self.login_page.reset()
        self._set_page(PAGE_LOGIN)

    # -- tasks in the status bar ---------------------------------------------------------------
    def _task_started(self, task_id: int, text: str, cancellable: int) -> None:
        self._task_shown = task_id
        self.task_label.setText(text + "…")
        self.task_progress.setRange(0, 0)  # busy until the first progress report
        self.task_cancel.setVisible(bool(cancellable))
        self.task_label.show()
        # quick calls finish before anyone sees a bar; show it only if still running
        QTimer.singleShot(300, self.task_progress, lambda: self._reveal_progress(task_id))

    def _reveal_progress(self, task_id: int) -> None:
        if self._task_shown == task_id and any(t.id == task_id for t in self.tasks.active()):
            self.task_progress.show()

    def _task_progress(self, task_id: int, pct: int, msg: str) -> None:
        if task_id != self._task_shown:
            return
        self.task_progress.setRange(0, 100)
        self.task_progress.setValue(pct)
        self.task_progress.show()
        if msg:
            self.task_label.setText(msg)

    def _task_finished(self, task_id: int) -> None:
        if task_id != self._task_shown:
            return
        rest = self.tasks.active()
        if rest:
            last = rest[-1]
            self._task_shown = last.id
            self.task_label.setText(last.label + "…")
            self.task_cancel.setVisible(last.cancellable)
            return
        self._task_shown = None
        for w in (self.task_label, self.task_progress, self.task_cancel):
            w.hide()

    def _cancel_shown_task(self) -> None:
        if self._task_shown is not None:
            self.tasks.cancel(self._task_shown)
            self.task_label.setText("Cancelling…")

    # -- misc ---------------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Readable errors: a non-blocking message box (details are in the log)."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Novamind", text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def about(self) -> None:
        dialog = AboutDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

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

    def _toggle_full(self) -> None:
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
        self.bridge.close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt API
        self.shutdown()
        super().closeEvent(event)
