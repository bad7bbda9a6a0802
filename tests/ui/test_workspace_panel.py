"""The PatientPanel contract the workspace relies on: set_patient loads, a relevant change of
the shown patient reloads a visible panel (by itself through the event bridge with follow),
unsaved work is never overwritten, and other patients' or record types' changes are ignored."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QCoreApplication

from app.core.events import EventBus, PatientDataUpdated
from app.services.context import AppContext
from ui.workspace import PatientPanel


class Counting(PatientPanel):
    record_types = frozenset({"note"})

    def _build(self) -> None:
        self.loads = 0
        self.dirty = False

    def load(self) -> None:
        self.loads += 1
        self.loaded_for = self.patient_id

    def has_unsaved_changes(self) -> bool:
        return self.dirty


def _panel(qtbot: Any, ctx: AppContext, patient_id: str | None = "p1") -> Counting:
    panel = Counting(ctx, None, patient_id)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_set_patient_loads_and_clear_forgets(qtbot, ctx) -> None:
    panel = _panel(qtbot, ctx, None)
    assert panel.loads == 0
    panel.set_patient("p1")
    assert panel.loads == 1 and panel.loaded_for == "p1"
    panel.set_patient("p2", load=False)
    assert panel.loads == 1 and panel.loaded_for is None and panel.patient_id == "p2"


def test_relevant_change_of_the_shown_patient_reloads(qtbot, ctx) -> None:
    panel = _panel(qtbot, ctx)
    assert panel.loads == 1
    panel.on_data_updated("p1", "alert")  # not a record type this panel shows
    panel.on_data_updated("p2", "note")  # another patient
    assert panel.loads == 1
    panel.on_data_updated("p1", "note")
    assert panel.loads == 2
    panel.dirty = True  # never overwrite what the user is typing; stays stale
    panel.on_data_updated("p1", "note")
    assert panel.loads == 2 and panel.loaded_for is None


def test_follow_refreshes_through_the_event_bridge(qtbot, ctx) -> None:
    bus = EventBus()
    panel = _panel(qtbot, ctx)
    panel.follow(bus)
    bus.publish(PatientDataUpdated(patient_id="p1", record_type="note", record_id="n1"))
    QCoreApplication.processEvents()
    assert panel.loads == 2
