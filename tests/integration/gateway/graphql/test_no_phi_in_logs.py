"""Canary: a patient's name, MRN and birth date sent to and returned by /graphql (queries,
refusals that quote the client's document, a subscription delivering the name) never appear in
any log record or in the app's log file."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from app.core.logging_setup import configure_logging
from app.services.context import AppContext
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.graphql.conftest import PHQ9_CRITICAL, bearer, post
from tests.integration.gateway.graphql.test_subscriptions import ALERTS, submit
from tests.integration.gateway.graphql.ws import init, open_socket, receive, subscribe

CANARIES = ("Zebedee", "Canaryname", "MRN-100", "1981-04-02")


def test_graphql_never_logs_phi(
    server: Server,
    clinic: Clinic,
    ctx: AppContext,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    log_file = configure_logging(tmp_path / "logs", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    token = server.token(clinic.client)
    search = "query($n: String) { patients(name: $n) { displayName mrn birthDate } }"
    found = post(server, token, search, {"n": "Zebedee"})
    assert "Zebedee" in found.text and "MRN-100" in found.text  # the response has them ...
    documents = [
        '{ patients(name: Zebedee) { id } }',  # a literal the validator quotes back
        '{ patients(identifier: "MRN-100", birthDate: "1981-04-02") { Canaryname } }',
        '{ patients(name: "Zebedee" { id } }',  # syntax error near the name
        '{ patients(birthDate: "Zebedee-1981-04-02") { id } }',
    ]  # fmt: skip
    for doc in documents:
        assert post(server, token, doc).status_code == 400
    post(server, token, search, {"n": ["Zebedee", "MRN-100"]})  # bad variable type
    post(server, token, "query($id: ID!) { patient(id: $id) { id } }", {"id": clinic.theirs})
    with server.client() as http:  # malformed JSON quoting the canaries
        http.post("/graphql", content=b'{"query": "Zebedee MRN-100',
                  headers={**bearer(token), "Content-Type": "application/json"})  # fmt: skip
        http.post("/graphql", content=json.dumps({"query": "{ x }"}).encode(),
                  headers={"Authorization": "Bearer Zebedee.Canaryname.1981-04-02",
                           "Content-Type": "application/json"})  # fmt: skip

    async def subscription() -> dict:
        ws = await open_socket(server)
        await init(ws, token)
        await subscribe(ws, "a", ALERTS.replace("patient { id }", "patient { displayName mrn }"))
        while server.app.state.gateway.hub.subscribers < 1:
            await asyncio.sleep(0.02)
        await asyncio.to_thread(submit, ctx, clinic.clinician, clinic.mine, PHQ9_CRITICAL)
        msg = await receive(ws, timeout_s=5)
        await ws.close()
        return msg

    delivered = asyncio.run(subscription())
    assert delivered["payload"]["data"]["alertTriggered"]["patient"]["mrn"] == "MRN-100"
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server_side)
    assert "POST /graphql -> 200" in text and "POST /graphql -> 400" in text  # ... logged
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_file.read_text(encoding="utf-8")
    assert "POST /graphql -> 200" in written
    for canary in CANARIES:
        assert canary not in text, canary
        assert canary not in written, canary
