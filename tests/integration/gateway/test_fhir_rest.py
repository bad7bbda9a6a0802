"""FHIR R4 over the real gateway: a client registered by IT, a token from /oauth/token, and
the desktop's own services behind every call (scoring, care-team scope, audit)."""

from __future__ import annotations

import json

import httpx
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.questionnaire import Questionnaire
from sqlalchemy import select

from app.core.store.models import AssessmentResponse, AuditEvent
from app.services import assessments, instrument_catalog
from app.services.context import AppContext
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import score
from engines.scoring.fhir import URL_PREFIX
from tests.integration.gateway.conftest import Clinic, Server

PHQ9 = {f"q{i}": v for i, v in enumerate([2, 1, 3, 0, 2, 1, 2, 0, 0], start=1)}


def phq9_response(patient_id: str, answers: dict[str, int] = PHQ9) -> dict:
    inst = get_instrument("phq9")
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL_PREFIX}phq9|{inst.version}",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient_id}"},
        "authored": "2026-12-01T09:30:00+00:00",
        "item": [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in answers.items()],
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_phq9(http: httpx.Client, token: str, patient_id: str) -> httpx.Response:
    """POST the PHQ-9 response for ``patient_id`` as a FHIR client does; it must be created."""
    posted = http.post(
        "/fhir/QuestionnaireResponse",
        content=json.dumps(phq9_response(patient_id)),
        headers={**auth(token), "Content-Type": "application/fhir+json"},
    )
    assert posted.status_code == 201, posted.text
    return posted


def test_metadata_is_a_valid_capability_statement(server: Server) -> None:
    with server.client() as http:
        r = http.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    cs = CapabilityStatement.model_validate(r.json())
    kinds = {res.type for res in cs.rest[0].resource}
    assert kinds == {
        "Patient", "Questionnaire", "QuestionnaireResponse", "Observation", "RiskAssessment"
    }  # fmt: skip
    served = {res.type: {i.code for i in res.interaction} for res in cs.rest[0].resource}
    assert served["RiskAssessment"] == {"read", "search-type"}
    assert served["Patient"] == {"read", "search-type"}
    assert served["QuestionnaireResponse"] == {"create", "search-type"}


def test_phq9_round_trip_scores_as_the_desktop(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)
    with server.client() as http:
        posted = post_phq9(http, token, clinic.mine)
        assessment_id = posted.json()["id"]
        assert posted.headers["location"] == f"QuestionnaireResponse/{assessment_id}"
        obs = http.get("/fhir/Observation", params={"patient": clinic.mine}, headers=auth(token))
    assert obs.status_code == 200, obs.text
    bundle = Bundle.model_validate(obs.json())
    (entry,) = bundle.entry
    o = entry.resource
    expected = score(get_instrument("phq9"), PHQ9).total
    (row,) = assessments.history(ctx, clinic.clinician, clinic.mine)  # the desktop's view
    assert o.valueInteger == expected == row.total == 11
    assert row.id == assessment_id and row.mode == "fhir-gateway"
    codes = {(c.system, c.code) for c in o.code.coding}
    assert ("http://loinc.org", "44261-6") in codes  # PHQ-9 total score
    assert o.derivedFrom[0].reference == f"QuestionnaireResponse/{assessment_id}"
    # the audit chain names the client's account as the one who recorded it
    actor = ctx.store.read(
        lambda s: s.scalar(
            select(AuditEvent.actor_id).where(
                AuditEvent.action == "assessment.record", AuditEvent.record_id == assessment_id
            )
        )
    )
    assert actor == clinic.clinician.user_id


def test_patient_read_and_search_within_the_care_team(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    with server.client() as http:
        me = http.get(f"/fhir/Patient/{clinic.mine}", headers=auth(token))
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["identifier"][0]["value"] == "MRN-100" and body["birthDate"] == "1981-04-02"
        for params in (
            {"identifier": "urn:novamind:mrn|MRN-100"},
            {"name": "zebedee"},
            {"name": "Zebedee", "birthdate": "1981-04-02"},
        ):
            found = http.get("/fhir/Patient", params=params, headers=auth(token))
            assert found.status_code == 200, found.text
            assert [e["resource"]["id"] for e in found.json()["entry"]] == [clinic.mine]
        none = http.get(
            "/fhir/Patient", params={"name": "Zebedee", "birthdate": "1990-01-01"},
            headers=auth(token),
        )  # fmt: skip
        assert none.json()["total"] == 0
        # another clinician's patient: not listed, not readable
        hidden = http.get("/fhir/Patient", params={"identifier": "MRN-200"}, headers=auth(token))
        assert hidden.json()["total"] == 0
        theirs = http.get(f"/fhir/Patient/{clinic.theirs}", headers=auth(token))
        assert theirs.status_code == 403
        assert theirs.json()["resourceType"] == "OperationOutcome"


def test_every_shipped_instrument_is_a_questionnaire(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client, scope="system/Questionnaire.read")
    shipped = instrument_catalog.instruments()
    with server.client() as http:
        listed = http.get("/fhir/Questionnaire", headers=auth(token))
        assert listed.status_code == 200
        assert listed.json()["total"] == len(shipped)
        for inst in shipped:
            one = http.get(f"/fhir/Questionnaire/{inst.id}", headers=auth(token))
            assert one.status_code == 200, inst.id
            q = Questionnaire.model_validate(one.json())
            assert q.url == f"{URL_PREFIX}{inst.id}" and len(q.item) == len(inst.items)
        missing = http.get("/fhir/Questionnaire/nope", headers=auth(token))
        assert missing.status_code == 404
        # this token holds only the Questionnaire scope
        denied = http.get(f"/fhir/Patient/{'x'}", headers=auth(token))
        assert denied.status_code == 403


def test_no_stored_rows_without_a_token(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    with server.client() as http:
        r = http.post("/fhir/QuestionnaireResponse", content=json.dumps(phq9_response(clinic.mine)))
    assert r.status_code == 401
    assert ctx.store.read(lambda s: s.scalars(select(AssessmentResponse)).all()) == []


def test_a_critical_answer_raises_the_desktops_alert(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    from app.services import alerts

    token = server.token(clinic.client)
    item9 = phq9_response(clinic.mine, {**PHQ9, "q9": 1})
    with server.client() as http:
        r = http.post("/fhir/QuestionnaireResponse", content=json.dumps(item9), headers=auth(token))
    assert r.status_code == 201, r.text
    open_alerts = alerts.list_open_alerts(ctx, clinic.clinician)
    assert [(a.rule, a.severity) for a in open_alerts] == [("phq9_item9_positive", "critical")]


def test_audit_events_of_a_gateway_call_name_the_client(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    """The client records as its bound clinician account, so the account alone cannot tell the
    EHR's writes from the clinician's own: each event of a gateway call also names the client
    (``via``); the desktop's events do not, and the chain still verifies."""
    from app.services import admin
    from app.services.context import cli_actor

    token = server.token(clinic.client)
    with server.client() as http:
        post_phq9(http, token, clinic.mine)
        read = http.get(f"/fhir/Patient/{clinic.mine}", headers=auth(token))
        assert read.status_code == 200
    desk = assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", dict(PHQ9))

    def events(s: object) -> list[tuple[str, str, dict]]:
        rows = s.execute(  # type: ignore[attr-defined]
            select(AuditEvent.action, AuditEvent.record_id, AuditEvent.detail_json)
            .where(AuditEvent.actor_id == clinic.clinician.user_id)
            .order_by(AuditEvent.seq)
        ).all()
        return [(a, r, json.loads(d)) for a, r, d in rows]

    got = ctx.store.read(events)
    via = f"gateway-client:{clinic.client.client.client_id}"
    by_gateway = [e for e in got if e[2].get("via") == via]
    assert {"assessment.record", "patient.read"} <= {a for a, _, _ in by_gateway}, got
    mine = [d for a, r, d in got if a == "assessment.record" and r == desk.assessment_id]
    assert mine and "via" not in mine[0]
    assert admin.verify_audit(ctx, cli_actor()).ok
