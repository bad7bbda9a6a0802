"""Feature rows after a sync merge (issue 21 item 1): records another workstation wrote arrive
through the sync engine and the receiving store's feature row is current in the merge's own
transaction, equal to the assembly from the records; an edit and a soft delete merged later
too. The table itself is local (never synced)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from app.core.store.models import Encounter, Medication, Patient, PatientFeatureRow
from app.core.store.store import SYSTEM
from app.services import assessments, feature_rows
from app.services.context import AppContext
from tests.integration.core.test_features_many import _same, old_build_features
from tests.integration.sync.helpers import Workstation, add_patients

PHQ9 = {f"q{i}": 2 for i in range(1, 10)}


def _records(ws: Workstation, pid: str) -> str:
    """PHQ-9s, an intake, a medication and an admission, written as an import would; returns
    the medication's id."""
    now = datetime.now(UTC)

    def do(uow: Any) -> str:  # noqa: ANN401
        for days in (40, 26, 12, 1):
            assessments.record_assessment(
                uow, SYSTEM, pid, "phq9", PHQ9, administered_at=now - timedelta(days=days),
                mode="clinician", evaluate_alerts=False,
            )  # fmt: skip
        p = uow.session.get(Patient, pid)
        p.history_json = json.dumps(
            {"recorded_at": (now - timedelta(days=2)).isoformat(), "prior_episodes": 2,
             "prior_admissions_before": 1, "failed_trials_before": 0}
        )  # fmt: skip
        med = Medication(
            patient_id=pid, name="drug", drug_class="SSRI", dose=10.0, unit="mg",
            frequency="daily", start=date(2024, 1, 1), adherence=0.8,
        )  # fmt: skip
        uow.session.add(med)
        uow.session.add(
            Encounter(
                patient_id=pid, kind="admission", start=datetime(2024, 3, 1, tzinfo=UTC),
                end=datetime(2024, 3, 20, tzinfo=UTC),
            )
        )  # fmt: skip
        uow.session.flush()
        return med.id

    return ws.ctx.store.write(do)


def _check(ctx: AppContext, pid: str) -> dict:
    row = ctx.store.read(lambda s: s.get(PatientFeatureRow, pid))
    assert row is not None and row.stale == 0
    now = datetime.now(UTC) + timedelta(seconds=1)
    got = ctx.store.read(lambda s: feature_rows.features_from_rows(s, [pid], now))
    assert pid in got  # served from the row the merge brought up to date
    assert _same([got[pid]], [ctx.store.read(lambda s: old_build_features(s, pid, now))])
    return got[pid]


def test_a_merge_from_another_workstation_keeps_the_row_current(
    stations: list[Workstation],
) -> None:
    a, b, _ = stations
    (pid,) = add_patients(a, 1, "F")
    med = _records(a, pid)
    for _ in range(2):
        a.sync()
        b.sync()
    got = _check(b.ctx, pid)
    assert got["n_psychotropics"] == 1 and got["prior_admissions"] == 2
    assert "phq9_slope" in got

    def stop(uow: Any) -> None:  # noqa: ANN401 — a later edit and a soft delete on A
        m = uow.session.get(Medication, med)
        m.deleted_at = datetime.now(UTC)
        uow.session.get(Patient, pid).sex = "female"

    a.ctx.store.write(stop)
    for _ in range(2):
        a.sync()
        b.sync()
    got = _check(b.ctx, pid)
    assert got["n_psychotropics"] == 0 and got["sex_female"] == 1


def test_merged_rows_are_announced_with_their_patient(stations: list[Workstation]) -> None:
    """Sync's PatientDataUpdated events name the patient of each merged row (the patient's own
    id for a patients row), so an open chart and the gateway's subscribers can act on them
    without reading the record first."""
    from app.core.events import Change, PatientDataUpdated

    a, b, _ = stations
    (pid,) = add_patients(a, 1, "E")
    _records(a, pid)
    seen: list[PatientDataUpdated] = []
    off = b.ctx.bus.subscribe(PatientDataUpdated, seen.append)
    try:
        a.sync()
        b.sync()
    finally:
        off()
    merged = [e for e in seen if e.change == Change.SYNCED]
    charted = {"patients", "assessment_responses", "medications", "encounters"}
    assert charted <= {str(e.record_type) for e in merged}
    assert {e.patient_id for e in merged if str(e.record_type) in charted} == {pid}
