"""The dialogs the shell opens from its menus: caseload, alert inbox, backups, conflicts,
password change, About; and the restart a restore needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

from app.core.domain import Principal
from app.core.errors import NovamindError
from app.services.access import Feature
from app.services.context import AppContext
from ui.backup_dialog import BackupDialog
from ui.dialogs import AboutDialog, framed, show_modeless
from ui.password_dialog import PasswordDialog
from ui.sync_panel import ConflictDialog

if TYPE_CHECKING:
    from app.core.config import Settings
    from ui.patients import PatientListPanel
    from ui.sync_panel import SyncController
    from ui.tasks import TaskManager


class ShellDialogs(QMainWindow):
    """The main window's dialog openers (ShellWindow derives from this)."""

    ctx: AppContext
    settings: Settings
    tasks: TaskManager
    sync: SyncController
    patient_list: PatientListPanel
    principal: Principal | None

    if TYPE_CHECKING:  # provided by ShellWindow and its session controller

        def may(self, feature: Feature) -> bool: ...
        def open_patient(self, patient_id: str) -> None: ...
        def refresh_alert_badge(self) -> None: ...
        def shutdown(self) -> None: ...
        def show_error(self, text: str) -> None: ...

    def show_caseload(self) -> None:
        """Every visible patient scored in one batch, highest risk first (demo models say so)."""
        if self.principal is None or not self.may(Feature.CLINICAL):
            return
        from ui.panels.caseload import CaseloadWidget

        widget = CaseloadWidget(self.ctx, self.principal, tasks=self.tasks)
        widget.patient_activated.connect(self.open_patient)
        # the widget scores the caseload as soon as it is built
        self.caseload_dialog = show_modeless(framed(self, "Caseload by risk", widget, (900, 600)))

    def show_backups(self) -> None:
        """Backup and restore (IT and administrators)."""
        if self.principal is None or not self.may(Feature.BACKUPS):
            self.show_error("Backup and restore is for IT and administrator accounts.")
            return
        self.backup_dialog = show_modeless(
            BackupDialog(self.ctx, self.principal, self.tasks, self.restart_with, self)
        )

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
        self.conflict_dialog = show_modeless(dialog, self.sync.refresh)

    def show_alert_inbox(self) -> None:
        """Open the alert inbox: every open alert of the patients this user may see."""
        self.patient_list.alerts_only.setChecked(True)
        if self.principal is None:
            return
        from ui.assessments.inbox import AlertInbox

        inbox = AlertInbox(self.ctx, self.principal, self.tasks)
        dialog = framed(self, "Alert inbox", inbox, (980, 560))
        self.inbox_dialog = show_modeless(dialog, self.refresh_alert_badge)  # beside the work

    def change_password(self) -> None:
        """The signed-in user changes their own password (old one re-checked by the core)."""
        if self.principal is None:
            return
        dialog = PasswordDialog(self.ctx, self.principal, self.tasks, self)
        dialog.finished.connect(lambda _r: dialog.deleteLater())
        self.password_dialog = dialog
        dialog.open()

    def about(self) -> None:
        dialog = AboutDialog(self.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
