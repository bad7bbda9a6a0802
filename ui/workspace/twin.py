"""Twin tab: the 3D digital twin (ui.twin.TwinView), built on first use so VTK never slows
start-up, and rebuilt when another user signs in (the view holds the principal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ui.workspace.features import HostTab

if TYPE_CHECKING:
    from ui.twin import TwinView


class TwinTab(HostTab["TwinView"]):
    record_types = frozenset({"twin", "prediction", "assessment", "actigraphy"})

    @property
    def view(self) -> TwinView | None:
        return self.hosted

    def make(self) -> TwinView:
        from ui.twin import TwinView

        return TwinView(self.ctx, self.user, tasks=self.tasks)

    def show_patient(self, hosted: TwinView) -> None:
        hosted.set_patient(self.patient_id)
