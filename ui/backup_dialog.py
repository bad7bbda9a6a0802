"""Backups in the desktop: the scheduled backup, and the backup & restore wizard for IT.

Backups run on the task pool without stopping work. A restore needs the store closed: the
wizard shows what the backup holds, asks for confirmation, closes the session, restores into a
new store (the old one is kept aside until IT confirms) and restarts Novamind on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import (
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.services import backup
from app.services.context import AppContext, actor_of
from ui.dialogs import ServiceDialog
from ui.tasks import TaskManager
from ui.widgets import fill_table

log = logging.getLogger(__name__)
CHECK_MS = 60 * 60 * 1000  # look once an hour whether the policy's interval has passed


class BackupScheduler(QObject):
    """Takes a backup when the newest is older than the policy's interval."""

    def __init__(self, ctx: AppContext, tasks: TaskManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.tasks = ctx, tasks
        self.principal: Principal | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(CHECK_MS)
        self.timer.timeout.connect(self.check)

    def start(self, principal: Principal) -> None:
        self.principal = principal
        self.timer.start()
        QTimer.singleShot(30_000, self.check)  # not during sign-in itself

    def stop(self) -> None:
        self.timer.stop()

    def check(self) -> None:
        if self.principal is None or not backup.backup_due(self.ctx.settings):
            return
        self.tasks.call(
            backup.create_backup,
            self.ctx,
            backup.SCHEDULER,  # the schedule backs up as the system, whoever is signed in
            label="Scheduled backup",
            on_done=lambda m: log.info("scheduled backup %s verified", m.backup_id),
            on_error=lambda e: log.warning("scheduled backup failed: %s", type(e).__name__),
        )


class BackupDialog(ServiceDialog):
    """List, take, verify and restore backups (IT)."""

    title = "Backup and restore"

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        tasks: TaskManager,
        restart: Callable[[Callable[[], object]], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(ctx, principal, tasks, parent)
        self.restart = restart
        lay = QVBoxLayout(self)
        self.table = self._records_table(
            lay,
            f"Encrypted backups in {ctx.settings.backups_path} — every backup is verified "
            f"right after it is written; policy keeps {ctx.settings.backup_keep}, one every "
            f"{ctx.settings.backup_interval_hours} h.",
            ("Backup", "Created", "Schema", "Patients", "Protected by"),
            "Backups",
        )
        self.message = QLabel("")
        self.message.setWordWrap(True)
        lay.addWidget(self.message)
        self.backup_now = QPushButton("&Back up now")
        self.verify_button = QPushButton("&Verify")
        self.restore_button = QPushButton("&Restore…")
        self.confirm_button = QPushButton("&Keep restored store (discard the previous one)")
        self.previous = sorted(ctx.settings.data_dir.glob("pre-restore-*"))
        self.confirm_button.setVisible(bool(self.previous))
        self._actions(
            lay, (self.backup_now, self.verify_button, self.restore_button, self.confirm_button)
        )
        self.backup_now.clicked.connect(self.take_backup)
        self.verify_button.clicked.connect(self.verify_selected)
        self.restore_button.clicked.connect(self.restore_selected)
        self.confirm_button.clicked.connect(self.confirm_restore)
        self.manifests: list[backup.Manifest] = []
        self.resize(820, 420)
        self.load()

    def load(self) -> None:
        self.tasks.call(
            backup.list_backups, self.ctx.settings, label="Listing backups", on_done=self._show
        )

    def _show(self, manifests: list[backup.Manifest]) -> None:
        self.manifests = manifests
        described = [backup.describe(m) for m in manifests]
        fill_table(
            self.table,
            [
                (
                    d["backup"],
                    d["created"][:19].replace("T", " "),
                    d["schema"],
                    str(d["patients"]),
                    d["wrapped with"],
                )
                for d in described
            ],
        )
        if manifests:
            self.table.selectRow(0)

    def _manifest_path(self) -> Path | None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.manifests):
            return None
        m = self.manifests[row]
        return backup.manifest_path_of(self.ctx.settings, m)

    def take_backup(self) -> None:
        self.message.setText("Backing up…")

        def done(m: backup.Manifest) -> None:
            self.message.setText(f"Backup {m.backup_id} written and verified.")
            self.load()

        self.tasks.call(
            backup.create_backup,
            self.ctx,
            self.principal,  # checked in the service: IT only
            label="Backing up",
            on_done=done,
        )

    def verify_selected(self) -> None:
        path = self._manifest_path()
        if path is None:
            return

        def done(report: backup.VerifyReport) -> None:
            self.message.setText(
                f"Verified: integrity {report.integrity}, {report.audit_events} audit events, "
                "counts and audit-chain head match."
                if report.ok
                else "Problems: " + "; ".join(report.problems)
            )

        def verify_in_child(job: backup.VerifyJob) -> None:
            # the checks are CPU-bound: a child process, so the window never stalls on them
            self.tasks.call_cpu(backup.run_verify, job, label="Verifying backup", on_done=done)

        # the manifest, checksum and keyring read stay here; the key reaches the child by pipe
        self.tasks.call(
            backup.prepare_verify,
            self.ctx.settings,
            path,
            label="Verifying backup",
            on_done=verify_in_child,
        )

    def confirm_restore(self) -> None:
        """The user accepts the restored store: crypto-erase the store kept aside."""
        for previous in self.previous:
            backup.confirm_restore(self.ctx.settings, previous, self.principal)
        self.ctx.store.write(
            lambda uow: uow.audit(actor_of(self.principal), "store.restore_confirmed")
        )
        self.previous = []
        self.confirm_button.hide()
        self.message.setText("The previous store was destroyed; the restored store is kept.")

    def restore_selected(self, *, confirm: bool = True) -> None:
        """Confirm, close the session, restore into a new store, then restart Novamind."""
        path = self._manifest_path()
        if path is None:
            return
        m = self.manifests[self.table.currentRow()]
        if (
            confirm
            and QMessageBox.question(
                self,
                "Restore this backup?",
                f"Restore backup {m.backup_id} ({backup.describe(m)['patients']} patients)?\n\n"
                "Novamind closes, restores into a new store, verifies it and restarts. The current "
                "store is kept aside until IT confirms ('novamind admin confirm-restore').",
            )
            != QMessageBox.StandardButton.Yes
        ):
            return
        settings, who = self.ctx.settings, self.principal
        # the shell closes the session and the store, runs the restore, then restarts
        self.restart(lambda: backup.restore(settings, path, who))
