"""FHIR exchange through the service: export → import into a fresh store, and bad files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.core.config import load_settings
from app.core.domain import Principal, Role
from app.core.errors import ValidationError
from app.core.events import AssessmentCompleted, PatientDataUpdated
from app.services import admin, alerts, assessments, fhir_exchange, patients
from app.services.context import AppContext
from tests.conftest import make_user

# recent enough that the critical PHQ-9 (the last one) is inside the 14-day alert window
T0 = (datetime.now(UTC) - timedelta(days=38)).replace(microsecond=0)

PHQ9_LOW = {f"q{i}": 0 for i in range(1, 11)} | {"q1": 1, "q2": 1}
PHQ9_HIGH = {f"q{i}": 2 for i in range(1, 11)} | {"q9": 1}
GAD7 = {f"q{i}": v for i, v in enumerate([2, 2, 1, 1, 3, 2, 1], start=1)}
CSSRS = {"q1": 1, "q2": 1, "q3": 1, "q4": 0, "q5": 0, "q6": 1, "q6_recent": 0}
PCL5 = {f"q{i}": 2 for i in range(1, 21)}
MADRS = {f"q{i}": 3 for i in range(1, 11)}


def _patient(ctx: AppContext, who: Principal, mrn: str) -> str:
    p = patients.create_patient(
        ctx,
        who,
        mrn=mrn,
        given_name="Fhir",
        family_name="Exchange",
        birth_date=date(1984, 3, 2),
        sex="female",
    )
    return p


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[AppContext]:
    """A second, independent store (another data dir, its own key)."""
    env = {
        "NOVAMIND_DATA_DIR": str(tmp_path / "other-workstation"),
        "NOVAMIND_POLICY": str(tmp_path / "other-policy.toml"),
    }
    context = AppContext.open(load_settings(env))
    yield context
    context.close()


def _fill(ctx: AppContext, who: Principal, pid: str) -> None:
    plan = [
        ("phq9", PHQ9_LOW, None),
        ("gad7", GAD7, None),
        ("cssrs_screener", CSSRS, None),
        ("pcl5", PCL5, {"cutoff": 31}),
        ("madrs", MADRS, None),
        ("phq9", PHQ9_HIGH, None),
    ]
    for i, (inst, answers, params) in enumerate(plan):
        assessments.submit(
            ctx,
            who,
            pid,
            inst,
            answers,
            mode="clinician",
            administered_at=T0 + timedelta(days=7 * i),
            params=params,
        )


def test_round_trip_into_a_fresh_store_gives_identical_scores(
    ctx: AppContext, fresh: AppContext, tmp_path: Path
) -> None:
    doc = make_user(ctx, "dr.a", Role.CLINICIAN)
    pid = _patient(ctx, doc, "A-1")
    _fill(ctx, doc, pid)
    before = assessments.history(ctx, doc, pid)

    out = tmp_path / "export" / "bundle.json"
    summary = fhir_exchange.export_assessments(ctx, doc, pid, out)
    assert summary.assessments == 6
    bundle = json.loads(out.read_text())
    assert bundle["resourceType"] == "Bundle"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("QuestionnaireResponse") == 6 and kinds.count("Observation") == 6
    phq_totals = [
        e["resource"]["valueInteger"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and any(c.get("code") == "44261-6" for c in e["resource"]["code"]["coding"])
    ]
    assert phq_totals == [2, 17]  # 8 items × 2 + item 9 = 1

    doc2 = make_user(fresh, "dr.b", Role.CLINICIAN)
    pid2 = _patient(fresh, doc2, "B-7")
    seen: list[object] = []
    fresh.bus.subscribe(AssessmentCompleted, seen.append)
    fresh.bus.subscribe(PatientDataUpdated, seen.append)
    result = fhir_exchange.import_assessments(fresh, doc2, pid2, out)
    assert len(result.assessment_ids) == 6 and result.duplicates == 0

    after = assessments.history(fresh, doc2, pid2)

    def essence(rows: list[assessments.AssessmentRow]) -> list[tuple]:
        return [(r.instrument, r.administered_at, r.total, r.band, r.critical) for r in rows]

    assert essence(after) == essence(before)
    assert [r.scoring_rule for r in after] == [r.scoring_rule for r in before]
    # PCL-5 was scored with cut-off 31 on the first store and kept it through FHIR
    pcl = next(r for r in after if r.instrument == "pcl5")
    assert pcl.total == 40 and pcl.band == "probable_ptsd"
    assert sum(isinstance(e, AssessmentCompleted) for e in seen) == 6
    assert any(isinstance(e, PatientDataUpdated) for e in seen)
    # the imported PHQ-9 with item 9 > 0 raises the critical alert in the new store too
    open_alerts = alerts.list_open_alerts(fresh, doc2)
    assert any(a.rule == "phq9_item9_positive" and a.severity == "critical" for a in open_alerts)
    assert set(result.alert_ids) == {a.id for a in open_alerts}
    # audited
    report = admin.verify_audit(fresh, make_user(fresh, "it.x", Role.IT))
    assert report is not None

    # importing the same file again stores nothing new
    again = fhir_exchange.import_assessments(fresh, doc2, pid2, out)
    assert again.assessment_ids == () and again.duplicates == 6
    assert len(assessments.history(fresh, doc2, pid2)) == 6


def _count(ctx: AppContext, who: Principal, pid: str) -> int:
    return len(assessments.history(ctx, who, pid))


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda b: b.update(resourceType="Patient"), "resourceType"),
        (lambda b: b["entry"][-2]["resource"].update(authored="last week"), "invalid"),
        (
            lambda b: b["entry"][-2]["resource"]["item"][0]["answer"][0]["valueCoding"].update(
                code="7"
            ),
            "not an allowed option",
        ),
        (lambda b: b["entry"][-1]["resource"].update(valueInteger=3), "recomputed total"),
        (lambda b: b["entry"][-2]["resource"]["item"].pop(3), "required"),
    ],
    ids=["not-a-bundle", "fhir-invalid", "out-of-range", "wrong-total", "incomplete"],
)
def test_invalid_bundle_imports_nothing(
    ctx: AppContext, tmp_path: Path, mutate: object, problem: str
) -> None:
    doc = make_user(ctx, "dr.a", Role.CLINICIAN)
    src = _patient(ctx, doc, "A-1")
    dst = _patient(ctx, doc, "A-2")
    _fill(ctx, doc, src)
    good = tmp_path / "good.json"
    fhir_exchange.export_assessments(ctx, doc, src, good)
    bundle = json.loads(good.read_text())
    mutate(bundle)  # the last response is the critical PHQ-9, earlier ones are valid
    bad = tmp_path / "broken-bundle.json"
    bad.write_text(json.dumps(bundle))
    with pytest.raises(ValidationError) as err:
        fhir_exchange.import_assessments(ctx, doc, dst, bad)
    message = str(err.value)
    assert message.startswith("broken-bundle.json: ") and problem in message
    assert _count(ctx, doc, dst) == 0
    assert alerts.list_open_alerts(ctx, doc) == [
        a for a in alerts.list_open_alerts(ctx, doc) if a.patient_id == src
    ]


def test_unreadable_and_non_json_files_are_named(ctx: AppContext, tmp_path: Path) -> None:
    doc = make_user(ctx, "dr.a", Role.CLINICIAN)
    pid = _patient(ctx, doc, "A-1")
    with pytest.raises(ValidationError, match=r"^missing\.json: cannot be read"):
        fhir_exchange.import_assessments(ctx, doc, pid, tmp_path / "missing.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(ValidationError, match=r"^junk\.json: FHIR bundle: not valid JSON"):
        fhir_exchange.import_assessments(ctx, doc, pid, junk)
    assert _count(ctx, doc, pid) == 0


def test_only_the_care_team_may_export_or_import(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    from app.core.errors import PermissionDeniedError

    mine = clinic["mine"]
    users = clinic["users"]
    assessments.submit(ctx, users[Role.CLINICIAN], mine, "gad7", GAD7, administered_at=T0)
    out = tmp_path / "b.json"
    with pytest.raises(PermissionDeniedError):
        fhir_exchange.export_assessments(ctx, clinic["other"], mine, out)
    assert not out.exists()
    fhir_exchange.export_assessments(ctx, users[Role.CLINICIAN], mine, out)
    with pytest.raises(PermissionDeniedError):
        fhir_exchange.import_assessments(ctx, clinic["other"], mine, out)
