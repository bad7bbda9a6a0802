"""Twin tab: the 3D digital twin (ui.twin.TwinView), built on first use so VTK never slows
start-up, and rebuilt when another user signs in (the view holds the principal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QVBoxLayout

from ui.workspace.panel import PatientPanel

if TYPE_CHECKING:
    from ui.twin import TwinView


class TwinTab(PatientPanel):
    record_types = frozenset({"twin", "prediction", "assessment", "actigraphy"})

    def _build(self) -> None:
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.view: TwinView | None = None

    def _ensure_view(self) -> TwinView:
        if self.view is not None and self.view.principal != self.principal:
            self.shutdown()
        if self.view is None:
            from ui.twin import TwinView

            self.view = TwinView(self.ctx, self.principal, tasks=self.tasks)
            self.lay.addWidget(self.view)
            self.view.show()  # a child added to an already visible tab starts hidden
        return self.view

    def load(self) -> None:
        if self.principal is None or self.patient_id is None:
            return
        self._ensure_view().set_patient(self.patient_id)
        self.loaded_for = self.patient_id

    def clear(self) -> None:
        super().clear()
        if self.view is not None:
            self.view.clear()

    def shutdown(self) -> None:
        """Release the 3D scene and its charts (window closing, another user)."""
        if self.view is not None:
            self.view.shutdown()
            self.view.deleteLater()
            self.view = None
