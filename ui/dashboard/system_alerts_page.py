"""The clinic dashboard's System alerts page: model drift, security rules and system health.

Supervisors and IT see the alerts and acknowledge, resolve or dismiss them (a dismissal needs
a reason) through `app.services.system_alerts`, which checks the role and audits every step;
the page only offers the steps an alert's status allows. Alerts carry no PHI: a subject id, a
summary and evidence ids or numbers.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout

from app.core.events import AlertTriggered
from app.services import system_alerts
from app.services.system_alerts import SystemAlertRecord
from ui.bus import EventBridge
from ui.panels.common import emphasise, fill, heading, label, muted, set_error, table, user_message
from ui.workspace.panel import Panel, when

SEVERITY_COLOURS = {"critical": "#b71c1c", "warning": "#b26a00", "info": "#1f6fb2"}
SOURCES = (
    ("All sources", None),
    ("Models", "model"),
    ("Security", "security"),
    ("Health", "health"),
)
ACTIONS = (("acknowledged", "&Acknowledge"), ("resolved", "Re&solve"), ("dismissed", "&Dismiss"))


def _one(e: object) -> str:
    if isinstance(e, dict):
        return " ".join(f"{k}={v}" for k, v in e.items())
    return str(e)


def evidence_text(alert: SystemAlertRecord, limit: int = 60) -> str:
    """Evidence ids and numbers (`key=value` for named ones), shortened for a table cell."""
    text = ", ".join(_one(e) for e in alert.evidence)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SystemAlertsPage(Panel):
    """``SystemAlertsPage(ctx, principal, tasks, parent=None)``; ``refresh()`` reloads."""

    loaded = Signal()
    acted = Signal(str, str)  # alert id, new status

    def _build(self) -> None:
        self.alerts: list[SystemAlertRecord] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 16)
        top, self.info = heading("System alerts", "system alert count")
        self.show_which = QComboBox()
        self.show_which.setAccessibleName("which alerts")
        self.show_which.addItem("Open alerts", True)
        self.show_which.addItem("All alerts", False)
        self.show_which.currentIndexChanged.connect(self.refresh)
        top.addWidget(self.show_which)
        self.source = QComboBox()
        self.source.setAccessibleName("alert source")
        for text, value in SOURCES:
            self.source.addItem(text, value)
        self.source.currentIndexChanged.connect(self.refresh)
        top.addWidget(self.source)
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("refresh system alerts")
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)
        lay.addLayout(top)
        lay.addWidget(
            muted(
                "Raised by the weekly model check, the security scan and system health. "
                "Evidence lists audit event ids and numbers, never chart content."
            )
        )
        self.table = table(
            ("Severity", "Source", "Rule", "Subject", "Summary", "Evidence", "Status", "Raised"),
            "system alerts",
        )
        self.table.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.table, 1)
        act = QHBoxLayout()
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("Reason (needed to dismiss)")
        self.reason.setAccessibleName("reason")
        self.reason.textChanged.connect(self._update_buttons)
        act.addWidget(self.reason, 1)
        self.buttons: dict[str, QPushButton] = {}
        for status, text in ACTIONS:
            b = QPushButton(text)
            b.setAccessibleName(text.replace("&", "").lower() + " alert")
            b.clicked.connect(lambda _=False, s=status: self.act(s))
            act.addWidget(b)
            self.buttons[status] = b
        lay.addLayout(act)
        self.status = label("", "muted")
        self.status.setAccessibleName("system alerts status")
        lay.addWidget(self.status)
        self._update_buttons()
        # a check that raises alerts while the page is open shows them (several raised in one
        # run reload once)
        self._reload = QTimer(self, singleShot=True, interval=300)
        self._reload.timeout.connect(self.refresh)
        self._bridge = EventBridge(self.ctx.bus, parent=self, types=(AlertTriggered,))
        self._bridge.alert_triggered.connect(self._on_alert)
        self.refresh()

    def _on_alert(self, event: AlertTriggered) -> None:
        if event.rule.split(":", 1)[0] in system_alerts.SOURCES:
            self._reload.start()

    # -- loading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load the alerts in the background with the current filters."""
        if self.principal is None:
            set_error(self.status, "Sign in first.")
            return
        self.status.setText("Loading system alerts…")
        self.refresh_button.setEnabled(False)
        self.tasks.call(
            system_alerts.list_system_alerts,
            self.ctx,
            self.user,
            open_only=bool(self.show_which.currentData()),
            source=self.source.currentData(),
            label="Loading system alerts",
            on_done=self._show,
            on_error=self._error,
        )

    def _show(self, alerts: list[SystemAlertRecord]) -> None:
        self.refresh_button.setEnabled(True)
        self.alerts = alerts
        fill(
            self.table,
            [
                (
                    a.severity,
                    a.source,
                    a.rule,
                    a.subject,
                    a.summary,
                    evidence_text(a),
                    a.status + (f" — {a.resolution}" if a.resolution else ""),
                    when(a.triggered_at),
                )
                for a in alerts
            ],
            [a.id for a in alerts],
        )
        for row, a in enumerate(alerts):
            emphasise(
                self.table.item(row, 0), SEVERITY_COLOURS.get(a.severity, "#5b6675"), bold=True
            )
            cell = self.table.item(row, 5)
            if cell is not None:
                cell.setToolTip(evidence_text(a, limit=2000))
        which = "open" if self.show_which.currentData() else "in all"
        self.info.setText(f"{len(alerts)} alert{'s' if len(alerts) != 1 else ''} ({which})")
        self.status.setText("" if alerts else "No system alerts.")
        self._update_buttons()
        self.loaded.emit()

    def _error(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        set_error(self.status, user_message(exc))

    # -- acting ------------------------------------------------------------------------------
    def selected(self) -> SystemAlertRecord | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.alerts):
            return None
        return self.alerts[rows[0].row()]

    def _update_buttons(self) -> None:
        alert = self.selected()
        allowed = system_alerts.TRANSITIONS.get(alert.status, set()) if alert else set()
        for status, b in self.buttons.items():
            b.setEnabled(status in allowed)
        if "dismissed" in allowed and len(self.reason.text().strip()) < 5:
            self.buttons["dismissed"].setEnabled(False)
            self.buttons["dismissed"].setToolTip("Say why the alert is dismissed (a reason).")

    def act(self, status: str) -> None:
        """Move the selected alert to `status` (acknowledged, resolved, dismissed)."""
        alert = self.selected()
        if alert is None:
            return
        reason = self.reason.text().strip()
        for b in self.buttons.values():
            b.setEnabled(False)

        def done(record: SystemAlertRecord) -> None:
            self.reason.clear()
            self.acted.emit(record.id, record.status)
            self.refresh()

        self.tasks.call(
            system_alerts.transition_system_alert,
            self.ctx,
            self.user,
            alert.id,
            status,
            reason,
            label="Updating system alert",
            on_done=done,
            on_error=self._act_error,
        )

    def _act_error(self, exc: BaseException) -> None:
        set_error(self.status, user_message(exc))
        self._update_buttons()
