"""`novamind gateway serve`: run the gateway app under uvicorn with TLS from IT policy."""

from __future__ import annotations

import logging
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from app.core.config import Settings
from app.core.errors import ConfigError

log = logging.getLogger("novamind.gateway")


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
    app: Starlette, settings: Settings, *, port: int | None = None
) -> uvicorn.Config:
    """uvicorn's Config for `app`: TLS, no URL access log (ours is PHI-free), no server header,
    and slow clients cut off (header read timeout = keep-alive timeout)."""
    host, bound = bind_of(settings)
    cert, key = tls_pair(settings)
    # uvicorn's access line holds the full URL, query string and all (names, birth dates):
    # off for good, whatever handlers a logging set-up attaches later
    logging.getLogger("uvicorn.access").disabled = True
    return uvicorn.Config(
        app,
        http="h11",
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
    )


def serve(settings: Settings) -> int:
    """Open the store, build the app and serve until interrupted; returns the exit code."""
    from app.services.context import AppContext
    from gateway.app import create_app

    tls_pair(settings)  # a missing certificate stops here, before the store opens
    ctx = AppContext.open(settings, create=False)
    try:
        config = uvicorn_config(create_app(ctx), settings)
        host, port = bind_of(settings)
        log.info("gateway listening on %s:%d (TLS)", host, port)
        uvicorn.Server(config).run()
    finally:
        ctx.close()
    return 0
