"""`novamind gateway serve`: run the gateway app under uvicorn with TLS from IT policy."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.core.config import Settings
from app.core.errors import ConfigError

if TYPE_CHECKING:
    from app.services.context import AppContext
    from gateway.background import BackgroundSync
    from sync.transport import Transport

log = logging.getLogger("gateway")
HEADER_TIMEOUT_S = 10.0


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head: from the connection (or
    the previous response) to a complete request line and headers. uvicorn itself times only
    idle keep-alive connections, so a slow-loris client sending a header byte now and then
    would hold a connection slot for ever; here it is closed after `header_timeout_s`."""

    header_timeout_s = HEADER_TIMEOUT_S
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and self._head_timer is not None:  # a request head arrived
            self._head_timer.cancel()
            self._head_timer = None

    def handle_websocket_upgrade(self, event: Any) -> None:  # noqa: ANN401 — h11's Request
        # the head is complete and the socket now belongs to the WebSocket protocol: a timer
        # left armed here would cut a healthy hint or GraphQL socket after header_timeout_s
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            log.info("connection closed: no complete request head in %.0f s", self.header_timeout_s)
            self.transport.close()


def bind_of(settings: Settings) -> tuple[str, int]:
    """HOST and PORT from the policy's gateway_bind ("HOST:PORT", IPv6 as "[::1]:8443")."""
    host, sep, port = settings.gateway_bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("gateway_bind must be HOST:PORT (for example 10.0.0.5:8443)")
    return host, int(port)


def tls_pair(settings: Settings) -> tuple[Path, Path]:
    """The certificate and key files the policy names; both must exist (no plain HTTP)."""
    cert, key = settings.gateway_tls_cert, settings.gateway_tls_key
    if not cert or not key:
        raise ConfigError(
            "the gateway serves HTTPS only: set gateway_tls_cert and gateway_tls_key in the policy"
        )
    for path in (Path(cert), Path(key)):
        if not path.is_file():
            raise ConfigError(f"gateway TLS file not found: {path}")
    return Path(cert), Path(key)


def uvicorn_config(
    app: Starlette,
    settings: Settings,
    *,
    port: int | None = None,
    header_timeout_s: float = HEADER_TIMEOUT_S,
) -> uvicorn.Config:
    """uvicorn's Config for `app`: TLS, no URL access log (ours is PHI-free), no server header,
    idle keep-alive connections closed after 5 s and slow request heads after
    `header_timeout_s` (HeadDeadlineProtocol)."""
    host, bound = bind_of(settings)
    cert, key = tls_pair(settings)
    # uvicorn's access line holds the full URL, query string and all (names, birth dates):
    # off for good, whatever handlers a logging set-up attaches later
    logging.getLogger("uvicorn.access").disabled = True
    return uvicorn.Config(
        app,
        http=type("GatewayH11", (HeadDeadlineProtocol,), {"header_timeout_s": header_timeout_s}),
        host=host,
        port=bound if port is None else port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        access_log=False,
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=5,
        limit_concurrency=256,
        log_config=None,
        h11_max_incomplete_event_size=16 * 1024,
        # a WebSocket message larger than the body limit (64 KiB at least) closes its socket
        ws_max_size=max(64 * 1024, settings.gateway_max_body_kb * 1024),
    )


def serve(settings: Settings) -> int:
    """Open the store, build the app and serve until interrupted; returns the exit code."""
    from app.services.context import AppContext

    tls_pair(settings)  # a missing certificate stops here, before the store opens
    ctx = AppContext.open(settings, create=False)
    try:
        app, syncing = assemble(ctx)
        config = uvicorn_config(app, settings)
        host, port = bind_of(settings)
        syncing.start()
        try:
            log.info("gateway listening on %s:%d (TLS)", host, port)
            uvicorn.Server(config).run()
        finally:
            syncing.stop()
    finally:
        ctx.close()
    return 0


def assemble(
    ctx: AppContext, transport: Transport | None = None, every_s: float | None = None
) -> tuple[Starlette, BackgroundSync]:
    """The app and its (not yet started) background sync, wired together: one hub on the
    store's bus feeds GraphQL subscribers and workstation hints; a workstation's "pushed", or
    an alert or assessment this node writes itself, runs a sync round at once; a round that
    moved bundles hints every workstation."""
    from gateway import hints
    from gateway.app import create_app
    from gateway.background import BackgroundSync
    from gateway.hub import Hub

    hub = Hub()
    hub.attach(ctx.bus)
    interval = ctx.settings.gateway_sync_interval_s if every_s is None else every_s
    syncing = BackgroundSync(ctx, interval, transport, hub=hub)
    syncing.follow(ctx.bus)
    app = create_app(ctx, hub)
    hints.endpoint(app).on_pushed = syncing.trigger
    return app, syncing
