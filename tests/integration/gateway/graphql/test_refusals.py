"""Bad GraphQL requests are refused with a clear 4xx and a `gateway.refused` audit event, never
a 500: no/expired/forged token, missing scope, wrong method, bad JSON or content type, oversize
bodies, documents over the depth, alias or token limits, and clients over their rate."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from app.services import assessments, twin
from app.services.context import AppContext
from gateway import tokens
from gateway.graphql.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from gateway.graphql.types import MAX_TIMELINE_DAYS
from gateway.ratelimit import RateLimiter
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.graphql.conftest import (
    PHQ9_MILD,
    Charted,
    bearer,
    post,
    refusals,
)

OK = "{ alerts { id } }"


def forged(ctx: AppContext, key: bytes, client_id: str, *, exp_in: int) -> str:
    now = int(time.time())
    aud = tokens.audience(ctx)
    claims = {"iss": aud, "aud": aud, "sub": client_id, "scope": "graphql/query",
              "iat": now - 300, "exp": now + exp_in}  # fmt: skip
    return jwt.encode(claims, key, algorithm=tokens.ALGORITHM)


def last_refusal(ctx: AppContext) -> dict[str, object]:
    return refusals(ctx)[-1]


def test_tokens_are_checked(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    key = server.app.state.gateway.key
    cid = clinic.client.client.client_id
    cases = {
        "none": (None, 401),
        "garbage": ("not-a-jwt", 401),
        "expired": (forged(ctx, key, cid, exp_in=-60), 401),
        "forged": (forged(ctx, b"k" * 32, cid, exp_in=60), 401),
        "unknown client": (forged(ctx, key, "nobody", exp_in=60), 401),
        "no graphql scope": (server.token(clinic.client, scope="system/Patient.read"), 403),
    }
    for name, (token, status) in cases.items():
        before = len(refusals(ctx))
        r = post(server, token, OK)
        assert r.status_code == status, name
        assert r.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
        assert "data" not in r.json()
        assert len(refusals(ctx)) == before + 1, name
        assert last_refusal(ctx)["route"] == "/graphql"
        assert last_refusal(ctx)["status"] == status
    assert last_refusal(ctx)["client_id"] == cid  # a known client is named


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("GET", 405),
        ("malformed JSON", 400),
        ("JSON list (batch)", 400),
        ("query not a string", 400),
        ("no query", 400),
        ("form body", 400),
        ("oversize", 413),
        ("syntax error", 400),
        ("unknown field", 400),
        ("bad variable", 400),
    ],
)
def test_bad_requests_are_4xx_and_audited(
    server: Server, clinic: Clinic, ctx: AppContext, case: str, status: int
) -> None:
    token = server.token(clinic.client)
    js = {"Content-Type": "application/json", **bearer(token)}
    bodies: dict[str, tuple[bytes, dict[str, str]]] = {
        "malformed JSON": (b'{"query": "{ alerts { id } }"', js),
        "JSON list (batch)": (b'[{"query": "{ alerts { id } }"}]', js),
        "query not a string": (b'{"query": 42}', js),
        "no query": (b"{}", js),
        "form body": (b"query=%7B%20alerts%20%7B%20id%20%7D%20%7D",
                      {**bearer(token), "Content-Type": "application/x-www-form-urlencoded"}),
        "oversize": (json.dumps({"query": OK, "variables": {"x": "y" * 20_000}}).encode(), js),
        "syntax error": (b'{"query": "{ alerts { id "}', js),
        "unknown field": (b'{"query": "{ alerts { nope } }"}', js),
        "bad variable": (json.dumps({"query": "query($p: ID!) { twin(patientId: $p) "
                                     "{ version } }", "variables": {"p": None}}).encode(), js),
    }  # fmt: skip
    before = len(refusals(ctx))
    with server.client() as http:
        if case == "GET":
            r = http.get("/graphql", params={"query": OK}, headers=bearer(token))
        else:
            body, headers = bodies[case]
            r = http.post("/graphql", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["errors"] and r.json().get("data") is None
    assert "Traceback" not in r.text
    assert len(refusals(ctx)) == before + 1
    assert last_refusal(ctx)["status"] == status


def test_limits_refuse_deep_aliased_and_long_documents(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)
    # alert -> patient -> alerts -> patient ...: a cycle, so depth is the client's choice
    deep = "id"
    for _ in range(MAX_DEPTH):
        deep = f"patient {{ alerts {{ {deep} }} }}"
    fine = "{ alerts { patient { alerts { id } } } }"
    assert post(server, token, fine).status_code == 200
    aliases = "{ " + " ".join(f"a{i}: alerts {{ id }}" for i in range(MAX_ALIASES + 1)) + " }"
    long = "{ alerts { " + "id " * (MAX_TOKENS + 1) + "} }"
    fragments = (
        "query { alerts { ...A } } fragment A on Alert { patient { alerts { ...B } } } "
        "fragment B on Alert { patient { alerts { patient { alerts { patient { id } } } } } }"
    )
    for name, doc in {"deep": "{ alerts { " + deep + " } }", "aliases": aliases,
                      "tokens": long, "deep through fragments": fragments}.items():  # fmt: skip
        before = len(refusals(ctx))
        r = post(server, token, doc)
        assert r.status_code == 400, name
        message = r.json()["errors"][0]["message"]
        assert any(w in message.lower() for w in ("depth", "alias", "token")), message
        assert len(refusals(ctx)) == before + 1
        cid = clinic.client.client.client_id  # admitted: its events also name it as `via`
        assert last_refusal(ctx) == {"route": "/graphql", "status": 400, "code": "invalid",
                                     "client_id": cid, "via": f"gateway-client:{cid}"}  # fmt: skip


def test_subscription_over_http_is_refused(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    r = post(server, token, "subscription { alertTriggered { id } }")
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["message"] == "only queries are served over HTTP"


def test_rate_limit_answers_429(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)
    server.app.state.gateway.limiter = RateLimiter(2)
    codes = [post(server, token, OK).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert last_refusal(ctx)["status"] == 429


def test_graphiql_is_off(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    with server.client() as http:
        r = http.get("/graphql", headers={**bearer(token), "Accept": "text/html"})
    assert r.status_code == 405 and "graphiql" not in r.text.lower()
    assert isinstance(r, httpx.Response)


def test_fan_out_over_the_read_budget_is_refused_whole(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)
    each = (
        "patient(id: $id) { twin { version } predictions { id } alerts { id } assessments { id } }"
    )
    within = "query($id: ID!) { " + " ".join(f"p{i}: {each}" for i in range(8)) + " }"
    over = "query($id: ID!) { " + " ".join(f"p{i}: {each}" for i in range(MAX_ALIASES)) + " }"
    assert post(server, token, within, {"id": clinic.mine}).status_code == 200  # 40 reads
    before = len(refusals(ctx))
    r = post(server, token, over, {"id": clinic.mine})
    assert r.status_code == 400, r.text
    assert r.json()["data"] is None
    assert [e["extensions"]["code"] for e in r.json()["errors"]] == ["TOO_COSTLY"]
    cid = clinic.client.client.client_id
    via = f"gateway-client:{cid}"
    assert refusals(ctx)[before:] == [{"route": "/graphql", "status": 400, "code": "too-costly",
                                       "client_id": cid, "via": via}]  # fmt: skip
    old = datetime.now(UTC) - timedelta(days=400)  # a year-long twin grid
    assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", dict(PHQ9_MILD),
                       administered_at=old)  # fmt: skip
    twin.update(ctx, clinic.clinician, clinic.mine)
    points = "query($id: ID!) { " + " ".join(
        f"t{i}: twin(patientId: $id) {{ timeline(days: {MAX_TIMELINE_DAYS}) {{ mean }} }}"
        for i in range(MAX_ALIASES)
    ) + " }"  # fmt: skip
    r = post(server, token, points, {"id": clinic.mine})
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "TOO_COSTLY"
