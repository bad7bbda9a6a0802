"""Sync in the desktop: status-bar text, automatic background sync, and the conflict dialog.

The controller asks the core for the sync status, runs `sync_service.run_sync` on the task
pool every few minutes while the workstation is enrolled (and on demand), and never blocks the
GUI. Conflicts (the same field edited on two workstations) are shown side by side; choosing a
value is audited by the service and then syncs to every workstation.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QPushButton,
    QVBoxLayout,
)

from app.services import sync_service
from app.services.context import AppContext
from ui.dialogs import ServiceDialog
from ui.tasks import TaskManager
from ui.widgets import fill_table

log = logging.getLogger(__name__)
AUTO_SYNC_MS = 5 * 60 * 1000


def status_text(st: sync_service.SyncStatus) -> str:
    """One line for the status bar (counts and times only, no PHI)."""
    if not st.enrolled:
        return "Sync: workstation not enrolled"
    parts = [
        f"last {st.last_sync_at[:16].replace('T', ' ')}" if st.last_sync_at else "never synced"
    ]
    if st.pending_records or st.unsent_bundles:
        parts.append(f"{st.pending_records + st.unsent_bundles} pending")
    if st.open_conflicts:
        parts.append(f"{st.open_conflicts} conflict(s)")
    if st.quarantined:
        parts.append(f"{st.quarantined} rejected bundle(s)")
    if st.last_error:
        parts.append("error: " + st.last_error[:60])
    return "Sync: " + ", ".join(parts)


class SyncController(QObject):
    """Owns the periodic sync; `status_changed` carries the status-bar text."""

    status_changed = Signal(str)

    def __init__(self, ctx: AppContext, tasks: TaskManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.tasks = ctx, tasks
        self.running = False
        self.timer = QTimer(self)
        self.timer.setInterval(AUTO_SYNC_MS)
        self.timer.timeout.connect(self.sync_now)

    def start(self) -> None:
        """Refresh the status and, if enrolled and configured, sync now and periodically."""
        self.refresh()
        if self.ctx.settings.sync_bucket:
            self.timer.start()
            self.sync_now()

    def stop(self) -> None:
        self.timer.stop()

    def refresh(self) -> None:
        self.tasks.call(
            sync_service.sync_status,
            self.ctx,
            label="Sync status",
            on_done=lambda st: self.status_changed.emit(status_text(st)),
            on_error=lambda _e: self.status_changed.emit("Sync: status unavailable"),
        )

    def sync_now(self) -> None:
        if self.running or not self.ctx.settings.sync_bucket:
            return
        self.running = True
        self.status_changed.emit("Sync: running…")

        def done(_report: object) -> None:
            self.running = False
            self.refresh()

        def failed(exc: BaseException) -> None:
            self.running = False
            log.warning("background sync failed: %s", type(exc).__name__)
            self.refresh()

        self.tasks.call(
            sync_service.run_sync, self.ctx, label="Syncing", on_done=done, on_error=failed
        )


class ConflictDialog(ServiceDialog):
    """Both values of each conflicting field; the user keeps one (audited by the service)."""

    title = "Sync conflicts"

    def build(self) -> None:  # noqa: D102
        lay = QVBoxLayout(self)
        self.table = self._records_table(
            lay,
            "The same field was changed on two workstations before they synced. Nothing was "
            "overwritten: choose the value to keep. Your choice is audited and synced.",
            ("Record", "Field", "This workstation", "Other workstation", "Detected"),
            "Conflicting fields",
        )
        self.keep_local = QPushButton("Keep &this workstation's value")
        self.keep_remote = QPushButton("Keep the &other value")
        self._actions(lay, (self.keep_local, self.keep_remote))
        self.keep_local.clicked.connect(lambda: self._resolve("local"))
        self.keep_remote.clicked.connect(lambda: self._resolve("remote"))
        self.conflicts: list[sync_service.ConflictView] = []
        self.resize(900, 420)
        self.load()

    def load(self) -> None:
        self.tasks.call(
            sync_service.list_conflicts,
            self.ctx,
            self.principal,
            label="Loading conflicts",
            on_done=self._show,
        )

    def _show(self, conflicts: list[sync_service.ConflictView]) -> None:
        self.conflicts = conflicts
        fill_table(
            self.table,
            [
                (
                    f"{c.table} {c.record_id[:8]}",
                    c.field,
                    str(c.local_value),
                    str(c.remote_value),
                    f"{c.detected_at:%Y-%m-%d %H:%M}",
                )
                for c in conflicts
            ],
        )
        self.keep_local.setEnabled(bool(conflicts))
        self.keep_remote.setEnabled(bool(conflicts))

    def _resolve(self, keep: str) -> None:
        row = self.table.currentRow()
        if not 0 <= row < len(self.conflicts):
            return
        self.tasks.call(
            sync_service.resolve_conflict,
            self.ctx,
            self.principal,
            self.conflicts[row].id,
            keep,
            label="Resolving conflict",
            on_done=lambda _r: self.load(),
        )
