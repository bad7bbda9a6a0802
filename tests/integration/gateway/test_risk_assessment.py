"""RiskAssessment over the real gateway: the desktop's stored predictions (the signed demo
models, scored by `predictions.predict`) as FHIR, validated with fhir.resources, carrying model,
version, probability, interval, band and provenance; care-team scope and the scope enforced."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.riskassessment import RiskAssessment
from sqlalchemy import func, select

from app.core.domain import Principal
from app.core.store.models import AuditEvent
from app.services import assessments, predictions
from app.services import auth as signin
from app.services.context import AppContext
from gateway.risk import BAND_SYSTEM, INTERVAL_EXT, MODEL_SYSTEM, PROVENANCE_EXT
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import PHQ9, auth
from tests.support.records import PASSWORD


def auth_login(ctx: AppContext, username: str) -> Principal:
    return signin.login(ctx, username, PASSWORD)


def audited(ctx: AppContext, action: str) -> int:
    return ctx.store.read(
        lambda s: s.scalar(select(func.count()).where(AuditEvent.action == action)) or 0
    )


def test_predictions_are_risk_assessments_with_model_interval_and_provenance(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", PHQ9)
    predictions.predict(ctx, clinic.clinician, clinic.mine)
    views = {v.id: v for v in predictions.latest(ctx, clinic.clinician, clinic.mine)}
    assert any(not v.withheld for v in views.values())  # the demo models scored something
    token = server.token(clinic.client, scope="system/RiskAssessment.read")
    reads = audited(ctx, "prediction.list")
    with server.client() as http:
        r = http.get("/fhir/RiskAssessment", params={"patient": clinic.mine}, headers=auth(token))
    assert r.status_code == 200, r.text
    assert audited(ctx, "prediction.list") == reads + 1  # one audited read per search
    bundle = Bundle.model_validate(r.json())
    assert bundle.total == len(views)
    for entry in r.json()["entry"]:
        doc = entry["resource"]
        ra = RiskAssessment.model_validate(doc)
        v = views[ra.id]
        method = ra.method.coding[0]
        assert method.system == MODEL_SYSTEM and method.version == v.model_version
        assert method.code == v.provenance["model"]
        assert ra.subject.reference == f"Patient/{clinic.mine}"
        notes = " ".join(n.text for n in ra.note)
        if v.synthetic:
            assert "synthetic" in notes  # the honesty rule: the training data is named
        (pred,) = doc["prediction"]
        prov = {e["url"]: e for e in doc["extension"][0]["extension"]}
        assert doc["extension"][0]["url"] == PROVENANCE_EXT
        assert prov["synthetic"]["valueBoolean"] is v.synthetic
        assert prov["version"]["valueString"] == v.provenance["version"]
        if v.withheld:
            assert "probabilityDecimal" not in pred and v.withheld in notes
            continue
        assert pred["probabilityDecimal"] == v.probability
        assert pred["qualitativeRisk"]["coding"][0] == {"system": BAND_SYSTEM, "code": v.band}
        (interval,) = pred["extension"]
        assert interval["url"] == INTERVAL_EXT
        parts = {e["url"]: e for e in interval["extension"]}
        rng = parts["range"]["valueRange"]
        assert (rng["low"]["value"], rng["high"]["value"]) == (v.interval_low, v.interval_high)
        assert rng["low"]["value"] <= pred["probabilityDecimal"] <= rng["high"]["value"]


def test_no_predictions_is_an_empty_searchset(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    with server.client() as http:
        r = http.get(
            "/fhir/RiskAssessment", params={"patient": f"Patient/{clinic.mine}"},
            headers=auth(token),
        )  # fmt: skip
    assert r.status_code == 200 and r.json()["total"] == 0


def test_scope_and_care_team_are_enforced(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    no_scope = server.token(clinic.client, scope="system/Patient.read system/Observation.read")
    token = server.token(clinic.client)
    refused = audited(ctx, "gateway.refused")
    with server.client() as http:
        r = http.get(
            "/fhir/RiskAssessment", params={"patient": clinic.mine}, headers=auth(no_scope)
        )
        assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome"
        theirs = http.get(
            "/fhir/RiskAssessment", params={"patient": clinic.theirs}, headers=auth(token)
        )
        assert theirs.status_code == 403
    assert audited(ctx, "gateway.refused") == refused + 2


def test_read_by_id_is_the_searched_resource_audited_as_a_read(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", PHQ9)
    predictions.predict(ctx, clinic.clinician, clinic.mine)
    token = server.token(clinic.client, scope="system/RiskAssessment.read")
    with server.client() as http:
        found = http.get(
            "/fhir/RiskAssessment", params={"patient": clinic.mine}, headers=auth(token)
        )
        searched = {e["resource"]["id"]: e["resource"] for e in found.json()["entry"]}
        assert searched
        reads = audited(ctx, "prediction.read")
        for rid, doc in searched.items():
            one = http.get(f"/fhir/RiskAssessment/{rid}", headers=auth(token))
            assert one.status_code == 200, one.text
            assert one.headers["content-type"].startswith("application/fhir+json")
            got = one.json()
            RiskAssessment.model_validate(got)
            assert got == doc  # the same resource as the search's entry
            assert got["subject"]["reference"] == f"Patient/{clinic.mine}"
    assert audited(ctx, "prediction.read") == reads + len(searched)  # one per read, by id
    ids = ctx.store.read(
        lambda s: set(
            s.scalars(select(AuditEvent.record_id).where(AuditEvent.action == "prediction.read"))
        )
    )
    assert ids == set(searched)


def test_unknown_and_other_teams_ids_are_the_same_404(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    """A client holding an id of another team's prediction learns nothing from the answer:
    the same status and body as an id that never existed. The audit event says which."""
    other = auth_login(ctx, "dr.other")
    assessments.submit(ctx, other, clinic.theirs, "phq9", PHQ9)
    (theirs, *_) = predictions.predict(ctx, other, clinic.theirs)
    token = server.token(clinic.client)
    no_scope = server.token(clinic.client, scope="system/Patient.read")
    refused, reads = audited(ctx, "gateway.refused"), audited(ctx, "prediction.read")
    with server.client() as http:
        hidden = http.get(f"/fhir/RiskAssessment/{theirs}", headers=auth(token))
        unknown = http.get("/fhir/RiskAssessment/no-such-prediction", headers=auth(token))
        scope = http.get(f"/fhir/RiskAssessment/{theirs}", headers=auth(no_scope))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert unknown.json()["resourceType"] == "OperationOutcome"
    assert unknown.json()["issue"][0]["code"] == "not-found"
    assert scope.status_code == 403
    assert audited(ctx, "prediction.read") == reads  # nothing was read
    assert audited(ctx, "gateway.refused") == refused + 3
    details = ctx.store.read(
        lambda s: [
            json.loads(d)
            for d in s.scalars(
                select(AuditEvent.detail_json)
                .where(AuditEvent.action == "gateway.refused")
                .order_by(AuditEvent.seq)
            )
        ][-3:]
    )
    assert [(d["status"], d.get("reason")) for d in details] == [
        (404, "not-permitted"),
        (404, "unknown"),
        (403, None),
    ]
    assert all(d["route"] == "/fhir/RiskAssessment/{id}" for d in details)
    assert theirs not in json.dumps(details)  # the refusal names the client, not the record
