import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle

from engines.errors import InputError
from engines.scoring.definitions import builtin_instruments, get_instrument
from engines.scoring.engine import score
from engines.scoring.fhir import AssessmentRecord, export_bundle, export_bundle_json, import_bundle

from .helpers import answers_for_total

PATIENT = "6b1f0a2e-9c3d-4e5f-8a7b-1c2d3e4f5a6b"
T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def records():
    cases = [
        ("phq9", {**answers_for_total(get_instrument("phq9"), 14), "q10": 1}, None),
        ("phq9", {f"q{i}": 1 for i in range(1, 10)}, None),
        ("gad7", answers_for_total(get_instrument("gad7"), 15), None),
        (
            "cssrs_screener",
            {"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 1, "q6": 1, "q6_recent": 0},
            None,
        ),
        ("cssrs_screener", {"q1": 0, "q2": 0, "q6": 0}, None),
        ("pcl5", answers_for_total(get_instrument("pcl5"), 32), {"cutoff": 31}),
        ("madrs", answers_for_total(get_instrument("madrs"), 35), None),
        ("hamd17", answers_for_total(get_instrument("hamd17"), 24), None),
    ]
    return [
        AssessmentRecord(
            assessment_id=f"0000000{i}-aaaa-4bbb-8ccc-dddddddddddd",
            patient_id=PATIENT,
            authored=T0 + timedelta(days=i),
            result=score(get_instrument(iid), answers, params),
        )
        for i, (iid, answers, params) in enumerate(cases)
    ]


def test_round_trip_gives_identical_scores():
    recs = records()
    text = export_bundle_json(recs)
    back = import_bundle(text)
    assert back == tuple(recs)
    assert [r.result.total for r in back] == [r.result.total for r in recs]
    assert [r.result.band for r in back] == [r.result.band for r in recs]
    assert dict(back[5].result.parameters)["cutoff"] == 31


def test_export_is_valid_fhir_with_loinc_codes():
    bundle = export_bundle(records())
    Bundle.model_validate(bundle)  # the library accepts it
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Questionnaire") == 6
    assert kinds.count("QuestionnaireResponse") == kinds.count("Observation") == 8
    obs = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    phq_obs = obs[0]
    assert {"system": "http://loinc.org", "code": "44261-6"} in phq_obs["code"]["coding"]
    assert phq_obs["valueInteger"] == records()[0].result.total
    gad_obs = obs[2]
    assert any(c.get("code") == "70274-6" for c in gad_obs["code"]["coding"])
    cssrs_obs = obs[3]
    assert (
        "valueInteger" not in cssrs_obs
        and cssrs_obs["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "high"
    )
    q = next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "phq9")
    assert q["code"][0]["code"] == "44249-1"
    q9 = next(i for i in q["item"] if i["linkId"] == "q9")
    assert q9["code"][0]["code"] == "44260-8"
    cssrs_q = next(
        e["resource"] for e in bundle["entry"] if e["resource"].get("id") == "cssrs-screener"
    )
    q3 = next(i for i in cssrs_q["item"] if i["linkId"] == "q3")
    assert q3["enableWhen"][0]["question"] == "q2"


def test_loinc_answer_codes_are_accepted_on_import():
    bundle = export_bundle(records()[:1])
    qr = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    for item in qr["item"]:
        if item["linkId"] != "q10":
            value = int(item["answer"][0]["valueCoding"]["code"])
            code = get_instrument("phq9").item(item["linkId"]).option(value).loinc
            item["answer"][0]["valueCoding"] = {"system": "http://loinc.org", "code": code}
    assert import_bundle(bundle)[0].result == records()[0].result


def _qr(bundle, n=0):
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ][n]


def _obs(bundle, n=0):
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
    ][n]


def _set_answer(bundle, link, code):
    for item in _qr(bundle)["item"]:
        if item["linkId"] == link:
            item["answer"][0]["valueCoding"]["code"] = code


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.update(resourceType="Patient"), "resourceType must be 'Bundle'"),
        (lambda b: b["entry"][0]["resource"].update(status=17), "FHIR bundle: invalid"),
        (lambda b: _obs(b).pop("code"), r"entry\.\d+\.resource\.code: Field required"),
        (lambda b: _obs(b).update(valueInteger="many"), "valueInteger"),
        (
            lambda b: _qr(b).update(questionnaire="http://example.org/Questionnaire/x"),
            "unknown questionnaire",
        ),
        (lambda b: _qr(b).update(questionnaire="urn:novamind:instrument:phq9|0.9"), "version 0.9"),
        (lambda b: _qr(b).update(status="in-progress"), "status: must be 'completed'"),
        (lambda b: _qr(b).update(subject={"reference": "Group/1"}), "subject"),
        (lambda b: _qr(b).pop("authored"), "authored"),
        (lambda b: _set_answer(b, "q3", "7"), "item q3 value is not an allowed option"),
        (lambda b: _qr(b)["item"].pop(2), "item q3 is required"),
        (lambda b: _qr(b)["item"].append(copy.deepcopy(_qr(b)["item"][0])), "appears twice"),
        (
            lambda b: _obs(b).update(valueInteger=_obs(b)["valueInteger"] + 1),
            "does not match the recomputed total",
        ),
        (
            lambda b: _qr(b, 1).update(subject={"reference": "Patient/someone-else"}),
            "more than one patient",
        ),
    ],
)
def test_invalid_bundle_imports_nothing(mutate, message):
    bundle = export_bundle(records()[:2])
    mutate(bundle)
    with pytest.raises(InputError, match=message):
        import_bundle(bundle)


def test_not_json_is_a_clear_error():
    with pytest.raises(InputError, match="not valid JSON"):
        import_bundle("{not json")


def test_error_does_not_echo_content():
    bundle = export_bundle(records()[:1])
    _obs(bundle)["valueInteger"] = "Jane Doe felt hopeless"
    with pytest.raises(InputError) as info:
        import_bundle(json.dumps(bundle))
    assert "Jane" not in str(info.value)


def test_cssrs_skip_logic_enforced_on_import():
    recs = [r for r in records() if r.result.instrument_id == "cssrs_screener"]
    bundle = export_bundle(recs[1:])  # q2 = no, so q3-q5 were not asked
    _qr(bundle)["item"].insert(2, {"linkId": "q3", "answer": [{"valueInteger": 1}]})
    with pytest.raises(InputError, match="item q3 must not be answered"):
        import_bundle(bundle)


def test_export_refuses_mixed_patients():
    recs = records()[:2]
    other = AssessmentRecord("x1", "other", T0, recs[0].result)
    with pytest.raises(InputError, match="more than one patient"):
        export_bundle([recs[0], other])


def test_all_builtins_export():
    assert len(builtin_instruments()) == 6
