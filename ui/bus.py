"""Core events → Qt signals on the GUI thread.

The core publishes on the thread that committed (the store's writer thread). Emitting a
signal of a QObject that lives on the GUI thread from another thread is delivered queued,
so every view slot runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from app.events import (
    AlertTriggered,
    AssessmentCompleted,
    DigitalTwinUpdated,
    Event,
    EventBus,
    NLPAnalysisCompleted,
    PatientDataUpdated,
    PredictionGenerated,
)


class EventBridge(QObject):
    """One signal per core event type; payloads are the frozen event objects (ids only)."""

    patient_data_updated = Signal(object)
    alert_triggered = Signal(object)
    assessment_completed = Signal(object)
    prediction_generated = Signal(object)
    twin_updated = Signal(object)
    nlp_completed = Signal(object)

    def __init__(self, bus: EventBus, parent: QObject | None = None) -> None:
        super().__init__(parent)
        pairs: list[tuple[type[Event], Signal]] = [
            (PatientDataUpdated, self.patient_data_updated),
            (AlertTriggered, self.alert_triggered),
            (AssessmentCompleted, self.assessment_completed),
            (PredictionGenerated, self.prediction_generated),
            (DigitalTwinUpdated, self.twin_updated),
            (NLPAnalysisCompleted, self.nlp_completed),
        ]
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(event_type, lambda e, s=signal: s.emit(e)) for event_type, signal in pairs
        ]

    def close(self) -> None:
        """Stop listening (the bridge must not outlive the window)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
