"""Core events → Qt signals on the GUI thread.

The core publishes on the thread that committed (the store's writer thread). Emitting a
signal of a QObject that lives on the GUI thread from another thread is delivered queued,
so every view slot runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, SignalInstance

from app.core.events import (
    AlertTriggered,
    AssessmentCompleted,
    DigitalTwinUpdated,
    Event,
    EventBus,
    NLPAnalysisCompleted,
    PatientDataUpdated,
    PredictionGenerated,
)


def concerns(event: object, patient_id: str | None, record_type: str) -> bool:
    """Whether a core event should reload a view of `record_type` records for `patient_id`
    (every patient when None): another patient's event never does, a data update only for its
    own record type, any other event (an alert, a completed assessment) always."""
    if patient_id and getattr(event, "patient_id", None) != patient_id:
        return False
    return not (isinstance(event, PatientDataUpdated) and event.record_type != record_type)


ALL_EVENTS: tuple[type[Event], ...] = (
    PatientDataUpdated,
    AlertTriggered,
    AssessmentCompleted,
    PredictionGenerated,
    DigitalTwinUpdated,
    NLPAnalysisCompleted,
)


class EventBridge(QObject):
    """One signal per core event type, and ``any_event`` for every bridged event; payloads are the
    frozen event objects (ids only).

    A widget bridges only the ``types`` it cares about. With a ``parent`` the bridge stops
    listening when the parent is destroyed, so a closed widget is never called from the core.
    """

    any_event = Signal(object)
    patient_data_updated = Signal(object)
    alert_triggered = Signal(object)
    assessment_completed = Signal(object)
    prediction_generated = Signal(object)
    twin_updated = Signal(object)
    nlp_completed = Signal(object)

    def __init__(
        self,
        bus: EventBus,
        parent: QObject | None = None,
        types: tuple[type[Event], ...] = ALL_EVENTS,
    ) -> None:
        super().__init__(parent)
        by_type: dict[type[Event], SignalInstance] = {
            PatientDataUpdated: self.patient_data_updated,
            AlertTriggered: self.alert_triggered,
            AssessmentCompleted: self.assessment_completed,
            PredictionGenerated: self.prediction_generated,
            DigitalTwinUpdated: self.twin_updated,
            NLPAnalysisCompleted: self.nlp_completed,
        }
        every = self.any_event

        def relay(one: SignalInstance) -> Callable[[Event], None]:
            def emit(e: Event) -> None:
                one.emit(e)
                every.emit(e)

            return emit

        unsubscribe = [bus.subscribe(t, relay(by_type[t])) for t in types]
        self._unsubscribe = unsubscribe
        if parent is not None:
            parent.destroyed.connect(lambda *_: _stop(unsubscribe))

    def close(self) -> None:
        """Stop listening (the bridge must not outlive the window)."""
        _stop(self._unsubscribe)


def _stop(unsubscribe: list[Callable[[], None]]) -> None:
    while unsubscribe:
        unsubscribe.pop()()
