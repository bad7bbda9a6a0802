"""Instant sync on a workstation: a signed-in WebSocket to the clinic gateway's /ws/hints.

When IT's policy names the gateway (`gateway_hints_url`, wss:// only, trusting
`gateway_ca_cert`), a background thread keeps one connection open (reconnecting with
backoff) and calls `on_hint` — "sync now", debounced — when the gateway says another
workstation pushed a bundle or an alert was merged, and once after each (re)connection to
catch up on what it missed. `notify_pushed` tells the gateway this workstation has just
uploaded bundles. Without the setting, or while disconnected, nothing changes: the periodic
sync is the fallback. Frames carry ids and counters only; logs name error classes only.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from app.core.config import Settings
from app.core.errors import ConfigError
from app.services.context import AppContext
from sync import hint_protocol as hp
from sync import identity, membership

log = logging.getLogger(__name__)
DEBOUNCE_S = 0.05  # hints this close together cause one "sync now"
BACKOFF_S = (0.5, 30.0)  # first and largest wait before reconnecting (doubled, with jitter)
PING_S = 15.0  # keepalive: a ping every PING_S, the connection dropped after PING_S unanswered


def configured(settings: Settings) -> bool:
    """Does IT's policy name a gateway for hints?"""
    return bool(settings.gateway_hints_url)


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS for the hint socket: the clinic CA from policy (else the system store)."""
    url = settings.gateway_hints_url
    if urlsplit(url).scheme != "wss":
        raise ConfigError(
            "gateway_hints_url must be a wss:// address (the gateway serves TLS only)",
            hint='IT sets gateway_hints_url = "wss://HOST:PORT/ws/hints" in the policy.',
        )
    ca = settings.gateway_ca_cert
    try:
        return ssl.create_default_context(cafile=ca or None)
    except (OSError, ssl.SSLError):
        raise ConfigError(f"gateway_ca_cert cannot be read: {ca}") from None


class InstantSync:
    """The hint client of one workstation; `start` once, `stop` on exit. Thread-safe."""

    def __init__(
        self,
        ctx: AppContext,
        on_hint: Callable[[], None],
        on_state: Callable[[bool], None] | None = None,
        *,
        debounce_s: float = DEBOUNCE_S,
    ) -> None:
        self.url = ctx.settings.gateway_hints_url
        self._ssl = ssl_context(ctx.settings)
        ident = membership.require_identity(ctx.store)
        self._clinic, self.device = ident.clinic_id, ident.device_id
        self._key = identity.load_device_keys(
            ctx.settings.keyring_service, ctx.settings.db_path
        ).sign
        self.on_hint, self.on_state, self.debounce_s = on_hint, on_state, debounce_s
        self.hints = 0  # hints received (for status and tests)
        self.connections = 0  # successful sign-ins
        self.last_close = 0  # the close code of the last connection (0: none yet)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: ClientConnection | None = None
        self._stop: asyncio.Event | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._main, name="instant-sync", daemon=True)
        self._ready = threading.Event()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def stop(self, timeout_s: float = 5) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop has already closed
                pass
        self._thread.join(timeout_s)

    def notify_pushed(self) -> None:
        """Tell the gateway this workstation uploaded bundles (ignored while disconnected)."""
        loop = self._loop
        if loop is None or self._ws is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._send_pushed(), loop)
        except RuntimeError:
            pass

    # --- the loop thread ----------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        delay = BACKOFF_S[0]
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self._session()
            except ConnectionClosed as exc:
                self.last_close = exc.rcvd.code if exc.rcvd is not None else 1006
                log.info("gateway hints: closed (%d)", self.last_close)
            except (OSError, TimeoutError, WebSocketException, hp.ProtocolError) as exc:
                log.info("gateway hints: disconnected (%s)", type(exc).__name__)
            except Exception as exc:  # a bug must not end the fallback: class only
                log.error("gateway hints failed unexpectedly: %s", type(exc).__name__)
            self._set_state(None)
            if time.monotonic() - started > 60:
                delay = BACKOFF_S[0]  # it was up a good while: reconnect promptly
            wait = delay * random.uniform(0.5, 1.0)  # noqa: S311  # nosec B311 — jitter
            delay = min(delay * 2, BACKOFF_S[1])
            try:
                await asyncio.wait_for(self._stop.wait(), wait)
            except TimeoutError:
                pass

    async def _session(self) -> None:
        stop = self._stop
        if stop is None:
            return
        async with connect(
            self.url,
            ssl=self._ssl,
            max_size=hp.MAX_FRAME,
            ping_interval=PING_S,
            ping_timeout=PING_S,
            open_timeout=10,
            close_timeout=2,
            compression=None,
        ) as ws:
            ch = hp.parse_challenge(await asyncio.wait_for(ws.recv(), 10))
            ts = int(time.time() * 1000)
            await ws.send(hp.hello(self._key, self._clinic, self.device, ch, ts))
            hp.parse_ready(await asyncio.wait_for(ws.recv(), 10))
            self.connections += 1
            self._set_state(ws)
            self._schedule()  # catch up on what happened while disconnected
            stopping = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    receiving = asyncio.create_task(ws.recv())
                    await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    if not receiving.done():
                        receiving.cancel()
                        break
                    msg = hp.parse_hint(receiving.result())
                    self.hints += 1
                    if msg.origin != self.device:
                        self._schedule()
            finally:
                stopping.cancel()

    async def _send_pushed(self) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(hp.PUSHED)
        except WebSocketException as exc:
            log.info("gateway hints: pushed not sent (%s)", type(exc).__name__)

    def _set_state(self, ws: ClientConnection | None) -> None:
        was = self._ws is not None
        self._ws = ws
        if was != (ws is not None):
            log.info("gateway hints: %s", "connected" if ws is not None else "disconnected")
            if self.on_state is not None:
                self._call(self.on_state, ws is not None)

    def _schedule(self) -> None:
        """Call `on_hint` after the debounce unless a call is already waiting."""
        if self._pending is not None or self._loop is None:
            return
        self._pending = self._loop.call_later(self.debounce_s, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._call(self.on_hint)

    @staticmethod
    def _call(fn: Callable[..., None], *args: object) -> None:
        try:
            fn(*args)
        except Exception as exc:  # the callback's bug must not end the connection
            log.error("gateway hints callback failed: %s", type(exc).__name__)
