"""Sync in the desktop: status-bar text, automatic background sync, and the conflict dialog.

The controller asks the core for the sync status, runs `sync_service.run_sync` on the task
pool every few minutes while the workstation is enrolled (and on demand), and never blocks the
GUI. When IT's policy names the clinic gateway (`gateway_hints_url`), it also keeps the
gateway's hint socket (app.services.instant_sync): a hint syncs at once, an alert raised here
syncs promptly (debounced) and a sync that pushed bundles tells the gateway, so an alert shows
on the other workstations within seconds; the periodic sync stays as the fallback. Conflicts
(the same field edited on two workstations) are shown side by side; choosing a value is
audited by the service and then syncs to every workstation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QPushButton,
    QVBoxLayout,
)

from app.core.errors import NovamindError
from app.core.events import AlertTriggered
from app.services import instant_sync, sync_service
from app.services.context import AppContext
from ui.dialogs import ServiceDialog
from ui.tasks import TaskManager
from ui.widgets import fill_table

log = logging.getLogger(__name__)
AUTO_SYNC_MS = 5 * 60 * 1000
PROMPT_SYNC_MS = 200  # an alert raised here syncs this long after the last one (debounce)


def status_text(st: sync_service.SyncStatus, live: bool | None = None) -> str:
    """One line for the status bar (counts and times only, no PHI). ``live``: whether the
    gateway's hint socket is up (None: no gateway in the policy)."""
    if not st.enrolled:
        return "Sync: workstation not enrolled"
    parts = [
        f"last {st.last_sync_at[:16].replace('T', ' ')}" if st.last_sync_at else "never synced"
    ]
    if live is not None:
        parts.append("instant" if live else "gateway offline, polling")
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
    """Owns the periodic sync and the gateway hint client; `status_changed` carries the
    status-bar text."""

    status_changed = Signal(str)
    _hinted = Signal()  # the hint thread → the GUI thread
    _hint_state = Signal(bool)
    _alerted = Signal()  # the bus (any thread) → the GUI thread

    def __init__(self, ctx: AppContext, tasks: TaskManager, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.tasks = ctx, tasks
        self.running = False
        self._again = False  # a sync was asked for while one ran: run one more after it
        self.timer = QTimer(self)
        self.timer.setInterval(AUTO_SYNC_MS)
        self.timer.timeout.connect(self.sync_now)
        self.prompt = QTimer(self)
        self.prompt.setSingleShot(True)
        self.prompt.setInterval(PROMPT_SYNC_MS)
        self.prompt.timeout.connect(self.sync_now)
        self.instant: instant_sync.InstantSync | None = None
        self.live = False  # the hint socket is signed in
        self._off_alert: Callable[[], None] | None = None
        self._hinted.connect(self.sync_now)
        self._hint_state.connect(self._on_hint_state)
        self._alerted.connect(self._on_alert)

    def start(self) -> None:
        """Refresh the status and, if enrolled and configured, sync now and periodically;
        keep the gateway's hint socket when the policy names one."""
        self.refresh()
        if self.ctx.settings.sync_bucket:
            self.timer.start()
            self.sync_now()
            if instant_sync.configured(self.ctx.settings):
                self._start_instant()

    def _start_instant(self) -> None:
        try:
            client = instant_sync.InstantSync(
                self.ctx, on_hint=self._hinted.emit, on_state=self._hint_state.emit
            )
        except NovamindError as exc:  # not enrolled, no device key, bad policy: poll only
            log.warning("instant sync off: %s", type(exc).__name__)
            return
        self.instant = client
        self._off_alert = self.ctx.bus.subscribe(AlertTriggered, lambda _e: self._alerted.emit())
        client.start()

    def stop(self) -> None:
        self.timer.stop()
        self.prompt.stop()
        if self._off_alert is not None:
            self._off_alert()
            self._off_alert = None
        if self.instant is not None:
            self.instant.stop()
            self.instant = None
        self.live = False

    def _on_hint_state(self, up: bool) -> None:
        self.live = up
        self.refresh()

    def _on_alert(self) -> None:
        if self.live:  # without the gateway the others would not hear of it any sooner
            self.prompt.start()  # (re)start: alerts in a burst make one sync

    def refresh(self) -> None:
        live = self.live if self.instant is not None else None
        self.tasks.call(
            sync_service.sync_status,
            self.ctx,
            label="Sync status",
            on_done=lambda st: self.status_changed.emit(status_text(st, live)),
            on_error=lambda _e: self.status_changed.emit("Sync: status unavailable"),
        )

    def sync_now(self) -> None:
        if not self.ctx.settings.sync_bucket:
            return
        if self.running:
            self._again = True  # a hint during a sync must not be lost
            return
        self.running = True
        self._again = False
        self.status_changed.emit("Sync: running…")

        def after() -> None:
            self.running = False
            if self._again:
                self.sync_now()
            else:
                self.refresh()

        def done(report: sync_service.SyncReport) -> None:
            if report.bundles_pushed and self.instant is not None:
                self.instant.notify_pushed()
            after()

        def failed(exc: BaseException) -> None:
            log.warning("background sync failed: %s", type(exc).__name__)
            after()

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
