"""The five-year clinic filler writes what the services read back (issue 21): chunked actigraphy
that decodes to its checksum, and results the twin estimates from, for every patient."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.core.domain import Role
from app.core.store.models import ActigraphySeries, AssessmentResponse, Patient
from app.services import actigraphy, overview, patients, twin
from app.services.context import AppContext
from tests.bench.filler_5y import fill_5y
from tests.support.records import make_user


@pytest.mark.parametrize("interleaved", [False, True])
def test_a_small_five_year_clinic_reads_back_through_the_services(
    ctx: AppContext, interleaved: bool
) -> None:
    me = make_user(ctx, "bench.clinician", Role.CLINICIAN)
    fill_5y(
        ctx, 20, years=1, acti_share=0.1, acti_days=10, assign_to=me.user_id,
        interleaved=interleaved,
    )  # fmt: skip

    visible = patients.list_patients(ctx, me)
    assert len(visible) == 20
    responses = ctx.store.read(lambda s: s.scalar(select(func.count(AssessmentResponse.id))))
    people = ctx.store.read(lambda s: s.scalar(select(func.count(Patient.id))))
    assert (responses, people) == (20 * 2 * 26, 20)  # PHQ-9 and GAD-7, fortnightly for a year
    long = ctx.store.read(
        lambda s: s.scalars(
            select(ActigraphySeries.id).where(ActigraphySeries.n_epochs == 10 * 1440)
        ).all()
    )
    assert len(long) == 2  # a tenth of 20
    short = ctx.store.read(
        lambda s: s.scalar(select(func.count()).where(ActigraphySeries.n_epochs == 14 * 1440))
    )
    assert interleaved or (short or 0) >= 1  # fill()'s own recordings, whose nights lacked dates
    start, epoch_s, values = actigraphy.load_series(ctx, me, long[0])
    assert epoch_s == 60 and len(values) == 10 * 1440  # checksum checked by load_series
    for p in visible:  # fill()'s short recordings included: their nights carry dates now
        assert twin.update(ctx, me, p.id) is not None
        assert overview.patient_overview(ctx, me, p.id).assessments_count == 52
