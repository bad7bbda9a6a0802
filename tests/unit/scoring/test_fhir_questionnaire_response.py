"""`questionnaire_response`: one administration as the export writes it, valid FHIR on its own,
and refused for an instrument the result was not scored with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from engines.errors import InputError
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import score
from engines.scoring.fhir import (
    PARAM_EXT,
    AssessmentRecord,
    export_bundle,
    import_bundle,
    questionnaire_response,
)

PHQ9 = {f"q{i}": v for i, v in enumerate([2, 1, 3, 0, 2, 1, 2, 0, 1], start=1)}
AT = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


def test_it_is_the_exports_own_response_and_valid_alone() -> None:
    inst = get_instrument("phq9")
    rec = AssessmentRecord("a-1", "p-1", AT, score(inst, PHQ9))
    qr = questionnaire_response(rec, inst)
    QuestionnaireResponse.model_validate(qr)
    (exported,) = [
        e["resource"]
        for e in export_bundle([rec])["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    ]
    assert qr == exported
    # and it reads back to the same scored answers
    (back,) = import_bundle({"resourceType": "Bundle", "type": "collection",
                             "entry": [{"resource": qr}]})  # fmt: skip
    assert back.result == rec.result and back.authored == AT and back.patient_id == "p-1"


def test_scoring_parameters_travel_as_extensions() -> None:
    inst = next(i for i in _instruments() if i.parameters)
    params = {p.name: p.default for p in inst.parameters}
    answers = {it.id: it.options[0].value for it in inst.items if it.required}
    rec = AssessmentRecord("a-2", "p-1", AT, score(inst, answers, params))
    qr = questionnaire_response(rec, inst)
    names = {e["extension"][0]["valueString"] for e in qr["extension"] if e["url"] == PARAM_EXT}
    assert params and names == set(params)


def test_a_result_of_another_instrument_is_refused() -> None:
    rec = AssessmentRecord("a-3", "p-1", AT, score(get_instrument("phq9"), PHQ9))
    with pytest.raises(InputError, match="not a gad7 response"):
        questionnaire_response(rec, get_instrument("gad7"))


def _instruments() -> list:
    from engines.scoring.definitions import builtin_instruments

    return list(builtin_instruments().values())
