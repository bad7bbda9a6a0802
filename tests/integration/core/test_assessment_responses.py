"""`assessments.responses`: a patient's stored responses with their answers and sub-scores,
filtered and bounded in one audited read, refused without the care-team permission."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.domain import Role
from app.core.errors import PermissionDeniedError, ValidationError
from app.core.store.models import AssessmentResponse, AuditEvent
from app.services import assessments, phi_audit
from app.services.context import AppContext
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import score

PHQ9 = {f"q{i}": v for i, v in enumerate([2, 1, 3, 0, 2, 1, 2, 0, 0], start=1)}
PCL5 = {f"q{i}": (i * 3) % 5 for i in range(1, 21)}
DAY = datetime(2026, 11, 1, 9, tzinfo=UTC)


def events(ctx: AppContext, action: str) -> list[AuditEvent]:
    return ctx.store.read(
        lambda s: list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    )


def submit(ctx: AppContext, clinic: dict, instrument: str, answers: dict, days: int) -> str:
    me = clinic["users"][Role.CLINICIAN]
    at = DAY + timedelta(days=days)
    outcome = assessments.submit(ctx, me, clinic["mine"], instrument, answers, administered_at=at)
    return outcome.assessment_id


def test_newest_first_with_answers_sub_scores_and_one_audited_read(
    ctx: AppContext, clinic: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    ids = [submit(ctx, clinic, "phq9", PHQ9, d) for d in (0, 10, 20)]
    pcl = submit(ctx, clinic, "pcl5", PCL5, 15)
    before = len(events(ctx, "assessment.list"))
    found = assessments.responses(ctx, me, clinic["mine"])
    assert found.matched == 4
    assert [r.assessment_id for r in found.records] == [ids[2], pcl, ids[1], ids[0]]
    by_id = {r.assessment_id: r for r in found.records}
    expected = score(get_instrument("pcl5"), PCL5)
    assert by_id[pcl].result.subscales == expected.subscales and expected.subscales
    assert dict(by_id[ids[0]].result.answers) == PHQ9
    assert {r.patient_id for r in found.records} == {clinic["mine"]}
    assert by_id[ids[1]].authored == DAY + timedelta(days=10)
    (event, *more) = events(ctx, "assessment.list")[before:]
    assert not more  # one event per read, naming the patient and how many were returned
    assert event.patient_id == clinic["mine"] and '"count": 4' in event.detail_json


def test_filters_limit_and_deleted_responses(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    ids = [submit(ctx, clinic, "phq9", PHQ9, d) for d in (0, 10, 20)]
    pcl = submit(ctx, clinic, "pcl5", PCL5, 15)

    def got(**kw: object) -> list[str]:
        return [r.assessment_id for r in assessments.responses(ctx, me, pid, **kw).records]  # type: ignore[arg-type]

    assert got(instrument="phq9") == ids[::-1]
    assert got(instrument="gad7") == []
    # [since, until): a datetime exactly, a date from the start of its UTC day
    assert got(since=DAY + timedelta(days=10), until=DAY + timedelta(days=20)) == [pcl, ids[1]]
    assert got(since=date(2026, 11, 12)) == [ids[2], pcl]
    assert got(until=date(2026, 11, 12)) == [ids[1], ids[0]]
    first = assessments.responses(ctx, me, pid, limit=1)
    assert [r.assessment_id for r in first.records] == [ids[2]] and first.matched == 4

    def delete(uow: object) -> None:
        row = uow.session.get(AssessmentResponse, ids[2])  # type: ignore[attr-defined]
        row.deleted_at = datetime.now(UTC)

    ctx.store.write(delete)
    assert got() == [pcl, ids[1], ids[0]]


def test_refusals_read_and_audit_nothing(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    submit(ctx, clinic, "phq9", PHQ9, 0)
    before = ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(AuditEvent)))
    with pytest.raises(PermissionDeniedError):
        assessments.responses(ctx, me, clinic["theirs"])
    with pytest.raises(PermissionDeniedError):  # a researcher reads no identified record
        assessments.responses(ctx, clinic["users"][Role.RESEARCHER], clinic["mine"])
    with pytest.raises(ValidationError, match="time zone"):
        assessments.responses(ctx, me, clinic["mine"], since=datetime(2026, 11, 1))
    for bad in (0, assessments.MAX_RESPONSES + 1):
        with pytest.raises(ValidationError):
            assessments.responses(ctx, me, clinic["mine"], limit=bad)
    after = ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(AuditEvent)))
    assert after == before


def test_a_supervisor_reads_any_patient_audited_by_name(ctx: AppContext, clinic: dict) -> None:
    submit(ctx, clinic, "phq9", PHQ9, 0)
    sup = clinic["users"][Role.SUPERVISOR]
    found = assessments.responses(ctx, sup, clinic["mine"])
    assert found.matched == 1
    event = events(ctx, "assessment.list")[-1]
    assert event.actor_id == sup.user_id and event.patient_id == clinic["mine"]
    assert phi_audit.decode_ids({}) == []
