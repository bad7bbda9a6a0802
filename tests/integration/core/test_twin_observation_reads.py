"""The twin reads a patient's scores as columns, parsing stored answers only for instruments
whose sources read items (issue 21, five-year clinic): the observations are exactly those of
reading whole rows and parsing every answer set."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Role
from app.core.store.models import AssessmentResponse
from app.core.store.store import UnitOfWork
from app.services import assessments, twin
from app.services.context import AppContext
from engines.twin.observations import Observation

ANSWERS = {
    "phq9": {f"q{i}": (i % 4) for i in range(1, 10)},
    "gad7": {f"q{i}": (i % 3) for i in range(1, 8)},
    "pcl5": {f"q{i}": 1 for i in range(1, 21)},  # no twin source: never an observation
    "cssrs_screener": {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0, "q6": 0},  # fmt: skip
}


def _whole_rows(session: Session, patient_id: str) -> list[Observation]:
    """The reading before issue 21: entities, every answer set parsed."""
    out = []
    for row in session.scalars(
        select(AssessmentResponse).where(AssessmentResponse.patient_id == patient_id)
    ):
        data = json.loads(row.answers_json)
        answers = data.get("answers", {}) if isinstance(data, dict) else {}
        for source, read in twin.MAPPINGS.get(row.instrument, []):
            value = read(answers, row.total)
            if value is not None:
                out.append(
                    Observation(f"{row.id}/{source}", source, row.administered_at, float(value))
                )
    return out


def test_column_reading_gives_the_same_observations(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    start = datetime.now(UTC) - timedelta(days=70)
    for week in range(3):
        for instrument, answers in ANSWERS.items():
            when = start + timedelta(days=7 * week, hours=len(instrument))
            assessments.submit(ctx, me, pid, instrument, answers, administered_at=when)

    got = ctx.store.read(lambda s: twin.observations_for(s, pid))
    want = ctx.store.read(lambda s: _whole_rows(s, pid))

    def key(o: Observation) -> str:
        return o.obs_id

    assert sorted(got, key=key) == sorted(want, key=key)
    sources = {o.source for o in got}
    assert {"phq9.item9", "gad7.total", "cssrs.ideation_severity"} <= sources
    assert not any(o.source.startswith("pcl5") for o in got)


def test_instruments_left_unparsed_read_only_the_total() -> None:
    """An instrument whose answers are not parsed must map nothing but the stored total; a new
    item-reading source must add its instrument to twin._READS_ANSWERS."""
    items = {f"q{i}": 3 for i in range(1, 30)}
    for instrument, readers in twin.MAPPINGS.items():
        if instrument in twin._READS_ANSWERS:  # noqa: SLF001
            continue
        for _source, read in readers:
            assert read(items, 7.0) == read({}, 7.0) == 7.0


def test_a_deleted_assessment_no_longer_feeds_the_twin(ctx: AppContext, clinic: dict) -> None:
    """Deleted rows (deleted_at set, e.g. merged in by sync) leave the twin like every list."""
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    when = datetime.now(UTC) - timedelta(days=3)
    kept = assessments.submit(ctx, me, pid, "phq9", ANSWERS["phq9"], administered_at=when)
    gone = assessments.submit(
        ctx, me, pid, "phq9", ANSWERS["phq9"], administered_at=when + timedelta(hours=1)
    )

    def delete(uow: UnitOfWork) -> None:
        row = uow.session.get(AssessmentResponse, gone.assessment_id)
        row.deleted_at = datetime.now(UTC)

    ctx.store.write(delete)
    ids = {o.obs_id.split("/")[0] for o in ctx.store.read(lambda s: twin.observations_for(s, pid))}
    assert kept.assessment_id in ids
    assert gone.assessment_id not in ids
