"""Platform events and the in-process event bus.

Event names follow the platform spec. Payloads carry ids and codes only — never PHI — because
they travel to views, logs, the outbox and (after sync) the clinic's event bus.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base event: a name, the patient it concerns (UUID, may be empty) and when."""

    name: ClassVar[str] = "Event"
    patient_id: str = ""
    occurred_at: datetime = field(default_factory=_now)

    def payload(self) -> dict[str, Any]:
        """JSON-safe payload for the outbox (ids, codes and numbers only)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


class RecordType(StrEnum):
    """The kind of patient record a PatientDataUpdated event concerns.

    A StrEnum so stored payloads and subscribers comparing with plain strings see the same value.
    """

    PATIENT = "patient"
    NOTE = "note"
    ASSESSMENT = "assessment"
    ACTIGRAPHY = "actigraphy"
    ALERT = "alert"
    PREDICTION = "prediction"
    TWIN = "twin"
    MEDICATION = "medication"
    ENCOUNTER = "encounter"  # admissions (app.services.history)
    NLP = "nlp"  # note analyses and clinicians' reviews of their findings


class Change(StrEnum):
    """What happened to the record."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    SYNCED = "synced"  # merged in from another device by sync


@dataclass(frozen=True, kw_only=True)
class PatientDataUpdated(Event):
    """A record of a patient was created, changed or deleted."""

    name: ClassVar[str] = "PatientDataUpdated"
    record_type: RecordType | str  # sync passes the merged table's name
    record_id: str
    change: Change = Change.UPDATED


@dataclass(frozen=True, kw_only=True)
class AssessmentCompleted(Event):
    """An instrument (or a PAT screen) was scored."""

    name: ClassVar[str] = "AssessmentCompleted"
    assessment_id: str
    instrument: str
    total: float | None = None
    band: str = ""
    source: str = "instrument"  # instrument | pat


@dataclass(frozen=True, kw_only=True)
class PredictionGenerated(Event):
    name: ClassVar[str] = "PredictionGenerated"
    prediction_id: str
    target: str
    probability: float
    band: str
    model_version: str


@dataclass(frozen=True, kw_only=True)
class DigitalTwinUpdated(Event):
    name: ClassVar[str] = "DigitalTwinUpdated"
    snapshot_id: str
    version: int


@dataclass(frozen=True, kw_only=True)
class NLPAnalysisCompleted(Event):
    name: ClassVar[str] = "NLPAnalysisCompleted"
    analysis_id: str
    note_id: str
    model_name: str
    model_sha256: str


@dataclass(frozen=True, kw_only=True)
class AlertTriggered(Event):
    name: ClassVar[str] = "AlertTriggered"
    alert_id: str
    rule: str
    severity: str  # critical | warning | info


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        PatientDataUpdated,
        AssessmentCompleted,
        PredictionGenerated,
        DigitalTwinUpdated,
        NLPAnalysisCompleted,
        AlertTriggered,
    )
}

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], None]


class EventBus:
    """Synchronous in-process publish/subscribe.

    Services publish after their transaction commits, so a subscriber never sees an event for
    data that was rolled back. A failing subscriber is logged and does not stop the others.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Register a handler; returns a function that unsubscribes it."""
        with self._lock:
            self._handlers[event_type].append(handler)  # type: ignore[arg-type]

        def unsubscribe() -> None:
            with self._lock:
                if handler in self._handlers[event_type]:
                    self._handlers[event_type].remove(handler)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Deliver to handlers of the event's type and of its base classes."""
        with self._lock:
            handlers = [h for cls in type(event).__mro__ for h in self._handlers.get(cls, [])]
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                log.exception("event handler failed for %s", event.name)
