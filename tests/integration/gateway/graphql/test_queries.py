"""GraphQL queries over the real TLS gateway return what the desktop's services return to the
client's principal: patient, search, twin (dimensions, timeline, regions), predictions,
alerts; another team's patient is a permission error, not data."""

from __future__ import annotations

import pytest

from app.services import alerts, patients, predictions, twin_view
from app.services.context import AppContext
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.graphql.conftest import Charted, post, refusals

PATIENT = """query($id: ID!) { patient(id: $id) {
  id mrn displayName birthDate sex status isSynthetic assigned openAlerts latestRiskBand } }"""


def test_patient_matches_the_service(server: Server, clinic: Clinic, ctx: AppContext) -> None:
    token = server.token(clinic.client)
    r = post(server, token, PATIENT, {"id": clinic.mine})
    assert r.status_code == 200, r.text
    assert "errors" not in r.json()
    got = r.json()["data"]["patient"]
    want = patients.get_patient(ctx, clinic.clinician, clinic.mine)
    assert got == {
        "id": want.id, "mrn": want.mrn, "displayName": want.display_name,
        "birthDate": want.birth_date.isoformat(), "sex": want.sex, "status": want.status,
        "isSynthetic": want.is_synthetic, "assigned": True, "openAlerts": want.open_alerts,
        "latestRiskBand": want.latest_risk_band,
    }  # fmt: skip
    assert got["displayName"] == "Zebedee, Canaryname" and got["birthDate"] == "1981-04-02"


def test_patient_search_is_scoped_and_bounded(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    q = """query($n: String, $i: String, $b: Date, $f: Int!) {
      patients(name: $n, identifier: $i, birthDate: $b, first: $f) { id mrn } }"""
    by_name = post(server, token, q, {"n": "zebedee", "f": 10}).json()["data"]["patients"]
    assert by_name == [{"id": clinic.mine, "mrn": "MRN-100"}]
    both = post(server, token, q, {"i": "MRN-100", "b": "1981-04-02", "f": 5}).json()
    assert both["data"]["patients"] == [{"id": clinic.mine, "mrn": "MRN-100"}]
    wrong_day = post(server, token, q, {"i": "MRN-100", "b": "1990-01-01", "f": 5}).json()
    assert wrong_day["data"]["patients"] == []
    other_team = post(server, token, q, {"i": "MRN-200", "f": 5}).json()
    assert other_team["data"]["patients"] == []  # not in this client's care team
    too_many = post(server, token, q, {"n": "z", "f": 1000}).json()
    assert too_many["data"]["patients"] is None
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_twin_matches_the_service(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)
    q = """query($p: ID!) { twin(patientId: $p) {
      patientId version start asOf regionMapVersion activityLabel observationCount provenance
      dimensions { dimension label day mean sd low high extrapolated }
      timeline(dimension: "depression", days: 7) { day mean sd low high }
      regions { id name day value sd low high } } }"""
    r = post(server, token, q, {"p": clinic.mine})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    got = r.json()["data"]["twin"]
    want = twin_view.load_timeline(ctx, clinic.clinician, clinic.mine)
    assert want is not None
    s = want.state
    assert (got["version"], got["asOf"], got["start"]) == (
        s.version,
        s.as_of.isoformat(),
        s.start.isoformat(),
    )
    assert got["activityLabel"] == "model estimate, not a measurement"
    assert got["observationCount"] == len(s.observations) > 0
    assert got["provenance"]["region_map_version"] == want.region_map_version
    dims = {d["dimension"]: d for d in got["dimensions"]}
    assert set(dims) == set(s.dimensions)
    dep = s.estimate("depression", s.as_of)
    assert dims["depression"]["mean"] == pytest.approx(dep.mean)
    assert dims["depression"]["sd"] == pytest.approx(dep.sd)
    assert (dims["depression"]["low"], dims["depression"]["high"]) == pytest.approx(
        (dep.low, dep.high)
    )
    assert dims["depression"]["label"] == "Depression"
    line = got["timeline"]
    assert [p["day"] for p in line] == [d.isoformat() for d in s.dates()[-7:]]
    assert line[-1]["mean"] == pytest.approx(dep.mean)
    regions = {g["id"]: g for g in got["regions"]}
    assert set(regions) == set(want.region_ids)
    rid = want.region_ids[0]
    i = want.index_of(s.as_of)
    assert regions[rid]["value"] == pytest.approx(float(want.values[0, i]))
    assert regions[rid]["sd"] == pytest.approx(float(want.sd[0, i]))
    assert regions[rid]["name"] == want.region_names[rid]
    too_long = post(server, token, "query($p: ID!) { twin(patientId: $p) { timeline(days: 5000) "
                    "{ day } } }", {"p": clinic.mine}).json()  # fmt: skip
    assert too_long["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_predictions_match_the_service(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)
    q = """query($p: ID!) { predictions(patientId: $p) {
      id target option probability intervalLow intervalHigh intervalLevel band modelName
      modelVersion synthetic notice withheld generatedAt provenanceSummary provenance } }"""
    r = post(server, token, q, {"p": clinic.mine})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    got = {p["id"]: p for p in r.json()["data"]["predictions"]}
    want = predictions.latest(ctx, clinic.clinician, clinic.mine)
    assert want and set(got) == {v.id for v in want}
    for v in want:
        g = got[v.id]
        assert (g["target"], g["option"], g["band"], g["modelVersion"]) == (
            v.target,
            v.option,
            v.band,
            v.model_version,
        )
        assert (g["probability"], g["intervalLow"], g["intervalHigh"]) == pytest.approx(
            (v.probability, v.interval_low, v.interval_high)
        )
        assert g["modelName"] == v.provenance.get("model") and g["modelName"]
        assert g["synthetic"] is v.synthetic and g["provenance"] == v.provenance
        assert g["intervalLevel"] == v.interval_level
        assert g["provenanceSummary"] == v.provenance_summary


def test_alerts_open_and_per_patient(
    server: Server, clinic: Clinic, ctx: AppContext, charted: Charted
) -> None:
    token = server.token(clinic.client)
    fields = "id patientId rule severity status triggeredAt"
    open_ = post(server, token, f"{{ alerts {{ {fields} }} }}").json()["data"]["alerts"]
    want = alerts.list_open_alerts(ctx, clinic.clinician)
    assert [a["id"] for a in open_] == [a.id for a in want]
    assert set(charted.alert_ids) <= {a["id"] for a in open_}
    assert any(a["severity"] == "critical" for a in open_)
    assert {a["patientId"] for a in open_} == {clinic.mine}
    mine = post(server, token, f"query($p: ID!) {{ alerts(patientId: $p) {{ {fields} }} }}",
                {"p": clinic.mine}).json()["data"]["alerts"]  # fmt: skip
    assert {a["id"] for a in mine} >= set(charted.alert_ids)


def test_cross_domain_query_in_one_request(
    server: Server, clinic: Clinic, charted: Charted
) -> None:
    token = server.token(clinic.client)
    q = """query($id: ID!) { patient(id: $id) { displayName
      twin { version dimensions { dimension mean } }
      predictions { target probability } alerts { id } assessments { id total band } } }"""
    r = post(server, token, q, {"id": clinic.mine})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    p = r.json()["data"]["patient"]
    assert [a["id"] for a in p["assessments"]] == charted.assessment_ids
    assert p["twin"]["version"] >= 1 and p["predictions"] and p["alerts"]


def test_another_teams_patient_is_a_permission_error(
    server: Server, clinic: Clinic, ctx: AppContext
) -> None:
    token = server.token(clinic.client)
    before = len(refusals(ctx))
    for q in (PATIENT, "query($id: ID!) { twin(patientId: $id) { version } }",
              "query($id: ID!) { predictions(patientId: $id) { id } }",
              "query($id: ID!) { alerts(patientId: $id) { id } }"):  # fmt: skip
        r = post(server, token, q, {"id": clinic.theirs})
        assert r.status_code == 200
        body = r.json()
        assert list(body["data"].values()) == [None]
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "Elsewhere" not in r.text and "MRN-200" not in r.text
        assert "Traceback" not in r.text
    audited = refusals(ctx)[before:]
    assert [(e["route"], e["status"], e["code"]) for e in audited] == [
        ("/graphql", 403, "forbidden")
    ] * 4
    unknown = post(server, token, PATIENT, {"id": "no-such-patient"}).json()
    assert unknown["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # existence not revealed


def test_unexpected_error_is_masked_and_logged_by_class(
    server: Server,
    clinic: Clinic,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*_: object) -> None:  # a bug in a service, its message full of PHI
        raise RuntimeError("Zebedee Canaryname MRN-100")

    monkeypatch.setattr(predictions, "latest", broken)
    token = server.token(clinic.client)
    q = "query($p: ID!) { predictions(patientId: $p) { id } patient(id: $p) { id } }"
    r = post(server, token, q, {"p": clinic.mine})
    assert r.status_code == 200
    body = r.json()
    assert body["data"] == {"predictions": None, "patient": {"id": clinic.mine}}
    assert body["errors"][0]["message"] == "internal error; see the gateway log"
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert "Zebedee" not in r.text and "Traceback" not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "RuntimeError" in logged and "Zebedee" not in logged


def test_introspection_is_open_to_authenticated_clients(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    r = post(server, token, "{ __schema { queryType { name } subscriptionType { name } } }")
    assert r.json()["data"]["__schema"] == {
        "queryType": {"name": "Query"},
        "subscriptionType": {"name": "Subscription"},
    }
    assert post(server, None, "{ __schema { queryType { name } } }").status_code == 401


def test_birthdate_argument_is_a_date(server: Server, clinic: Clinic) -> None:
    token = server.token(clinic.client)
    r = post(server, token, "query($b: Date) { patients(birthDate: $b) { id } }", {"b": "soon"})
    assert r.status_code == 400 and r.json()["errors"]  # a refusal, never a 500
