"""The clinic dashboard's Health page: sync, backups, disk, models and policy of this workstation.

It shows `app.services.system_health.check` for the signed-in supervisor or IT (the service
refuses anyone else, and the page then says so); the report loads on the TaskManager, never on
the GUI thread. Alerts for critical items are raised by the operations schedule, not here.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout

from app.services import system_health
from app.services.system_health import HealthReport
from ui.panels.common import emphasise, fill, heading, label, muted, set_error, table, user_message
from ui.workspace.panel import Panel

STATUS_TEXT = {"ok": "OK", "warning": "Warning", "critical": "Critical"}
STATUS_COLOURS = {"ok": "#2e7d32", "warning": "#b26a00", "critical": "#b71c1c"}


def summary_text(report: HealthReport) -> str:
    """'2 critical, 1 warning' or 'All checks OK', with the time checked."""
    counts = {s: sum(1 for i in report.items if i.status == s) for s in ("critical", "warning")}
    parts = [f"{n} {s}{'s' if s == 'warning' and n != 1 else ''}" for s, n in counts.items() if n]
    what = ", ".join(parts) if parts else "All checks OK"
    return f"{what} — checked {report.checked_at.astimezone():%Y-%m-%d %H:%M}"


class HealthPage(Panel):
    """``HealthPage(ctx, principal, tasks, parent=None)``; ``refresh()`` reloads the report."""

    loaded = Signal()

    def _build(self) -> None:
        self.report: HealthReport | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 16)
        top, self.info = heading("System health", "health summary")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("refresh system health")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        lay.addLayout(top)
        lay.addWidget(
            muted(
                "This workstation's sync, backups, disk, models and policy. Critical items "
                "raise a system alert for supervisors and IT (System alerts page)."
            )
        )
        self.table = table(("Check", "Status", "Value", "Detail"), "system health checks")
        lay.addWidget(self.table, 1)
        self.status = label("", "muted")
        self.status.setAccessibleName("health status")
        lay.addWidget(self.status)
        self.refresh()

    def refresh(self) -> None:
        """Load the health report in the background."""
        if self.principal is None:
            set_error(self.status, "Sign in first.")
            return
        self.status.setText("Checking system health…")
        self.refresh_button.setEnabled(False)
        self.tasks.call(
            system_health.check,
            self.ctx,
            self.user,
            label="Checking system health",
            on_done=self._show,
            on_error=self._error,
        )

    def _show(self, report: HealthReport) -> None:
        self.refresh_button.setEnabled(True)
        self.report = report
        fill(
            self.table,
            [(i.name, STATUS_TEXT[i.status], i.value, i.detail) for i in report.items],
            [i.name for i in report.items],
        )
        for row, item in enumerate(report.items):
            emphasise(
                self.table.item(row, 1),
                STATUS_COLOURS[item.status],
                bold=item.status != "ok",
            )
            detail = self.table.item(row, 3)
            if detail is not None and item.detail:
                detail.setToolTip(item.detail)  # long lists (the models) are cut in the cell
        self.info.setText(summary_text(report))
        self.status.setText("")
        self.loaded.emit()

    def _error(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        set_error(self.status, user_message(exc))
