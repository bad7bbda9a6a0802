"""Bounded loopback timings (printed with -s; loose bounds so a busy 2-core CI host passes):
a patient query over HTTPS one keep-alive connection, and the delay from a critical PHQ-9
submitted through the service to its alert on a graphql-transport-ws subscription."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from app.services.context import AppContext
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.graphql.conftest import PHQ9_CRITICAL, bearer
from tests.integration.gateway.graphql.test_subscriptions import ALERTS, submit
from tests.integration.gateway.graphql.ws import (
    init,
    open_socket,
    receive,
    subscribe,
    wait_for_subscribers,
)

QUERIES = 200
ALERT_ROUNDS = 20


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_query_latency(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    body = json.dumps({"query": "query($id: ID!) { patient(id: $id) { id displayName } }",
                       "variables": {"id": clinic.mine}})  # fmt: skip
    headers = {**bearer(token), "Content-Type": "application/json"}
    times = []
    with server.client() as http:
        for _ in range(QUERIES):
            started = time.perf_counter()
            r = http.post("/graphql", content=body, headers=headers)
            times.append(1000 * (time.perf_counter() - started))
            assert r.status_code == 200
    p50, p99 = statistics.median(times), _pct(times, 0.99)
    print(f"\nGraphQL patient query, {QUERIES} sequential: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    assert p50 < 250


def test_alert_delivery_latency(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)

    async def run() -> list[float]:
        ws = await open_socket(server)
        assert (await init(ws, token))["type"] == "connection_ack"
        await subscribe(ws, "a", ALERTS)
        await wait_for_subscribers(server, 1)
        delays = []
        for _ in range(ALERT_ROUNDS):
            started = time.perf_counter()
            ids = await asyncio.to_thread(submit, ctx, clinic.clinician, clinic.mine, PHQ9_CRITICAL)
            msg = await receive(ws, timeout_s=5)
            delays.append(1000 * (time.perf_counter() - started))
            assert msg["payload"]["data"]["alertTriggered"]["id"] in ids
        await ws.close()
        return delays

    delays = asyncio.run(run())
    p50, worst = statistics.median(delays), max(delays)
    print(f"\nsubmit -> alertTriggered on the socket, {ALERT_ROUNDS} rounds: "
          f"p50 {p50:.0f} ms, max {worst:.0f} ms")  # fmt: skip
    assert worst < 2000
