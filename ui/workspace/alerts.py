"""Alerts tab: the patient's alerts; acknowledge, resolve or dismiss (with a reason)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QPushButton

from app.services import alerts, overview
from ui.widgets import fill_table, table_widget
from ui.workspace.panel import PatientPanel, padded_layout, when


class AlertsTab(PatientPanel):
    record_types = frozenset({"alert"})

    def _build(self) -> None:
        lay = padded_layout(self)
        self.table = table_widget(
            ("Triggered", "Severity", "Rule", "Status", "Resolution"), "Alerts"
        )
        row = QHBoxLayout()
        self.ack = QPushButton("&Acknowledge")
        self.resolve = QPushButton("&Resolve")
        self.dismiss = QPushButton("&Dismiss…")
        for b in (self.ack, self.resolve, self.dismiss):
            b.setAccessibleName(b.text().replace("&", "").rstrip("…") + " alert")
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        self.ack.clicked.connect(lambda: self.act("acknowledged"))
        self.resolve.clicked.connect(lambda: self.act("resolved"))
        self.dismiss.clicked.connect(lambda: self.act("dismissed"))

    def load(self) -> None:
        self.fetch(overview.list_patient_alerts, "Loading alerts", self._show)

    def _show(self, rows: list[Any]) -> None:
        fill_table(
            self.table,
            [(when(a.triggered_at), a.severity, a.rule, a.status, a.resolution) for a in rows],
            keys=[a.id for a in rows],
        )

    def selected_alert(self) -> str | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def act(self, status: str, reason: str | None = None) -> None:
        alert_id = self.selected_alert()
        if alert_id is None:
            return
        if status == "dismissed" and reason is None:
            reason, ok = QInputDialog.getText(self, "Dismiss alert", "Why is it dismissed?")
            if not ok:
                return
        self.tasks.call(
            alerts.transition,
            self.ctx,
            self.principal,
            alert_id,
            status,
            reason or "",
            label="Updating alert",
            on_done=lambda _r: None,
            on_error=self.show_error,
        )

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)
