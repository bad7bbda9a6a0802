"""Fan-out of ids-only hints from the gateway's store to its live subscribers.

The gateway's event bus sees every change this node writes (a QuestionnaireResponse posted by
an EHR) and every row sync merges from the clinic's other workstations. Each becomes a `Hint`
(a kind and record ids, never chart content) delivered to every subscriber's bounded queue on
the server's event loop: GraphQL subscriptions look the record up again through the service
layer as their client (so RBAC and audit decide what it may see), and workstations treat a
hint as "sync now". A subscriber that falls behind loses its oldest hints, not the server's
memory; `dropped` says how many so it can resynchronise.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from app.core.events import (
    AlertTriggered,
    AssessmentCompleted,
    Change,
    DigitalTwinUpdated,
    Event,
    EventBus,
    PatientDataUpdated,
)

ALERT, ASSESSMENT, TWIN, BUNDLE = "alert", "assessment", "twin", "bundle"
KINDS = (ALERT, ASSESSMENT, TWIN, BUNDLE)
# tables whose synced rows are worth a hint, and the hint's kind
SYNCED_KINDS = {"alerts": ALERT, "assessment_responses": ASSESSMENT, "twin_snapshots": TWIN}
QUEUE_SIZE = 1_000  # hints held per subscriber before the oldest are dropped


@dataclass(frozen=True)
class Hint:
    """Something changed: ``kind`` (one of KINDS), the record's id, its patient's id where the
    event knew it ("" for rows merged by sync, and for bundles), and the hub's sequence
    number. ``origin`` is the device id for a BUNDLE hint ("" otherwise)."""

    kind: str
    record_id: str
    patient_id: str = ""
    origin: str = ""
    seq: int = 0


def hint_of(event: Event) -> Hint | None:
    """The hint for one bus event, or None for events subscribers do not follow."""
    if isinstance(event, AlertTriggered):
        return Hint(ALERT, event.alert_id, event.patient_id)
    if isinstance(event, AssessmentCompleted):
        return Hint(ASSESSMENT, event.assessment_id, event.patient_id)
    if isinstance(event, DigitalTwinUpdated):
        return Hint(TWIN, event.snapshot_id, event.patient_id)
    if isinstance(event, PatientDataUpdated) and event.change == Change.SYNCED:
        kind = SYNCED_KINDS.get(str(event.record_type))
        return Hint(kind, event.record_id, event.patient_id) if kind else None
    return None


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop, kinds: frozenset[str]) -> None:
        self.loop, self.kinds = loop, kinds
        self.queue: asyncio.Queue[Hint] = asyncio.Queue(QUEUE_SIZE)
        self.dropped = 0

    def offer(self, hint: Hint) -> None:
        """On the subscriber's loop: enqueue, dropping the oldest when full."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(hint)


class Subscription:
    """What `Hub.subscribe` yields: ``async for hint in sub`` and the drop count."""

    def __init__(self, sub: _Subscriber) -> None:
        self._sub = sub

    @property
    def dropped(self) -> int:
        return self._sub.dropped

    def __aiter__(self) -> AsyncIterator[Hint]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Hint]:
        while True:
            yield await self._sub.queue.get()

    async def next(self, timeout_s: float | None = None) -> Hint:
        """The next hint; asyncio.TimeoutError after ``timeout_s``."""
        return await asyncio.wait_for(self._sub.queue.get(), timeout_s)


class Hub:
    """Thread-safe publish (from the bus, sync threads, request threads) to subscribers on
    their asyncio loops."""

    def __init__(self) -> None:
        self._subs: set[_Subscriber] = set()
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Publish a hint for every followed event on ``bus``; returns the detach function."""
        offs = [
            bus.subscribe(kind, self._on_event)
            for kind in (AlertTriggered, AssessmentCompleted, DigitalTwinUpdated)
        ]
        offs.append(bus.subscribe(PatientDataUpdated, self._on_event))

        def detach() -> None:
            for off in offs:
                off()

        return detach

    def _on_event(self, event: Event) -> None:
        hint = hint_of(event)
        if hint is not None:
            self.publish(hint)

    def publish(self, hint: Hint) -> Hint:
        """Number the hint and hand it to every subscriber of its kind; returns it numbered."""
        numbered = Hint(hint.kind, hint.record_id, hint.patient_id, hint.origin, next(self._seq))
        with self._lock:
            subs = [s for s in self._subs if numbered.kind in s.kinds]
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub.offer, numbered)
            except RuntimeError:  # its loop has closed: the subscriber is going away
                continue
        return numbered

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    @asynccontextmanager
    async def subscribe(self, kinds: tuple[str, ...] = KINDS) -> AsyncIterator[Subscription]:
        """Receive hints of ``kinds`` on the running loop until the block exits."""
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown hint kind(s): {sorted(unknown)}")
        sub = _Subscriber(asyncio.get_running_loop(), frozenset(kinds))
        with self._lock:
            self._subs.add(sub)
        try:
            yield Subscription(sub)
        finally:
            with self._lock:
                self._subs.discard(sub)
