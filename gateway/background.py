"""The gateway keeps syncing while it serves: one `sync_service.run_sync` round right away, then
every `gateway_sync_interval_s`, and at once when `trigger` is called (a workstation said it
pushed, the gateway itself wrote an alert or an assessment), on a thread of its own, while this
node is enrolled in a clinic. Triggers coalesce: any number of them during a round cause
exactly one more round. A round that moved bundles publishes a BUNDLE hint on the hub, so the
workstations connected to /ws/hints sync at once (merged rows reach GraphQL subscribers
through the hub's bus attachment). A failed round is logged by error class only (sync_service
records it for system health) and the next round tries again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from app.core.errors import NovamindError
from app.core.events import AlertTriggered, AssessmentCompleted, Event, EventBus
from app.services import sync_service
from app.services.context import AppContext
from gateway.hub import BUNDLE, Hint, Hub
from sync import membership
from sync.engine import SyncReport
from sync.transport import Transport

log = logging.getLogger("gateway")


class BackgroundSync:
    """A daemon thread running sync rounds until `stop`; `trigger` asks for one now."""

    def __init__(
        self,
        ctx: AppContext,
        every_s: float,
        transport: Transport | None = None,
        hub: Hub | None = None,
    ) -> None:
        self.ctx, self.every_s, self.transport, self.hub = ctx, every_s, transport, hub
        self.rounds = 0  # completed rounds (for status and tests)
        self.started = self.finished = 0  # rounds begun and ended, successful or not
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)

    def trigger(self) -> None:
        """Run a round as soon as the current one (if any) ends; thread-safe, never blocks."""
        self._wake.set()

    def sync_soon(self, timeout_s: float = 60) -> bool:
        """Trigger a round and wait until a round begun after this call has ended (for the
        CLI and tests); False on timeout."""
        want = self.started + 1
        self.trigger()
        deadline = time.monotonic() + timeout_s
        while self.finished < want:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return True

    def follow(self, bus: EventBus) -> Callable[[], None]:
        """Trigger a round (to push promptly) when this node itself raises an alert or scores
        an assessment (sync merges publish neither); returns the detach function."""

        def on_event(_event: Event) -> None:
            self.trigger()

        offs = [bus.subscribe(kind, on_event) for kind in (AlertTriggered, AssessmentCompleted)]

        def detach() -> None:
            for off in offs:
                off()

        return detach

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a trigger from now on means one more round
            self.started += 1
            self.run_once()
            self.finished += 1
            self._wake.wait(self.every_s)

    def run_once(self) -> None:
        """One round if enrolled; never raises (the serving must go on)."""
        try:
            if not sync_service.sync_status(self.ctx).enrolled:
                return
            report = self._sync()
            self.rounds += 1
            log.info(
                "sync: pushed %d bundle(s), pulled %d (%d records merged)",
                report.bundles_pushed,
                report.bundles_pulled,
                report.records_merged,
            )
            if self.hub is not None and (report.bundles_pushed or report.bundles_pulled):
                me = self.ctx.store.read(membership.identity)
                self.hub.publish(Hint(BUNDLE, "", origin=me.device_id if me else ""))
        except NovamindError as exc:
            log.warning("sync round failed: %s", type(exc).__name__)
        except Exception as exc:  # a bug must not stop the gateway: class only, no values
            log.error("sync round failed unexpectedly: %s", type(exc).__name__)

    def _sync(self) -> SyncReport:
        """The round itself (a seam for tests of the scheduling)."""
        return sync_service.run_sync(self.ctx, self.transport)
