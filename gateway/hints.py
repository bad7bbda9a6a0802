"""Workstation hints over WebSocket at /ws/hints: "a bundle (or an alert) arrived, sync now".

A workstation, not an OAuth client, connects: the gateway sends a fresh nonce, the workstation
answers with its device id and an Ed25519 signature by its device key (sync.hint_protocol),
and the gateway checks it against the clinic registry it verified from IT's key (certified,
not revoked). Then the gateway forwards the hub's BUNDLE and ALERT hints (ids and counters
only) and the workstation may say "pushed" after it uploaded bundles: the gateway tells every
other workstation at once and runs a sync round of its own (`on_pushed`).

Every refusal closes the socket with a 44xx code (4401 unauthenticated, 4403 revoked, 4400
malformed, 1009 too large) and leaves a ``gateway.refused`` audit event without PHI. A client
that does not take its hints in time (its hub queue overflowed, or a send stalls) is dropped:
it reconnects and syncs once to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.core.store.store import Actor
from gateway.hub import ALERT, BUNDLE, Hint, Subscription
from gateway.ratelimit import RateLimiter
from sync import hint_protocol as hp
from sync import membership, state
from sync.identity import TrustError
from sync.registry import Registry

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway")
FORWARDED = (BUNDLE, ALERT)  # what a workstation needs to hear: both mean "sync now"
PUSHED_PER_MIN = 60  # "pushed" messages honoured per device a minute (more are ignored)
HELLOS_PER_MIN = 60  # connection attempts per remote address a minute
SEND_TIMEOUT_S = 5.0  # a hint the client has not taken in this time: it is dropped
ANONYMOUS = Actor(id="gateway:anonymous", role="")


class RefusedError(Exception):
    """Close the socket with ``code`` after auditing ``why`` (short, no PHI)."""

    def __init__(self, code: int, why: str, device: str = "") -> None:
        super().__init__(why)
        self.code, self.why, self.device = code, why, device


class HintEndpoint:
    """The /ws/hints handler of one gateway; `on_pushed` is its sync trigger (serve.py)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.on_pushed: Callable[[], None] | None = None
        self.pushed = RateLimiter(PUSHED_PER_MIN)
        self.hellos = RateLimiter(HELLOS_PER_MIN)
        self.connected: set[str] = set()  # device ids signed in now (for status and tests)
        self._registry: tuple[str, Registry] | None = None

    # --- the clinic registry as this gateway verified it --------------------------------------

    def _identity_and_registry(self) -> tuple[membership.Identity, Registry] | None:
        def read(s: Session) -> tuple[membership.Identity | None, str]:
            return membership.identity(s), state.get(s, state.REGISTRY)

        ident, text = self.gw.ctx.store.read(read)
        if ident is None:
            return None
        cached = self._registry
        if cached is None or cached[0] != text:
            cached = (text, Registry.from_meta(ident.clinic_id, ident.it_public, text))
            self._registry = cached
        return ident, cached[1]

    def _revoked(self, device: str) -> bool:
        """Has IT revoked ``device`` since it signed in (as of this gateway's last round)?"""
        found = self._identity_and_registry()
        return found is None or device in found[1].revoked

    def _audit(self, r: RefusedError, addr: str) -> None:
        detail = {
            "route": hp.PATH,
            "status": r.code,
            "code": _CODES.get(r.code, "processing"),
            "reason": r.why,
            "client_id": "",
        }
        who = ANONYMOUS
        if r.device:  # only a device the registry knows is named (never a claimed string)
            detail["device"] = r.device
            who = Actor(id=f"device:{r.device}", role="")
        self.gw.ctx.store.write(lambda uow: uow.audit(who, "gateway.refused", detail=detail))
        log.info("WS %s refused %d (%s) addr=%s", hp.PATH, r.code, r.why, addr)

    def _trigger(self) -> None:
        if self.on_pushed is not None:
            self.on_pushed()

    # --- the connection -----------------------------------------------------------------------

    async def handle(self, ws: WebSocket) -> None:
        addr = ws.client.host if ws.client else "?"
        await ws.accept()
        device = ""
        try:
            if not self.hellos.allow(addr):
                raise RefusedError(hp.CLOSE_UNAUTHENTICATED, "too many connection attempts")
            device = await self._authenticate(ws)
            self.connected.add(device)
            log.info("WS %s device %s signed in", hp.PATH, device)
            await ws.send_text(hp.READY)
            await self._serve(ws, device)
        except RefusedError as r:
            await run_in_threadpool(self._audit, r, addr)
            with contextlib.suppress(Exception):
                await ws.close(r.code)
        except WebSocketDisconnect:
            pass
        finally:
            self.connected.discard(device)

    async def _receive(self, ws: WebSocket, device: str) -> str:
        """One text frame, refused when it is binary or larger than the protocol allows."""
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))
        text, data = msg.get("text"), msg.get("bytes")
        size = len(text.encode()) if text is not None else len(data or b"")
        if size > hp.MAX_FRAME:
            raise RefusedError(hp.CLOSE_TOO_BIG, "frame too large", device)
        if text is None:
            raise RefusedError(hp.CLOSE_MALFORMED, "binary frame", device)
        return text

    async def _authenticate(self, ws: WebSocket) -> str:
        """The device id of a verified hello; RefusedError otherwise."""
        found = await run_in_threadpool(self._identity_and_registry)
        if found is None:
            raise RefusedError(hp.CLOSE_FORBIDDEN, "gateway not enrolled")
        ident, _ = found
        nonce = hp.new_nonce()
        await ws.send_text(hp.challenge(nonce, ident.device_id))
        try:
            frame = await asyncio.wait_for(self._receive(ws, ""), hp.HELLO_TIMEOUT_S)
        except TimeoutError:
            raise RefusedError(hp.CLOSE_UNAUTHENTICATED, "no hello in time") from None
        try:
            h = hp.parse_hello(frame)
        except hp.ProtocolError:
            raise RefusedError(hp.CLOSE_UNAUTHENTICATED, "malformed or unsigned hello") from None
        found = await run_in_threadpool(self._identity_and_registry)
        if found is None:
            raise RefusedError(hp.CLOSE_FORBIDDEN, "gateway not enrolled")
        _, reg = found
        known = h.device if h.device in reg.devices else ""
        try:
            hp.verify_hello(reg, h, nonce, ident.device_id, int(time.time() * 1000))
        except hp.RevokedError:
            raise RefusedError(hp.CLOSE_FORBIDDEN, "device revoked", known) from None
        except TrustError as exc:
            if not known:  # perhaps certified after this gateway's last round: refresh soon
                self._trigger()
            raise RefusedError(hp.CLOSE_UNAUTHENTICATED, _reason(exc), known) from None
        return h.device

    async def _serve(self, ws: WebSocket, device: str) -> None:
        """Forward hints and read "pushed" until either side stops."""
        async with self.gw.hub.subscribe(FORWARDED) as sub:
            tasks = [
                asyncio.create_task(self._read(ws, device)),
                asyncio.create_task(self._write(ws, device, sub)),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for t in done:
                exc = t.exception()
                if exc is not None:
                    raise exc

    async def _read(self, ws: WebSocket, device: str) -> None:
        while True:
            frame = await self._receive(ws, device)
            try:
                hp.parse_pushed(frame)
            except hp.ProtocolError:
                raise RefusedError(hp.CLOSE_MALFORMED, "malformed message", device) from None
            if not self.pushed.allow(device):
                continue  # a round is coming anyway; flooding buys nothing
            if await run_in_threadpool(self._revoked, device):
                raise RefusedError(hp.CLOSE_FORBIDDEN, "device revoked", device)
            self.gw.hub.publish(Hint(BUNDLE, "", origin=device))
            self._trigger()

    async def _write(self, ws: WebSocket, device: str, sub: Subscription) -> None:
        async for h in sub:
            if sub.dropped:
                raise RefusedError(hp.CLOSE_SLOW, "client too slow", device)
            if h.origin == device:
                continue  # its own push: it knows
            if await run_in_threadpool(self._revoked, device):  # revoked while connected
                raise RefusedError(hp.CLOSE_FORBIDDEN, "device revoked", device)
            try:
                await asyncio.wait_for(
                    ws.send_text(hp.hint(h.kind, h.seq, h.origin)), SEND_TIMEOUT_S
                )
            except TimeoutError:
                raise RefusedError(hp.CLOSE_SLOW, "client too slow", device) from None


# the audit's issue code for each close code (the REST refusals' vocabulary)
_CODES = {
    hp.CLOSE_UNAUTHENTICATED: "login",
    hp.CLOSE_FORBIDDEN: "forbidden",
    hp.CLOSE_MALFORMED: "structure",
    hp.CLOSE_TOO_BIG: "too-costly",
    hp.CLOSE_SLOW: "timeout",
}


def _reason(exc: TrustError) -> str:
    """The audit's short reason: the TrustError's own text (fixed strings, no values)."""
    return str(exc)[:80]


_ENDPOINTS: weakref.WeakKeyDictionary[Gateway, HintEndpoint] = weakref.WeakKeyDictionary()


def endpoint(app: Starlette) -> HintEndpoint:
    """The hint endpoint of a gateway app (serve.py sets its `on_pushed`)."""
    return _ENDPOINTS[app.state.gateway]


def routes(gw: Gateway) -> list[BaseRoute]:
    """The workstation hint endpoint's route."""
    ep = HintEndpoint(gw)
    _ENDPOINTS[gw] = ep
    return [WebSocketRoute(hp.PATH, ep.handle)]
