"""Audit tab: the patient's audit trail, and ending emergency (break-glass) access early for
those the service layer allows."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QPushButton

from app.services import overview, patients
from app.services.access import Feature, may
from ui.widgets import fill_table, table_widget
from ui.workspace.panel import ALL_RECORDS, PatientPanel, padded_layout, when


class AuditTab(PatientPanel):
    record_types = ALL_RECORDS

    def _build(self) -> None:
        lay = padded_layout(self)
        self.table = table_widget(("#", "When", "Actor", "Role", "Action", "Record"), "Audit trail")
        lay.addWidget(self.table)
        # a supervisor ends emergency (break-glass) access early; shown only while a grant runs
        self.grant_ids: list[str] = []
        self.revoke_button = QPushButton("Revoke emergency access")
        self.revoke_button.setAccessibleName("Revoke emergency access to this patient")
        self.revoke_button.clicked.connect(self.revoke_grants)
        self.revoke_button.hide()
        lay.addWidget(self.revoke_button)

    def load(self) -> None:
        ctx, who, pid = self.ctx, self.user, self.patient
        self.fetch(overview.patient_audit, "Loading audit trail", self._show)
        if may(who, Feature.REVOKE_BREAK_GLASS):
            self.call(
                patients.active_break_glass,
                ctx,
                who,
                pid,
                label="Checking emergency access",
                on_done=self._show_grants,
                loads=False,  # the trail, not this check, makes the tab loaded
            )

    def _show(self, rows: list[Any]) -> None:
        fill_table(
            self.table,
            [
                (str(e.seq), when(e.at), e.actor_id[:8], e.actor_role, e.action, e.record_type)
                for e in rows
            ],
        )

    def _show_grants(self, ids: list[str]) -> None:
        self.grant_ids = ids
        self.revoke_button.setText(f"Revoke emergency access ({len(ids)})")
        self.revoke_button.setVisible(bool(ids))

    def revoke_grants(self) -> None:
        """Revoke every running grant on this patient (the service checks and audits)."""
        for gid in self.grant_ids:
            self.call(
                patients.revoke_break_glass,
                self.ctx,
                self.principal,
                gid,
                label="Revoking emergency access",
                on_done=lambda _r: self.load(),
            )
        self.grant_ids = []
        self.revoke_button.hide()

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)
        self._show_grants([])
