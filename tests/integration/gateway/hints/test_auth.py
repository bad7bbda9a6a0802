"""Who may hold a hint socket: only a workstation whose hello is signed by the device key IT
certified, over this connection's nonce, and not revoked. Everything else is closed with
4401/4403 (1009 for an oversize frame, 4400 for a malformed one), leaves one
``gateway.refused`` audit event without PHI, and changes nothing else: no hint, no sync."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.store.models import AuditEvent
from gateway.hints import PUSHED_PER_MIN
from gateway.hub import BUNDLE, QUEUE_SIZE, Hint
from sync import hint_protocol as hp
from sync import identity, membership
from sync.identity import DeviceKeys, b64
from tests.integration.gateway.hints.conftest import Site, close_code, open_raw, sign_in
from tests.integration.sync.helpers import Workstation, device_of


def refusals(site: Site) -> list[dict[str, Any]]:
    rows = site.gw.node.ctx.store.read(
        lambda s: list(
            s.scalars(
                select(AuditEvent.detail_json)
                .where(AuditEvent.action == "gateway.refused")
                .order_by(AuditEvent.seq)
            )
        )
    )
    return [json.loads(r) for r in rows]


def audit_count(site: Site) -> int:
    return site.gw.node.ctx.store.read(
        lambda s: s.scalar(select(func.count()).select_from(AuditEvent)) or 0
    )


def signing_key(ws: Workstation) -> Any:  # noqa: ANN401
    s = ws.ctx.settings
    return identity.load_device_keys(s.keyring_service, s.db_path).sign


def test_a_certified_workstation_signs_in_and_hears_the_others_pushes(site: Site) -> None:
    a, b = site.stations("ws-a", "ws-b")

    async def go() -> list[str]:
        ca, cb = await sign_in(site.gw, a), await sign_in(site.gw, b)
        hp.parse_ready(await ca.recv())
        hp.parse_ready(await cb.recv())
        await ca.send(hp.PUSHED)
        frame = await asyncio.wait_for(cb.recv(), 5)
        try:  # A hears nothing about its own push
            extra = await asyncio.wait_for(ca.recv(), 0.5)
        except TimeoutError:
            extra = ""
        await ca.close()
        await cb.close()
        return [frame, extra]

    try:
        frame, extra = asyncio.run(go())
        msg = hp.parse_hint(frame)
        assert (msg.kind, msg.origin) == ("bundle", device_of(a))
        assert set(json.loads(frame)) == {"type", "kind", "seq", "origin"}
        assert extra == ""
        assert refusals(site) == []
    finally:
        a.close()
        b.close()


def _hello_doc(ws: Workstation, ch: hp.Challenge, **over: Any) -> str:  # noqa: ANN401
    ident = membership.require_identity(ws.ctx.store)
    doc = json.loads(hp.hello(signing_key(ws), ident.clinic_id, ident.device_id, ch, _now()))
    doc.update(over)
    return json.dumps({k: v for k, v in doc.items() if v is not None})


def _now() -> int:
    return int(time.time() * 1000)


async def _attempt(site: Site, answer: Callable[[hp.Challenge], Awaitable[str] | str]) -> int:
    conn = await open_raw(site.gw)
    ch = hp.parse_challenge(await conn.recv())
    frame = answer(ch)
    await conn.send(frame if isinstance(frame, str) else await frame)
    return await close_code(conn)


def test_bad_hellos_are_closed_and_audited(site: Site) -> None:
    a, c = site.stations("ws-a", "ws-c")
    ident = membership.require_identity(a.ctx.store)
    stranger = DeviceKeys.generate()
    cases: dict[str, Callable[[hp.Challenge], str]] = {
        "unsigned": lambda ch: _hello_doc(a, ch, sig=None),
        "signature of another key": lambda ch: hp.hello(
            stranger.sign, ident.clinic_id, ident.device_id, ch, _now()
        ),
        "unknown device": lambda ch: hp.hello(
            stranger.sign, ident.clinic_id, "00000000-0000-4000-8000-000000000000", ch, _now()
        ),
        "signed for another gateway": lambda ch: hp.hello(
            signing_key(a),
            ident.clinic_id,
            ident.device_id,
            hp.Challenge(ch.nonce, "another-gateway"),
            _now(),
        ),
        "stale timestamp": lambda ch: hp.hello(
            signing_key(a), ident.clinic_id, ident.device_id, ch, _now() - 10 * hp.MAX_SKEW_MS
        ),
        "garbage": lambda _ch: "not json at all",
        "zero-length signature": lambda ch: _hello_doc(a, ch, sig=b64(b"")),
    }
    try:
        for name, answer in cases.items():
            before = len(refusals(site))
            code = asyncio.run(_attempt(site, answer))
            after = refusals(site)
            assert code == hp.CLOSE_UNAUTHENTICATED, name
            assert len(after) == before + 1, name
            assert after[-1]["status"] == hp.CLOSE_UNAUTHENTICATED, name
            assert after[-1]["route"] == hp.PATH
        assert not site.gw.hints.connected

        # a replayed hello: valid on its own connection, refused on the next (new nonce)
        async def replay() -> tuple[str, int]:
            first = await open_raw(site.gw)
            ch = hp.parse_challenge(await first.recv())
            captured = hp.hello(signing_key(a), ident.clinic_id, ident.device_id, ch, _now())
            await first.send(captured)
            ready = await first.recv()
            await first.close()
            second = await open_raw(site.gw)
            await second.recv()
            await second.send(captured)
            return ready, await close_code(second)

        before = len(refusals(site))
        ready, code = asyncio.run(replay())
        hp.parse_ready(ready)
        assert code == hp.CLOSE_UNAUTHENTICATED
        assert refusals(site)[-1]["device"] == ident.device_id
        assert len(refusals(site)) == before + 1

        # a revoked device: IT revokes it, the gateway's next round learns it, 4403
        site.bucket.revoke(device_of(c))
        assert site.gw.syncing.sync_soon()
        code = asyncio.run(_revoked(site, c))
        assert code == hp.CLOSE_FORBIDDEN
        last = refusals(site)[-1]
        assert (last["status"], last["device"]) == (hp.CLOSE_FORBIDDEN, device_of(c))
        raw = json.dumps(refusals(site))
        for phi in ("Quillon", "Vexley", "MRN-HINT"):
            assert phi not in raw
    finally:
        a.close()
        c.close()


async def _revoked(site: Site, c: Workstation) -> int:
    conn = await sign_in(site.gw, c)
    return await close_code(conn)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("x" * (hp.MAX_FRAME + 1), hp.CLOSE_TOO_BIG),
        ('{"type":"pushed","extra":1}', hp.CLOSE_MALFORMED),
        ('{"type":"hello"}', hp.CLOSE_MALFORMED),
        ("[" * 500, hp.CLOSE_MALFORMED),
        (b"\x00\x01binary", hp.CLOSE_MALFORMED),
    ],
    ids=["oversize", "extra-field", "wrong-type", "deep-json", "binary"],
)
def test_bad_messages_after_sign_in_close_only_that_socket(
    site: Site, frame: str | bytes, code: int
) -> None:
    a, b = site.stations("ws-a", "ws-b")

    async def go() -> tuple[int, str]:
        ca, cb = await sign_in(site.gw, a), await sign_in(site.gw, b)
        await ca.recv()
        await cb.recv()
        started = site.gw.syncing.started
        await ca.send(frame)
        got = await close_code(ca)
        try:  # B heard nothing: no hint was published
            heard = await asyncio.wait_for(cb.recv(), 0.5)
        except TimeoutError:
            heard = ""
        assert site.gw.syncing.started == started  # and no sync round was run
        await cb.close()
        return got, heard

    try:
        before = len(refusals(site))
        got, heard = asyncio.run(go())
        assert got == code
        assert heard == ""
        after = refusals(site)
        assert len(after) == before + 1 and after[-1]["status"] == code
        assert after[-1]["device"] == device_of(a)
    finally:
        a.close()
        b.close()


def test_oversize_hello_is_refused_before_it_is_read(site: Site) -> None:
    before = len(refusals(site))
    code = asyncio.run(_attempt(site, lambda _ch: "y" * 10_000))
    assert code == hp.CLOSE_TOO_BIG
    assert len(refusals(site)) == before + 1


def test_pushed_floods_are_bounded_per_device(site: Site) -> None:
    a, b = site.stations("ws-a", "ws-b")

    async def go() -> int:
        ca, cb = await sign_in(site.gw, a), await sign_in(site.gw, b)
        await ca.recv()
        await cb.recv()
        for _ in range(3 * PUSHED_PER_MIN):
            await ca.send(hp.PUSHED)
        heard = 0
        while True:
            try:
                frame = await asyncio.wait_for(cb.recv(), 1.0)
            except TimeoutError:
                break
            if hp.parse_hint(frame).origin == device_of(a):
                heard += 1
        await ca.close()
        await cb.close()
        return heard

    try:
        heard = asyncio.run(go())
        assert 1 <= heard <= PUSHED_PER_MIN + 5  # the bucket, plus what refilled meanwhile
    finally:
        a.close()
        b.close()


def test_a_client_that_does_not_read_is_dropped(site: Site) -> None:
    (a,) = site.stations("ws-a")
    hub = site.gw.app.state.gateway.hub

    async def go() -> int:
        conn = await sign_in(site.gw, a)
        await conn.recv()
        await asyncio.to_thread(_flood, hub)  # far more than a subscriber's queue holds
        return await close_code(conn, timeout_s=30)

    try:
        before = len(refusals(site))
        assert asyncio.run(go()) == hp.CLOSE_SLOW
        assert refusals(site)[before]["status"] == hp.CLOSE_SLOW
    finally:
        a.close()


def _flood(hub: Any) -> None:  # noqa: ANN401
    for _ in range(5 * QUEUE_SIZE):
        hub.publish(Hint(BUNDLE, "", origin=""))


def test_a_device_revoked_while_connected_is_dropped(site: Site) -> None:
    a, c = site.stations("ws-a", "ws-c")

    async def go() -> int:
        ca, cc = await sign_in(site.gw, a), await sign_in(site.gw, c)
        await ca.recv()
        await cc.recv()
        site.bucket.revoke(device_of(c))
        assert await asyncio.to_thread(site.gw.syncing.sync_soon)  # the gateway learns it
        await ca.send(hp.PUSHED)  # the next hint is not delivered to C: its socket closes
        code = await close_code(cc)
        await ca.close()
        return code

    try:
        assert asyncio.run(go()) == hp.CLOSE_FORBIDDEN
        last = refusals(site)[-1]
        assert (last["status"], last["code"], last["device"]) == (
            hp.CLOSE_FORBIDDEN,
            "forbidden",
            device_of(c),
        )
    finally:
        a.close()
        c.close()
