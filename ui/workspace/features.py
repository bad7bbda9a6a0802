"""Tabs that host one heavy widget, built on first use and rebuilt when another user signs in
(the widget holds the principal): the feature panels of ui.panels (note analysis,
actigraphy, predictions) and the 3D twin (ui.workspace.twin)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from PySide6.QtWidgets import QVBoxLayout

from ui.workspace.panel import PatientPanel

if TYPE_CHECKING:
    from ui.twin import TwinView

H = TypeVar("H", "PatientPanel", "TwinView")


class HostTab(PatientPanel, Generic[H]):
    """Hosts one widget made by ``make``; ``show_patient`` hands it the patient."""

    def _build(self) -> None:
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.hosted: H | None = None

    def make(self) -> H:
        """Build the hosted widget for the signed-in user (override)."""
        raise NotImplementedError

    def show_patient(self, hosted: H) -> None:
        """Give the hosted widget the current patient (override)."""
        raise NotImplementedError

    def _ensure(self) -> H:
        if self.hosted is not None and self.hosted.principal != self.principal:
            self.shutdown()
        if self.hosted is None:
            self.hosted = self.make()
            self.lay.addWidget(self.hosted)
            self.hosted.show()  # a child added to an already visible tab starts hidden
        return self.hosted

    def load(self) -> None:
        if self.principal is None or self.patient_id is None:
            return
        self.show_patient(self._ensure())
        self.loaded_for = self.patient_id

    def clear(self) -> None:
        super().clear()
        if self.hosted is not None:
            self.hosted.clear()

    def shutdown(self) -> None:
        """Release the hosted widget (sign-in of another user, window closing)."""
        if self.hosted is not None:
            self.hosted.shutdown()
            self.hosted.deleteLater()
            self.hosted = None


class PanelTab(HostTab[PatientPanel]):
    """Hosts a feature panel; it reloads the same patient or switches to another."""

    @property
    def panel(self) -> PatientPanel | None:
        return self.hosted

    def _ensure(self) -> PatientPanel:
        fresh = self.hosted is None or self.hosted.principal != self.principal
        panel = super()._ensure()
        if fresh:
            panel.error.connect(self.error)
        return panel

    def show_patient(self, hosted: PatientPanel) -> None:
        if hosted.patient_id == self.patient_id:
            hosted.load()
        else:
            hosted.set_patient(self.patient_id)


class AnalysisTab(PanelTab):
    record_types = frozenset({"note", "nlp"})

    def make(self) -> PatientPanel:
        from ui.panels.notes_analysis import NotesAnalysisPanel

        return NotesAnalysisPanel(self.ctx, self.principal, None, tasks=self.tasks)


class ActigraphyTab(PanelTab):
    record_types = frozenset({"actigraphy"})

    def make(self) -> PatientPanel:
        from ui.panels.actigraphy import ActigraphyPanel

        return ActigraphyPanel(self.ctx, self.principal, None, tasks=self.tasks)


class PredictionsTab(PanelTab):
    record_types = frozenset(
        {"prediction", "patient", "assessment", "medication", "encounter", "nlp", "actigraphy"}
    )

    def make(self) -> PatientPanel:
        from ui.panels.predictions import PredictionsPanel

        return PredictionsPanel(self.ctx, self.principal, None, tasks=self.tasks)
