"""FHIR Bundle import fuzzing through the path the user's import runs.

app.services.fhir_exchange.import_assessments (engines.scoring.fhir streaming reader, then one
store transaction). Every input must either be imported in full or be refused with
ValidationError naming the file and the problem, echoing no file content, with the store
unchanged (store_fingerprint). Never RecursionError, OverflowError, ValueError, MemoryError.
There is no FHIR import command in the `novamind` CLI, so no CLI run here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.core.domain import Principal, Role
from app.core.errors import ValidationError
from app.services import assessments, fhir_exchange
from app.services.context import AppContext
from engines.scoring.definitions import builtin_instruments
from engines.scoring.engine import score
from engines.scoring.fhir import AssessmentRecord, export_bundle
from tests.conftest import make_user
from tests.fuzz.conftest import CORPUS, assert_refused, store_fingerprint
from tests.support.records import add_patient

FUZZ = settings.get_profile("fuzz")
MARKER = "Zebediah-Quux"  # planted in hostile values: must never appear in an error message
ISSUE_DATES = (
    "0001-01-01T00:00:00+14:00",
    "2999-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "1899-12-31T23:59:59Z",
    "1900-01-01T00:00:00+01:00",
)


def _base_bundle() -> dict[str, Any]:
    """A valid export: one PHQ-9 and one GAD-7 of one patient, recent and plausible."""
    insts = builtin_instruments()
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    phq = {f"q{i}": 1 for i in range(1, 11)} | {"q9": 0}
    gad = {f"q{i}": 2 for i in range(1, 8)}
    recs = [
        AssessmentRecord("f-1", "ext-1", when, score(insts["phq9"], phq)),
        AssessmentRecord("f-2", "ext-1", when + timedelta(hours=1), score(insts["gad7"], gad)),
    ]
    return export_bundle(recs)


BASE = _base_bundle()


@pytest.fixture
def target(ctx: AppContext) -> tuple[Principal, str]:
    doc = make_user(ctx, "dr.fuzz", Role.CLINICIAN)
    pid = add_patient(ctx, doc, "FZ-1", given_name="Fuzz", family_name="Target")
    return doc, pid


def _check(ctx: AppContext, who: Principal, pid: str, path: Path) -> str:
    """Import `path`; assert the contract; return 'stored' or 'refused'."""
    n_before = len(assessments.history(ctx, who, pid))  # (reading PHI is itself recorded)
    before = store_fingerprint(ctx)
    try:
        summary = fhir_exchange.import_assessments(ctx, who, pid, path)
    except ValidationError as exc:
        msg = str(exc)
        assert msg.startswith(f"{path.name}: "), msg
        assert MARKER not in msg
        assert store_fingerprint(ctx) == before, "a refused import changed the store"
        return "refused"
    n_after = len(assessments.history(ctx, who, pid))
    assert n_after == n_before + len(summary.assessment_ids)
    return "stored"


# -- hostile values planted at any path of a valid bundle ---------------------------------------

HOSTILE = st.one_of(
    st.sampled_from(ISSUE_DATES),
    st.sampled_from(("3", "true", "", MARKER, "\u202e\u0000", "𝄞" * 3)),
    st.booleans(),
    st.none(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from((2**31, 2**63, -1, 0, 10**400)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20).map(lambda t: t + MARKER),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.integers(20, 3000).map(lambda n: {"deep": "@" * n}),  # replaced by n nested lists
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:  # noqa: ANN401
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(BASE) if p]


def _dump(doc: Any) -> str:  # noqa: ANN401
    text = json.dumps(doc, ensure_ascii=False, allow_nan=True)
    while '{"deep": "@' in text:  # deep nesting, written as text (json.dumps would recurse)
        start = text.index('{"deep": "@')
        end = text.index('"}', start) + 2
        n = end - start - len('{"deep": ""}')
        text = text[:start] + "[" * n + "]" * n + text[end:]
    return text


@st.composite
def mutated_bundles(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(("replace", "replace", "delete")))
            if action == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(HOSTILE)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the path
    return _dump(doc)


@settings(FUZZ, max_examples=30)
@given(text=mutated_bundles())
def test_mutated_bundles_import_fully_or_not_at_all(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "mutated-bundle.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    event(_check(ctx, *target, path))


# -- raw JSON and bytes ----------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)


@st.composite
def raw_documents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("json", "bundle-shaped", "nested", "bytes", "cut")))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES)).encode()
    if kind == "bundle-shaped":
        doc = {"resourceType": "Bundle", "type": "collection", "entry": draw(JSON_VALUES)}
        return json.dumps(doc).encode()
    if kind == "nested":
        n = draw(st.sampled_from((33, 1000, 100_000)))
        opener, closer = draw(st.sampled_from((("[", "]"), ('{"a":', "}"))))
        inner = "[" * n + "]" * n if opener == "[" else opener * n + "1" + closer * n
        return ('{"resourceType":"Bundle","type":"collection","entry":' + inner + "}").encode()
    if kind == "cut":
        text = json.dumps(BASE).encode()
        return text[: draw(st.integers(0, len(text) - 1))]
    return draw(st.binary(max_size=200))


@settings(FUZZ, max_examples=30)
@given(data=raw_documents())
def test_raw_documents_never_crash(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path, data: bytes
) -> None:
    path = tmp_path / "raw-bundle.json"
    path.write_bytes(data)
    event(_check(ctx, *target, path))


# -- the issue's cases, one by one --------------------------------------------------------------


def _qr(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["entry"][2]["resource"]  # entries: Questionnaire x2, then QR, Observation, ...


def _write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _import_refused(ctx: AppContext, target: tuple[Principal, str], path: Path, match: str) -> None:
    """The user's import of `path` is refused (message matching `match`), storing nothing."""
    assert_refused(ctx, match, fhir_exchange.import_assessments, ctx, *target, path)


@pytest.mark.parametrize("authored", ISSUE_DATES[:4])
def test_implausible_authored_dates_are_refused(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path, authored: str
) -> None:
    doc = copy.deepcopy(BASE)
    assert _qr(doc)["resourceType"] == "QuestionnaireResponse"
    _qr(doc)["authored"] = authored
    path = _write(tmp_path / "dates.json", doc)
    with pytest.raises(ValidationError, match=r"^dates\.json: .*authored: date-time outside"):
        fhir_exchange.import_assessments(ctx, *target, path)


# The same value as the answer's coding (1), so only the JSON type is wrong: the old importer let
# pydantic coerce "1", true and 1.0 to 1 and stored them.
@pytest.mark.parametrize("value", ["1", True, 1.0, [1]], ids=["str", "bool", "float", "list"])
def test_integer_answers_of_the_wrong_type_are_refused(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path, value: object
) -> None:
    doc = copy.deepcopy(BASE)
    _qr(doc)["item"][0]["answer"] = [{"valueInteger": value}]
    path = _write(tmp_path / "types.json", doc)
    _import_refused(ctx, target, path, r"^types\.json: .*valueInteger: must be an integer")


def test_a_true_integer_answer_is_still_accepted(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path
) -> None:
    doc = copy.deepcopy(BASE)
    _qr(doc)["item"][0]["answer"] = [{"valueInteger": 1}]  # the same value as its coding
    path = _write(tmp_path / "int.json", doc)
    assert len(fhir_exchange.import_assessments(ctx, *target, path).assessment_ids) == 2


def test_deep_nesting_is_refused_before_parsing(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path
) -> None:
    n = 200_000
    path = tmp_path / "deep.json"
    path.write_text('{"resourceType":"Bundle","entry":' + "[" * n + "]" * n + "}")
    _import_refused(ctx, target, path, r"^deep\.json: FHIR bundle: nested deeper than")


def test_one_bad_response_among_many_stores_nothing(
    ctx: AppContext, target: tuple[Principal, str], tmp_path: Path
) -> None:
    doc = copy.deepcopy(BASE)
    doc["entry"][-2]["resource"]["authored"] = ISSUE_DATES[0]  # the LAST response is bad
    path = _write(tmp_path / "late-error.json", doc)
    _import_refused(ctx, target, path, "authored")


def test_every_corpus_file(ctx: AppContext, target: tuple[Principal, str]) -> None:
    """Files named ok_* are valid edge cases (stored); every other file is refused."""
    files = sorted((CORPUS / "fhir").glob("*.json"))
    assert len(files) >= 30
    for path in files:
        outcome = _check(ctx, *target, path)
        assert outcome == ("stored" if path.name.startswith("ok_") else "refused"), path.name


def test_limits_are_one_definition() -> None:
    from engines.scoring.fhir import BUNDLE_LIMITS

    assert fhir_exchange.MAX_BUNDLE_BYTES == BUNDLE_LIMITS.max_bytes
    assert BUNDLE_LIMITS.earliest.year == 1900 and BUNDLE_LIMITS.future_slack.days == 1
