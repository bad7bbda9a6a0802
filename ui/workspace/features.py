"""Tabs whose content is one of the feature panels of ui.panels (note analysis, actigraphy,
predictions). The panel is built on first use (its imports are heavy), rebuilt when another
user signs in (it holds the principal), gets the patient on load and drops its PHI on clear."""

from __future__ import annotations

from PySide6.QtWidgets import QVBoxLayout

from ui.workspace.panel import PatientPanel


class PanelTab(PatientPanel):
    """Hosts one feature panel; subclasses say which one in ``make_panel``."""

    def _build(self) -> None:
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.panel: PatientPanel | None = None

    def make_panel(self) -> PatientPanel:
        """Build the feature panel for the signed-in user (override)."""
        raise NotImplementedError

    def _ensure_panel(self) -> PatientPanel:
        if self.panel is not None and self.panel.principal != self.principal:
            self.shutdown()
        if self.panel is None:
            self.panel = self.make_panel()
            self.panel.error.connect(self.error)
            self.lay.addWidget(self.panel)
            self.panel.show()  # a child added to an already visible tab starts hidden
        return self.panel

    def load(self) -> None:
        if self.principal is None or self.patient_id is None:
            return
        panel = self._ensure_panel()
        if panel.patient_id == self.patient_id:
            panel.load()
        else:
            panel.set_patient(self.patient_id)
        self.loaded_for = self.patient_id

    def clear(self) -> None:
        super().clear()
        if self.panel is not None:
            self.panel.clear()

    def shutdown(self) -> None:
        """Release the panel (sign-in of another user, window closing)."""
        if self.panel is not None:
            self.panel.shutdown()
            self.panel.deleteLater()
            self.panel = None


class AnalysisTab(PanelTab):
    record_types = frozenset({"note", "nlp"})

    def make_panel(self) -> PatientPanel:
        from ui.panels.notes_analysis import NotesAnalysisPanel

        return NotesAnalysisPanel(self.ctx, self.principal, None, tasks=self.tasks)


class ActigraphyTab(PanelTab):
    record_types = frozenset({"actigraphy"})

    def make_panel(self) -> PatientPanel:
        from ui.panels.actigraphy import ActigraphyPanel

        return ActigraphyPanel(self.ctx, self.principal, None, tasks=self.tasks)


class PredictionsTab(PanelTab):
    record_types = frozenset({"prediction"})

    def make_panel(self) -> PatientPanel:
        from ui.panels.predictions import PredictionsPanel

        return PredictionsPanel(self.ctx, self.principal, None, tasks=self.tasks)
