"""Every bad input gets a 4xx OperationOutcome, stores nothing and leaves a `gateway.refused`
audit event; tokens that are forged, expired, for another audience or asking for more scope
than granted are refused; a client over its rate gets 429."""

from __future__ import annotations

import json
import time

import jwt
import pytest
from sqlalchemy import func, select

from app.core.store.models import Alert, AssessmentResponse, AuditEvent
from app.services.context import AppContext
from gateway import tokens
from gateway.ratelimit import RateLimiter
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import PHQ9, auth, phq9_response


def counts(ctx: AppContext) -> tuple[int, int, int]:
    """(assessments, alerts, gateway refusals in the audit chain)."""
    return ctx.store.read(
        lambda s: (
            s.scalar(select(func.count()).select_from(AssessmentResponse)) or 0,
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(
                select(func.count()).where(AuditEvent.action == "gateway.refused")
            ) or 0,
        )
    )  # fmt: skip


def bad_bodies(clinic: Clinic) -> dict[str, tuple[bytes, int]]:
    qr = phq9_response(clinic.mine)
    wrong_answer = phq9_response(clinic.mine, {**PHQ9, "q1": 7})
    item9 = {**PHQ9, "q9": 3}  # critical answer: its alert must not be written either
    big = {**qr, "text": {"status": "generated", "div": "x" * 20_000}}  # policy: 16 KiB

    def enc(doc: object) -> bytes:
        return json.dumps(doc).encode()

    return {
        "malformed JSON": (b'{"resourceType": "QuestionnaireResponse", ', 400),
        "not an object": (b"[1, 2, 3]", 400),
        "wrong resourceType": (enc({**qr, "resourceType": "Patient"}), 400),
        "answer out of range": (enc(wrong_answer), 400),
        "unknown questionnaire": (enc({**qr, "questionnaire": "urn:x:y"}), 400),
        "oversize": (enc(big), 413),
        "unknown patient": (enc(phq9_response("no-such-patient", item9)), 403),
        "another team's patient": (enc(phq9_response(clinic.theirs, item9)), 403),
    }


@pytest.mark.parametrize(
    "case",
    [
        "malformed JSON",
        "not an object",
        "wrong resourceType",
        "answer out of range",
        "unknown questionnaire",
        "oversize",
        "unknown patient",
        "another team's patient",
    ],
)
def test_bad_bodies_are_refused_and_audited(
    server: Server, clinic: Clinic, ctx: AppContext, case: str
) -> None:
    body, status = bad_bodies(clinic)[case]
    token = server.token(clinic.client)
    before = counts(ctx)
    with server.client() as http:
        r = http.post("/fhir/QuestionnaireResponse", content=body, headers=auth(token))
    assert r.status_code == status, r.text
    doc = r.json()
    assert doc["resourceType"] == "OperationOutcome" and doc["issue"][0]["severity"] == "error"
    rows, alerts, refused = counts(ctx)
    assert (rows, alerts) == before[:2]  # nothing partially written
    assert refused == before[2] + 1
    detail = ctx.store.read(
        lambda s: s.scalar(
            select(AuditEvent.detail_json)
            .where(AuditEvent.action == "gateway.refused")
            .order_by(AuditEvent.seq.desc())
        )
    )
    assert json.loads(detail)["status"] == status
    assert json.loads(detail)["client_id"] == clinic.client.client.client_id


def test_unknown_patient_read_is_404_for_a_supervisor_client(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    from app.core.domain import Role
    from gateway import clients

    sup = clients.register(
        ctx, clinic.it, "ward", role=Role.SUPERVISOR, scopes=["system/Patient.read"],
        acts_as="sup.ward",
    )  # fmt: skip
    token = server.token(sup)
    with server.client() as http:
        r = http.get("/fhir/Patient/no-such-patient", headers=auth(token))
        seen = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
    assert r.status_code == 404 and r.json()["issue"][0]["code"] == "not-found"
    assert seen.status_code == 200  # supervisors see every patient, as on the desktop


def test_forged_expired_and_wrong_audience_tokens(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    key = tokens.signing_key(ctx)
    aud = tokens.audience(ctx)
    now = int(time.time())
    base = {
        "iss": aud, "aud": aud, "sub": clinic.client.client.client_id,
        "scope": "system/Patient.read", "iat": now, "exp": now + 60,
    }  # fmt: skip
    bad = {
        "forged": jwt.encode(base, b"k" * 32, algorithm="HS256"),
        "expired": jwt.encode({**base, "iat": now - 600, "exp": now - 300}, key, "HS256"),
        "wrong audience": jwt.encode({**base, "aud": "urn:other"}, key, "HS256"),
        "unsigned": jwt.encode(base, None, algorithm="none"),
        "unknown client": jwt.encode({**base, "sub": "0" * 32}, key, "HS256"),
        "garbage": "not.a.token",
    }
    good = jwt.encode(base, key, "HS256")
    before = counts(ctx)[2]
    with server.client() as http:
        url = f"/fhir/Patient/{clinic.mine}"
        assert http.get(url, headers=auth(good)).status_code == 200
        for name, token in bad.items():
            r = http.get(url, headers=auth(token))
            assert r.status_code == 401, name
            assert r.json()["resourceType"] == "OperationOutcome", name
        assert http.get(url).status_code == 401  # no token at all
    assert counts(ctx)[2] == before + len(bad) + 1


def test_token_endpoint_refuses_bad_secrets_and_scope_escalation(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    from app.core.domain import Role
    from gateway import clients

    narrow = clients.register(
        ctx, clinic.it, "reader", role=Role.CLINICIAN, scopes=["system/Questionnaire.read"],
        acts_as="svc.ehr",
    )  # fmt: skip
    form = {"grant_type": "client_credentials", "client_id": narrow.client.client_id}
    before = counts(ctx)[2]
    with server.client() as http:
        wrong = http.post("/oauth/token", data={**form, "client_secret": "nope"})
        assert wrong.status_code == 401 and wrong.json() == {"error": "invalid_client"}
        grant = http.post("/oauth/token", data={**form, "grant_type": "password"})
        assert grant.status_code == 400
        more = http.post(
            "/oauth/token",
            data={**form, "client_secret": narrow.secret, "scope": "system/Patient.read"},
        )
        assert more.status_code == 400 and more.json() == {"error": "invalid_scope"}
        basic = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(narrow.client.client_id, narrow.secret),
        )
        assert basic.status_code == 200 and basic.json()["scope"] == "system/Questionnaire.read"
        token = basic.json()["access_token"]
        r = http.get(f"/fhir/Patient/{clinic.mine}", headers=auth(token))
        assert r.status_code == 403  # a Questionnaire-only token cannot read patients
    assert counts(ctx)[2] == before + 4


def test_rate_limit_answers_429_and_audits_once_per_run(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    server.app.state.gateway.limiter = RateLimiter(5)
    token = server.token(clinic.client)
    before = counts(ctx)[2]
    with server.client() as http:
        codes = [
            http.get("/fhir/Questionnaire/phq9", headers=auth(token)).status_code for _ in range(8)
        ]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    assert counts(ctx)[2] == before + 1


def test_unknown_routes_and_parameters_are_4xx(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    with server.client() as http:
        assert http.get("/fhir/Encounter", headers=auth(token)).status_code == 404
        assert http.get("/admin", headers=auth(token)).status_code == 404
        odd = http.get("/fhir/Patient", params={"address": "x"}, headers=auth(token))
        assert odd.status_code == 400
        date = http.get("/fhir/Patient", params={"birthdate": "yesterday"}, headers=auth(token))
        assert date.status_code == 400
        obs = http.get("/fhir/Observation", headers=auth(token))
        assert obs.status_code == 400


def test_a_slow_loris_connection_is_closed(server: Server) -> None:
    import socket
    import ssl

    host, port = "127.0.0.1", int(server.url.rsplit(":", 1)[1])
    with socket.create_connection((host, port), timeout=10) as raw:
        with server.ca.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n")  # head never finished
            started = time.monotonic()
            for _ in range(6):  # a header byte now and then
                time.sleep(0.5)
                try:
                    tls.sendall(b"X")
                except (ssl.SSLError, OSError):
                    break
            try:
                rest = tls.recv(1024)
            except (ssl.SSLError, OSError):
                rest = b""
            assert rest == b""  # closed without an answer
            assert time.monotonic() - started < 8  # after the 2 s head deadline of the fixture
    with server.client() as http:  # and the gateway still serves everyone else
        assert http.get("/fhir/metadata").status_code == 200


def test_token_requests_are_rate_limited_per_address(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    server.app.state.gateway.token_limiter = RateLimiter(3)
    form = {"grant_type": "client_credentials", "client_id": "guess", "client_secret": "guess"}
    before = counts(ctx)[2]
    with server.client() as http:
        codes = [http.post("/oauth/token", data=form).status_code for _ in range(6)]
        assert http.post("/oauth/token", data=form).headers["retry-after"] == "1"
    assert codes == [401, 401, 401, 429, 429, 429]
    assert counts(ctx)[2] == before + 3 + 1  # each wrong secret, then the throttled run once


BAD_SEARCHES = {
    "risk: no patient": ("/fhir/RiskAssessment", {}),
    "risk: unknown parameter": ("/fhir/RiskAssessment", {"patient": "P", "date": "2026"}),
    "responses: no patient": ("/fhir/QuestionnaireResponse", {"questionnaire": "phq9"}),
    "responses: not a date": ("/fhir/QuestionnaireResponse", {"patient": "P", "authored": "ayer"}),
    "responses: no time zone": (
        "/fhir/QuestionnaireResponse", {"patient": "P", "authored": "ge2026-11-01T10:00:00"},
    ),
    "responses: bad prefix": (
        "/fhir/QuestionnaireResponse", {"patient": "P", "authored": "sa2026-11-01"},
    ),
    "responses: empty range": (
        "/fhir/QuestionnaireResponse",
        {"patient": "P", "authored": ["ge2026-11-02", "lt2026-11-01"]},
    ),
    "responses: unknown questionnaire": (
        "/fhir/QuestionnaireResponse", {"patient": "P", "questionnaire": "urn:x:y"},
    ),
    "responses: _count 0": ("/fhir/QuestionnaireResponse", {"patient": "P", "_count": "0"}),
    "responses: _count too big": ("/fhir/QuestionnaireResponse", {"patient": "P", "_count": "999"}),
    "observations: other category": ("/fhir/Observation", {"patient": "P", "category": "lab"}),
    "observations: _count not a number": ("/fhir/Observation", {"patient": "P", "_count": "x"}),
    "observations: two patients": ("/fhir/Observation", {"patient": ["P", "Q"]}),
    "observations: bad _count, activity only": (
        "/fhir/Observation", {"patient": "P", "category": "activity", "_count": "0"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_SEARCHES))
def test_bad_searches_are_400_and_audited(
    server: Server, clinic: Clinic, ctx: AppContext, case: str
) -> None:
    path, raw = BAD_SEARCHES[case]

    def real(v: str) -> str:  # "P": the clinician's own patient
        return clinic.mine if v == "P" else v

    params = {k: [real(x) for x in v] if isinstance(v, list) else real(v) for k, v in raw.items()}
    token = server.token(clinic.client)
    before = counts(ctx)
    with server.client() as http:
        r = http.get(path, params=params, headers=auth(token))
    assert r.status_code == 400, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert counts(ctx) == (*before[:2], before[2] + 1)
