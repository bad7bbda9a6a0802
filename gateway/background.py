"""The gateway keeps syncing while it serves: one `sync_service.run_sync` round right away and
then every `gateway_sync_interval_s`, on a thread of its own, while this node is enrolled in a
clinic. A failed round is logged by error class only (sync_service records it for system
health) and the next round tries again."""

from __future__ import annotations

import logging
import threading

from app.core.errors import NovamindError
from app.services import sync_service
from app.services.context import AppContext
from sync.transport import Transport

log = logging.getLogger("gateway")


class BackgroundSync:
    """A daemon thread running sync rounds until `stop`."""

    def __init__(self, ctx: AppContext, every_s: float, transport: Transport | None = None) -> None:
        self.ctx, self.every_s, self.transport = ctx, every_s, transport
        self.rounds = 0  # completed rounds (for status and tests)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.every_s)

    def run_once(self) -> None:
        """One round if enrolled; never raises (the serving must go on)."""
        try:
            if not sync_service.sync_status(self.ctx).enrolled:
                return
            report = sync_service.run_sync(self.ctx, self.transport)
            self.rounds += 1
            log.info(
                "sync: pushed %d bundle(s), pulled %d (%d records merged)",
                report.bundles_pushed,
                report.bundles_pulled,
                report.records_merged,
            )
        except NovamindError as exc:
            log.warning("sync round failed: %s", type(exc).__name__)
        except Exception as exc:  # a bug must not stop the gateway: class only, no values
            log.error("sync round failed unexpectedly: %s", type(exc).__name__)
