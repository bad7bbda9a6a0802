"""The clinical history travels between workstations (issue 20 item 1): the intake history
(patients.history_json), a medication's stop reason and admissions (encounters) recorded on one
workstation merge into another through the real sync engine and moto's S3 server, and a later
edit of the new columns merges back field by field.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.core.domain import Role
from app.core.store.models import Encounter, Medication, Patient
from app.services import history
from app.services.history import IntakeHistory, intake_of
from tests.integration.sync.helpers import Workstation, dump, make_bucket, open_workstation
from tests.support.moto import running_moto
from tests.support.records import add_patient, make_user


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with running_moto() as url:
        yield url


@pytest.fixture
def pair(moto: str, tmp_path: Path) -> Iterator[list[Workstation]]:
    """Two enrolled workstations of one clinic."""
    clinic = make_bucket(moto, tmp_path)
    ws = [open_workstation(tmp_path, n, clinic) for n in ("ws-a", "ws-b")]
    yield ws
    for w in ws:
        w.close()


def _round(pair: list[Workstation]) -> None:
    for _ in range(2):
        for w in pair:
            w.sync()


def test_history_recorded_on_one_workstation_merges_into_another(
    pair: list[Workstation],
) -> None:
    a, b = pair
    me = make_user(a.ctx, "dr.sync", Role.CLINICIAN)
    pid = add_patient(a.ctx, me, "S-1", birth_date=date(1980, 1, 1))
    intake = IntakeHistory(prior_episodes=2, age_at_onset=30.0, flags={"hopelessness": True})
    history.record_intake(a.ctx, me, pid, intake)
    med = history.add_medication(
        a.ctx, me, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
        frequency="once daily", start=date(2024, 1, 1),
    )  # fmt: skip
    history.stop_medication(a.ctx, me, med, end=date(2024, 3, 1), reason="inadequate_response")
    adm = history.record_admission(a.ctx, me, pid, admitted=date(2024, 4, 1))
    _round([a, b])

    def read(s: Session) -> tuple[Any, ...]:
        return (
            intake_of(s.get(Patient, pid).history_json),
            s.get(Medication, med).stop_reason,
            (s.get(Encounter, adm).kind, s.get(Encounter, adm).end),
        )

    got, reason, (kind, end) = b.ctx.store.read(read)
    assert (got.prior_episodes, got.age_at_onset, dict(got.flags)) == (
        2,
        30.0,
        {"hopelessness": True},
    )
    assert got.recorded_by == me.user_id
    assert (reason, kind, end) == ("inadequate_response", "admission", None)

    # the discharge is recorded on the other workstation and merges back
    history.record_discharge(b.ctx, me, adm, discharged=date(2024, 4, 20))
    history.record_intake(b.ctx, me, pid, IntakeHistory(prior_episodes=3))
    _round([a, b])
    assert dump(a) == dump(b)
    assert history.get_history(a.ctx, me, pid).admissions[0].discharged == date(2024, 4, 20)
    assert history.get_history(a.ctx, me, pid).intake.prior_episodes == 3
