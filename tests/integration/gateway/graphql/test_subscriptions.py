"""GraphQL subscriptions over graphql-transport-ws with a real `websockets` client: the token
in connection_init, alerts / assessments / twin updates raised through the desktop's services
arrive on the socket, records of patients outside the client's care team never do (hints as
sync publishes them included); bad tokens close 4401 / 4403 with an audit event, and a socket
is closed 4401 when its token expires."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import jwt
from sqlalchemy import func, select

from app.core.store.models import AuditEvent
from app.services import admin, assessments, twin
from app.services.context import AppContext, cli_actor
from gateway import tokens
from gateway.graphql.view import MAX_OPERATIONS_PER_SOCKET, GatewayGraphQL
from gateway.hub import ALERT, Hint
from gateway.ratelimit import RateLimiter
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.graphql.conftest import (
    PHQ9_CRITICAL,
    PHQ9_MILD,
    Charted,
    principal_named,
    refusals,
)
from tests.integration.gateway.graphql.ws import (
    init,
    open_socket,
    receive,
    subscribe,
    wait_for_subscribers,
)

ALERTS = """subscription($p: ID) { alertTriggered(patientId: $p) {
  id patientId rule severity status patient { id } } }"""
QUIET_S = 1.0  # how long "nothing arrives" is watched for


def submit(
    ctx: AppContext, who: object, patient_id: str, answers: dict[str, int]
) -> tuple[str, ...]:
    out = assessments.submit(ctx, who, patient_id, "phq9", dict(answers))  # type: ignore[arg-type]
    return (out.assessment_id, *out.alert_ids)


def test_alert_raised_through_the_service_arrives(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)

    async def run() -> tuple[dict, tuple[str, ...], float]:
        ws = await open_socket(server)
        assert ws.subprotocol == "graphql-transport-ws"
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "a1", ALERTS)
        await wait_for_subscribers(server, 1)
        started = time.perf_counter()
        ids = await asyncio.to_thread(submit, ctx, clinic.clinician, clinic.mine, PHQ9_CRITICAL)
        msg = await receive(ws, timeout_s=5)
        elapsed = time.perf_counter() - started
        await ws.close()
        return msg, ids, elapsed

    msg, ids, elapsed = asyncio.run(run())
    assert msg["type"] == "next" and msg["id"] == "a1", msg
    alert = msg["payload"]["data"]["alertTriggered"]
    assert alert["id"] in ids[1:] and alert["patientId"] == clinic.mine
    assert alert["severity"] == "critical" and alert["status"] == "new"
    assert alert["patient"] == {"id": clinic.mine}
    assert elapsed < 5


def test_other_teams_alerts_never_arrive(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)
    other = principal_named(ctx, "dr.other")

    async def run() -> tuple[list[dict], tuple[str, ...]]:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "all", ALERTS)
        await subscribe(ws, "theirs", ALERTS, p=clinic.theirs)
        await wait_for_subscribers(server, 2)
        await asyncio.to_thread(submit, ctx, other, clinic.theirs, PHQ9_CRITICAL)
        theirs_synced = [
            Hint(ALERT, a.id, clinic.theirs)
            for a in await asyncio.to_thread(_alerts_of, ctx, other, clinic.theirs)
        ]
        for h in theirs_synced:  # as sync publishes a merged row
            server.app.state.gateway.hub.publish(h)
        mine = await asyncio.to_thread(submit, ctx, clinic.clinician, clinic.mine, PHQ9_CRITICAL)
        got = [await receive(ws, timeout_s=5)]
        while (more := await _maybe(ws)) is not None:
            got.append(more)
        await ws.close()
        return got, mine

    got, mine = asyncio.run(run())
    assert [m["id"] for m in got] == ["all"], got  # one message, on the unfiltered subscription
    assert got[0]["payload"]["data"]["alertTriggered"]["id"] in mine
    assert "Elsewhere" not in str(got)


def _alerts_of(ctx: AppContext, who: object, patient_id: str) -> list:
    from app.services import overview

    return overview.list_patient_alerts(ctx, who, patient_id)  # type: ignore[arg-type]


async def _maybe(ws: object) -> dict | None:
    try:
        return await receive(ws, timeout_s=QUIET_S)  # type: ignore[arg-type]
    except TimeoutError:
        return None


def test_synced_hint_is_looked_up_as_the_client_once(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)
    alert_id = charted.alert_ids[0]

    async def run() -> dict:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "mine", ALERTS, p=clinic.mine)
        await wait_for_subscribers(server, 1)
        hub = server.app.state.gateway.hub
        hub.publish(Hint(ALERT, "no-such-alert", clinic.mine))  # found nowhere: nothing sent
        hub.publish(Hint(ALERT, alert_id, ""))  # no patient named: nothing to look up
        hub.publish(Hint(ALERT, alert_id, clinic.mine))  # as sync's merge announces it
        hub.publish(Hint(ALERT, alert_id, clinic.mine))  # again: each record once
        msg = await receive(ws, timeout_s=5)
        assert await _maybe(ws) is None
        await ws.close()
        return msg

    msg = asyncio.run(run())
    assert msg["payload"]["data"]["alertTriggered"]["id"] == alert_id


def test_assessment_and_twin_subscriptions(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)

    async def run() -> tuple[dict[str, dict], str]:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        done = "{ id patientId instrument total band critical }"
        await subscribe(ws, "done", f"subscription($p: ID) {{ assessmentCompleted(patientId: $p) "
                        f"{done} }}", p=clinic.mine)  # fmt: skip
        upd = "{ snapshotId patientId twin { version dimensions { dimension mean sd } } }"
        await subscribe(ws, "twin", f"subscription {{ digitalTwinUpdated {upd} }}")
        await wait_for_subscribers(server, 2)
        (aid,) = await asyncio.to_thread(submit, ctx, clinic.clinician, clinic.mine, PHQ9_MILD)
        await asyncio.to_thread(twin.update, ctx, clinic.clinician, clinic.mine)
        got = {}
        for _ in range(2):
            m = await receive(ws, timeout_s=5)
            got[m["id"]] = m["payload"]["data"]
        await ws.close()
        return got, aid

    got, aid = asyncio.run(run())
    done = got["done"]["assessmentCompleted"]
    assert done["id"] == aid and done["instrument"] == "phq9" and done["total"] == 7
    upd = got["twin"]["digitalTwinUpdated"]
    assert upd["patientId"] == clinic.mine and upd["twin"]["version"] >= 1
    assert {d["dimension"] for d in upd["twin"]["dimensions"]} >= {"depression"}


def test_bad_connection_init_closes_with_audit(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    no_subscribe = server.token(clinic.client, scope="graphql/query")
    cases = {"garbage": ("junk", 4401), "none": (None, 4401), "no scope": (no_subscribe, 4403)}

    async def attempt(token: str | None) -> dict:
        ws = await open_socket(server)
        answer = await init(ws, token)
        await ws.close()
        return answer

    for name, (token, code) in cases.items():
        before = len(refusals(ctx))
        answer = asyncio.run(attempt(token))
        assert answer.get("closed") == code, (name, answer)
        assert len(refusals(ctx)) == before + 1, name
        assert refusals(ctx)[-1]["route"] == "/graphql (ws)"
    assert refusals(ctx)[-1]["client_id"] == clinic.client.client.client_id

    async def early_subscribe() -> dict:
        ws = await open_socket(server)
        await subscribe(ws, "x", ALERTS)
        return await receive(ws)

    before = len(refusals(ctx))
    assert asyncio.run(early_subscribe())["closed"] == 4401
    assert len(refusals(ctx)) == before + 1


def test_legacy_protocol_is_refused(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    async def run() -> dict:
        ws = await open_socket(server, protocols=("graphql-ws",))
        return await receive(ws)

    before = len(refusals(ctx))
    assert asyncio.run(run())["closed"] == 4406
    assert len(refusals(ctx)) == before + 1


def test_socket_closes_when_its_token_expires(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    now = int(time.time())
    aud = tokens.audience(ctx)
    token = jwt.encode(
        {"iss": aud, "aud": aud, "sub": clinic.client.client.client_id, "iat": now,
         "exp": now + 2, "scope": "graphql/subscribe"},
        server.app.state.gateway.key, algorithm=tokens.ALGORITHM,
    )  # fmt: skip

    async def run() -> tuple[dict, float]:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "a", ALERTS)
        msg = await receive(ws, timeout_s=10)
        return msg, time.time()

    msg, at = asyncio.run(run())
    assert msg["closed"] == 4401 and msg["reason"] == "token expired"
    assert now + 2 <= at < now + 5
    assert refusals(ctx)[-1]["status"] == 401 and refusals(ctx)[-1]["route"] == "/graphql (ws)"


def test_revoked_client_is_closed_before_delivery(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)

    async def run() -> dict:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "a", ALERTS)
        await wait_for_subscribers(server, 1)
        await asyncio.to_thread(admin.deactivate_user, ctx, cli_actor(), "svc.ehr")
        server.app.state.gateway.hub.publish(Hint(ALERT, charted.alert_ids[0], clinic.mine))
        return await receive(ws, timeout_s=5)

    before = len(refusals(ctx))
    reads_before = alert_reads(ctx, clinic.clinician.user_id)
    msg = asyncio.run(run())
    assert msg == {"closed": 4401, "reason": "client revoked"}  # no alert delivered first
    assert len(refusals(ctx)) == before + 1
    assert alert_reads(ctx, clinic.clinician.user_id) == reads_before  # not even read


def alert_reads(ctx: AppContext, user_id: str) -> int:
    return ctx.store.read(
        lambda s: s.scalar(
            select(func.count()).where(AuditEvent.action == "alert.list",
                                       AuditEvent.actor_id == user_id)
        ) or 0
    )  # fmt: skip


def test_queries_over_the_socket_need_the_query_scope(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    both = server.token(clinic.client, scope="graphql/query graphql/subscribe")
    subscribe_only = server.token(clinic.client, scope="graphql/subscribe")

    async def ask(token: str) -> dict:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "q", "query($id: ID!) { patient(id: $id) { id } }", id=clinic.mine)
        msg = await receive(ws)
        await ws.close()
        return msg

    assert asyncio.run(ask(both))["payload"] == {"data": {"patient": {"id": clinic.mine}}}
    refused = asyncio.run(ask(subscribe_only))["payload"]
    assert refused["data"] == {"patient": None}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def _view(server: Server) -> GatewayGraphQL:
    apps = [getattr(r, "app", None) for r in server.app.routes]
    return next(a for a in apps if isinstance(a, GatewayGraphQL))


def test_socket_limits(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)
    _view(server).connection_init_wait_timeout = timedelta(seconds=0.5)

    async def silent() -> dict:
        ws = await open_socket(server)
        return await receive(ws)  # no connection_init sent

    async def too_many_operations() -> dict:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        for i in range(MAX_OPERATIONS_PER_SOCKET + 1):
            await subscribe(ws, f"s{i}", ALERTS)
        msg = await receive(ws)
        await ws.close()
        return msg

    async def second_socket_over_rate() -> dict:
        first = await open_socket(server)
        assert (await init(first, token))["type"] == "connection_ack"
        second = await open_socket(server)
        answer = await init(second, token)
        await first.close()
        return answer

    before = len(refusals(ctx))
    assert asyncio.run(silent())["closed"] == 4408
    assert len(refusals(ctx)) == before + 1
    extra = asyncio.run(too_many_operations())
    assert extra["id"] == f"s{MAX_OPERATIONS_PER_SOCKET}" and extra["type"] == "error"
    server.app.state.gateway.limiter = RateLimiter(1)
    before = len(refusals(ctx))
    assert asyncio.run(second_socket_over_rate())["closed"] == 4429
    assert refusals(ctx)[before:][-1]["status"] == 429


def test_malformed_messages_close_4400_with_audit(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)

    async def send_raw(first: str, then: str | None = None) -> dict:
        ws = await open_socket(server)
        await ws.send(first)
        if then is not None:
            assert (await receive(ws))["type"] == "connection_ack"
            await ws.send(then)
        return await receive(ws)

    init_msg = json.dumps(
        {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    )
    cases = {
        "not JSON": ("{Zebedee", None, 4400),
        "payload not an object": ('{"type": "connection_init", "payload": "Bearer x"}', None, 4400),
        "unknown type": ('{"type": "hello"}', None, 4400),
        "second init": (init_msg, init_msg, 4429),
        "not JSON after init": (init_msg, "[[[", 4400),
    }
    for name, (first, then, code) in cases.items():
        before = len(refusals(ctx))
        assert asyncio.run(send_raw(first, then))["closed"] == code, name
        assert len(refusals(ctx)) == before + 1, name
        assert refusals(ctx)[-1]["route"] == "/graphql (ws)"
