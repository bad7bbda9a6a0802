"""Token exchange (RFC 8693) over the real gateway: the EHR's client presents its own token and
the clinician's credentials; the new token runs as the clinician (their care team) within the
client's scopes, audited as both. Every refusal: 400 with an OAuth error, a `gateway.refused`
event, and a wrong password counted towards the clinician's lockout as at the desktop."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.logging_setup import configure_logging
from app.core.store.models import AuditEvent, User
from app.services import admin
from app.services.context import AppContext, cli_actor
from gateway import clients, tokens
from gateway.exchange import CLINICIAN_CREDENTIALS, GRANT_TYPE
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import auth, phq9_response
from tests.support.records import PASSWORD

DOCTOR = "dr.other"  # the clinic fixture's second clinician; their patient is clinic.theirs


def exchange_form(actor_token: str, username: str = DOCTOR, password: str = PASSWORD) -> dict:
    return {
        "grant_type": GRANT_TYPE,
        "actor_token": actor_token,
        "actor_token_type": tokens.ACCESS_TOKEN_TYPE,
        "subject_token": f"{username}:{password}",
        "subject_token_type": CLINICIAN_CREDENTIALS,
    }


def post(server: Server, form: dict) -> httpx.Response:
    with server.client() as http:
        return http.post("/oauth/token", data=form)


def user(ctx: AppContext, username: str) -> User:
    return ctx.store.read(lambda s: s.scalars(select(User).where(User.username == username)).one())


def events(ctx: AppContext, action: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
    return ctx.store.read(lambda s: list(s.scalars(query)))


def test_exchanged_token_acts_as_the_clinician_and_audits_both(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    client_id = clinic.client.client.client_id
    r = post(server, exchange_form(server.token(clinic.client)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == tokens.ACCESS_TOKEN_TYPE and body["token_type"] == "Bearer"
    assert "token-exchange" not in body["scope"].split()
    assert r.headers["cache-control"] == "no-store"
    doctor = user(ctx, DOCTOR)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == doctor.id and claims["act"] == {"sub": client_id}
    assert claims["client_id"] == client_id
    token = body["access_token"]
    with server.client() as http:
        # the clinician's care team, not the client's bound account's
        theirs = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
        mine = http.get(f"/fhir/Patient/{clinic.mine}", headers=auth(token))
    assert theirs.status_code == 200, theirs.text
    assert mine.status_code == 403
    (issued,) = events(ctx, "gateway.token_exchange")
    assert issued.actor_id == doctor.id
    assert json.loads(issued.detail_json)["client_id"] == client_id
    used = events(ctx, "gateway.on_behalf")
    assert [e.actor_id for e in used] == [doctor.id, doctor.id]
    assert {json.loads(e.detail_json)["client_id"] for e in used} == {client_id}
    read = [e for e in events(ctx, "patient.read") if e.patient_id == clinic.theirs]
    assert read and read[-1].actor_id == doctor.id  # the service's own event names the clinician
    assert events(ctx, "auth.login")[-1].actor_id == doctor.id  # the desktop's sign-in ran


def test_client_without_the_exchange_scope_is_refused_before_the_password(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    plain = clients.register(
        ctx, clinic.it, "reader", role=Role.CLINICIAN, scopes=["system/Patient.read"],
        acts_as="svc.ehr",
    )  # fmt: skip
    logins = len(events(ctx, "auth.login")) + len(events(ctx, "auth.login_failed"))
    refused = len(events(ctx, "gateway.refused"))
    r = post(server, exchange_form(server.token(plain), password="wrong password"))
    assert r.status_code == 400 and r.json() == {"error": "unauthorized_client"}
    assert user(ctx, DOCTOR).failed_attempts == 0  # never reached the clinician's password
    assert len(events(ctx, "auth.login")) + len(events(ctx, "auth.login_failed")) == logins
    assert len(events(ctx, "gateway.refused")) == refused + 1


def test_wrong_clinician_password_counts_towards_the_lockout(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)
    threshold = ctx.settings.lockout_threshold
    for _ in range(threshold):
        r = post(server, exchange_form(token, password="not the password"))
        assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}
    doctor = user(ctx, DOCTOR)
    assert doctor.failed_attempts == threshold and doctor.locked_at is not None
    assert post(server, exchange_form(token)).status_code == 400  # locked: right password too
    unknown = post(server, exchange_form(token, username="nobody"))
    assert unknown.json() == {"error": "invalid_grant"}  # the same answer for every cause
    assert len(events(ctx, "gateway.token_exchange")) == 0


def test_deactivated_clinician_is_refused_and_their_token_stops(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    actor_token = server.token(clinic.client)
    r = post(server, exchange_form(actor_token))
    assert r.status_code == 200
    token = r.json()["access_token"]
    admin.deactivate_user(ctx, cli_actor(), DOCTOR)
    again = post(server, exchange_form(actor_token))
    assert again.status_code == 400 and again.json() == {"error": "invalid_grant"}
    with server.client() as http:
        stale = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
    assert stale.status_code == 401 and stale.json()["resourceType"] == "OperationOutcome"


def test_exchanged_token_is_bounded_by_its_scopes(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    actor_token = server.token(clinic.client)
    narrow = post(server, {**exchange_form(actor_token), "scope": "system/Patient.read"})
    assert narrow.status_code == 200 and narrow.json()["scope"] == "system/Patient.read"
    token = narrow.json()["access_token"]
    with server.client() as http:
        ok = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
        obs = http.get("/fhir/Observation", params={"patient": clinic.theirs}, headers=auth(token))
    assert ok.status_code == 200 and obs.status_code == 403
    # no scope beyond the client's, and never the exchange scope itself
    only_q = clients.register(
        ctx, clinic.it, "qonly", role=Role.CLINICIAN,
        scopes=["system/Questionnaire.read", "token-exchange"], acts_as="svc.ehr",
    )  # fmt: skip
    for scope in ("system/Patient.read", "token-exchange"):
        r = post(server, {**exchange_form(server.token(only_q)), "scope": scope})
        assert r.status_code == 400 and r.json() == {"error": "invalid_scope"}, scope
    assert user(ctx, DOCTOR).failed_attempts == 0


def test_an_exchanged_token_cannot_be_exchanged_again(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    first = post(server, exchange_form(server.token(clinic.client)))
    assert first.status_code == 200
    refused = len(events(ctx, "gateway.refused"))
    again = post(server, exchange_form(first.json()["access_token"]))
    assert again.status_code == 400 and again.json() == {"error": "invalid_request"}
    assert len(events(ctx, "gateway.refused")) == refused + 1
    assert len(events(ctx, "gateway.token_exchange")) == 1


def test_malformed_exchange_requests_are_refused_and_audited(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    good = exchange_form(server.token(clinic.client))
    bad = {
        "no actor token": {k: v for k, v in good.items() if k != "actor_token"},
        "forged actor token": {**good, "actor_token": jwt.encode({"sub": "x"}, b"k" * 32)},
        "wrong actor token type": {**good, "actor_token_type": "urn:x"},
        "wrong subject token type": {**good, "subject_token_type": tokens.ACCESS_TOKEN_TYPE},
        "subject without password": {**good, "subject_token": DOCTOR},
        "other requested type": {**good, "requested_token_type": "urn:x:id_token"},
    }
    refused = len(events(ctx, "gateway.refused"))
    for name, form in bad.items():
        r = post(server, form)
        assert r.status_code == 400 and r.json() == {"error": "invalid_request"}, name
    assert len(events(ctx, "gateway.refused")) == refused + len(bad)
    assert user(ctx, DOCTOR).failed_attempts == 0


def test_an_it_account_cannot_be_acted_for(server: Server, clinic: Clinic) -> None:
    r = post(server, exchange_form(server.token(clinic.client), username="it.ops"))
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


def test_the_clients_own_account_going_inactive_ends_its_exchanged_tokens(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    actor_token = server.token(clinic.client)
    token = post(server, exchange_form(actor_token)).json()["access_token"]
    admin.deactivate_user(ctx, cli_actor(), "svc.ehr")  # the account the client is bound to
    with server.client() as http:
        r = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
    assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
    again = post(server, exchange_form(actor_token))
    assert again.status_code == 400 and again.json() == {"error": "invalid_request"}
    assert user(ctx, DOCTOR).failed_attempts == 0


def test_the_clinicians_credentials_never_reach_the_logs(
    server: Server, clinic: Clinic, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    log_file = configure_logging(tmp_path / "logs", logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    canary = "Canary-Pass-phrase 77"
    actor_token = server.token(clinic.client)
    assert post(server, exchange_form(actor_token, password=canary)).status_code == 400
    assert post(server, exchange_form(actor_token, username="Canaryuser")).status_code == 400
    assert post(server, exchange_form(actor_token)).status_code == 200
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server_side)
    assert "token exchange" in text  # the gateway did log the exchange
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = log_file.read_text(encoding="utf-8")
    for secret in (canary, "Canaryuser", PASSWORD, actor_token):
        assert secret not in text and secret not in written


def test_a_response_sent_for_the_clinician_is_recorded_as_theirs(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = post(server, exchange_form(server.token(clinic.client))).json()["access_token"]
    with server.client() as http:
        r = http.post(
            "/fhir/QuestionnaireResponse", content=json.dumps(phq9_response(clinic.theirs)),
            headers=auth(token),
        )  # fmt: skip
        mine = http.post(
            "/fhir/QuestionnaireResponse", content=json.dumps(phq9_response(clinic.mine)),
            headers=auth(token),
        )  # fmt: skip
    assert r.status_code == 201, r.text
    assert mine.status_code == 403  # not the clinician's patient, though it is the client's
    (record,) = events(ctx, "assessment.record")
    doctor = user(ctx, DOCTOR)
    assert record.actor_id == doctor.id and record.record_id == r.json()["id"]
    on_behalf = [e for e in events(ctx, "gateway.on_behalf") if e.seq < record.seq]
    assert on_behalf and on_behalf[-1].actor_id == doctor.id
