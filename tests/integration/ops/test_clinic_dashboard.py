"""The clinic dashboard on a small fixed history whose figures were computed by hand.

Period 2026-04-08 .. 2026-06-30 (84 days: three 28-day windows), "now" 2026-06-30 12:00 UTC.
T-1 (dr. me): PHQ-9 on Apr 10, May 10, Jun 10 (3 windows), GAD-7 on Apr 10 (1; 53 days overdue)
T-2 (dr. other): PHQ-9 Apr 9 + Apr 20 (one window; 43 days overdue), GAD-7 Jun 20 (1)
T-3 (dr. me): PHQ-9 on Mar 1, before the period (0; 93 days overdue), GAD-7 never
=> PHQ-9 due 9 done 4, GAD-7 due 9 done 2; dr. me PHQ-9 6/3, GAD-7 6/1; dr. other 3/1, 3/1.
Alerts: critical T-1 Jun 1 08:00 ack +2 h resolved +24 h; critical T-2 Jun 5 ack +6 h
resolved +12 h; critical T-3 Jun 10 never acknowledged (target 4 h: overdue); warning T-1
Jun 20 resolved +24 h without acknowledging first; warning T-2 Mar 1 (outside the period).
=> critical: 3 alerts, ack median 4 h p90 6 h, resolve median 18 h p90 24 h, 1 overdue.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.errors import PermissionDeniedError, ValidationError
from app.core.store.models import (
    AssessmentResponse,
    AuditEvent,
    Prediction,
)
from app.services import access, clinic_dashboard, dashboard_cache, patients, phi_audit
from app.services.access import Feature
from app.services.clinic_dashboard import DashboardFilter
from app.services.context import AppContext
from engines.xgb.bands import BANDS
from tests.support.dashboard_history import NOW, PERIOD, assess, at, build_history
from tests.support.records import add_patient, make_user


@pytest.fixture
def history(ctx: AppContext, clinic, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    return build_history(ctx, clinic, monkeypatch)


def _row(dash, instrument: str, clinician_id: str | None):
    return next(
        r for r in dash.completion if r.instrument == instrument and r.clinician_id == clinician_id
    )


@pytest.mark.parametrize(
    "warm",
    ["sql", "arrays", "large"],
    ids=["first page (SQL)", "filter (arrays)", "large scope waits for the arrays"],
)
def test_supervisor_sees_the_clinic_computed_by_hand(
    ctx, clinic, history, warm, monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    if warm == "arrays":  # the arrays a filter change reads (built in the background)
        dashboard_cache.assessments(ctx)
        dashboard_cache.predictions(ctx, "relapse_6m", BANDS)
    elif warm == "sql":
        assert dashboard_cache.assessments(ctx, wait=False) is None  # cold: read by SQL
    else:  # a clinic this size would wait for the arrays' build rather than scan by SQL
        monkeypatch.setattr(clinic_dashboard, "ARRAYS_FROM_PATIENTS", 1)
        reads = []
        monkeypatch.setattr(clinic_dashboard.m, "windows_done", lambda *a: reads.append(a) or [])
    dash = clinic_dashboard.load(ctx, sup, PERIOD, now=NOW)
    assert dash.scope.kind == "clinic" and dash.patients == 3
    phq, gad = _row(dash, "phq9", None), _row(dash, "gad7", None)
    assert (phq.due, phq.done, phq.overdue_patients) == (9, 4, 2)
    assert (gad.due, gad.done, gad.overdue_patients) == (9, 2, 2)
    assert phq.rate == pytest.approx(4 / 9)
    me, other = history["me"].user_id, history["other"].user_id
    assert (_row(dash, "phq9", me).due, _row(dash, "phq9", me).done) == (6, 3)
    assert (_row(dash, "gad7", me).due, _row(dash, "gad7", me).done) == (6, 1)
    assert (_row(dash, "phq9", other).due, _row(dash, "phq9", other).done) == (3, 1)
    overdue = {(r.mrn, r.instrument): r.days_overdue for r in dash.overdue}
    assert overdue == {
        ("T-1", "gad7"): 53, ("T-2", "phq9"): 43, ("T-3", "phq9"): 93, ("T-3", "gad7"): None,
    }  # fmt: skip
    assert dash.overdue[0].days_overdue is None  # never administered first, then most overdue
    crit = next(r for r in dash.response if r.severity == "critical")
    assert (crit.alerts, crit.acknowledged, crit.resolved, crit.overdue_open) == (3, 2, 2, 1)
    assert (crit.ack_median_h, crit.ack_p90_h) == (4.0, 6.0)
    assert (crit.resolve_median_h, crit.resolve_p90_h) == (18.0, 24.0)
    warn = next(r for r in dash.response if r.severity == "warning")
    assert (warn.alerts, warn.ack_median_h, warn.resolve_median_h) == (1, 24.0, 24.0)
    risk = {p.as_of: dict(p.counts) for p in dash.risk}
    assert [p.as_of for p in dash.risk] == [date(2026, 4, 30), date(2026, 5, 31), PERIOD.last]
    assert (risk[date(2026, 4, 30)]["high"], risk[date(2026, 4, 30)]["none"]) == (1, 2)
    assert (risk[date(2026, 5, 31)]["high"], risk[date(2026, 5, 31)]["moderate"]) == (1, 1)
    assert (risk[PERIOD.last]["low"], risk[PERIOD.last]["high"], risk[PERIOD.last]["none"]) == (
        1, 0, 1,
    )  # fmt: skip
    (finding,) = dash.findings
    assert (finding.model, finding.findings, finding.accepted, finding.rejected) == (
        "mentallama-7b", 3, 1, 1,
    )  # fmt: skip
    assert finding.pending == 1 and finding.acceptance == 0.5
    assert (dash.wear.patients, dash.wear.days_recorded, dash.wear.wear_days) == (1, 5, 4)
    assert dict(dash.wear.histogram)["≥ 75 %"] == 1
    if warm == "large":
        assert reads == []  # no SQL scan of the administrations


def test_clinician_filter_narrows_a_supervisor_to_one_care_team(ctx, clinic, history) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    flt = DashboardFilter(PERIOD.first, PERIOD.last, clinician_id=history["other"].user_id)
    dash = clinic_dashboard.load(ctx, sup, flt, now=NOW)
    assert dash.patients == 1
    assert (_row(dash, "phq9", None).due, _row(dash, "phq9", None).done) == (3, 1)
    assert {r.mrn for r in dash.overdue} == {"T-2"}
    with pytest.raises(ValidationError):
        clinic_dashboard.load(ctx, sup, DashboardFilter(PERIOD.last, PERIOD.first), now=NOW)


def test_clinician_sees_only_their_caseload(ctx, clinic, history) -> None:
    me = history["me"]
    dash = clinic_dashboard.load(ctx, me, PERIOD, now=NOW)
    assert dash.scope.kind == "caseload" and dash.patients == 2
    assert dash.scope.clinicians == ((me.user_id, me.display_name),)
    assert {r.mrn for r in dash.overdue} == {"T-1", "T-3"}
    assert (_row(dash, "phq9", None).due, _row(dash, "phq9", None).done) == (6, 3)
    crit = next(r for r in dash.response if r.severity == "critical")
    assert (crit.alerts, crit.ack_median_h, crit.overdue_open) == (2, 2.0, 1)
    assert dash.findings[0].findings == 3 and dash.wear.patients == 0  # T-2's recording: not mine
    rows = clinic_dashboard.drill(ctx, me, dash, "overdue:phq9")
    assert [r.mrn for r in rows] == ["T-3"]
    other = DashboardFilter(PERIOD.first, PERIOD.last, clinician_id=history["other"].user_id)
    with pytest.raises(PermissionDeniedError):
        clinic_dashboard.load(ctx, me, other, now=NOW)


def test_drill_down_is_permission_checked_and_audited(ctx, clinic, history) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    dash = clinic_dashboard.load(ctx, sup, PERIOD, now=NOW)
    rows = clinic_dashboard.drill(ctx, sup, dash, "overdue:phq9")
    assert sorted(r.mrn for r in rows) == ["T-2", "T-3"]
    assert [r.mrn for r in clinic_dashboard.drill(ctx, sup, dash, "alerts:critical")] == ["T-3"]
    assert [r.mrn for r in clinic_dashboard.drill(ctx, sup, dash, "risk:low")] == ["T-1"]
    assert [r.mrn for r in clinic_dashboard.drill(ctx, sup, dash, "wear")] == ["T-2"]
    done = clinic_dashboard.drill(ctx, sup, dash, f"completion:gad7:{history['me'].user_id}")
    assert sorted(r.mrn for r in done) == ["T-1", "T-3"]

    def last_drill(session):
        ev = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "dashboard.drill")
            .order_by(AuditEvent.seq.desc())
        ).first()
        return json.loads(ev.detail_json)

    first_drill = ctx.store.read(
        lambda s: json.loads(
            s.scalars(
                select(AuditEvent.detail_json)
                .where(AuditEvent.action == "dashboard.drill")
                .order_by(AuditEvent.seq)
            ).first()
        )
    )
    assert sorted(phi_audit.decode_ids(first_drill)) == sorted([history["t2"], history["t3"]])
    assert ctx.store.read(last_drill)["figure"] == "completion"
    with pytest.raises(ValidationError):
        clinic_dashboard.drill(ctx, sup, dash, "names:all")
    with pytest.raises(PermissionDeniedError):  # a dashboard computed for another role
        clinic_dashboard.drill(ctx, history["me"], dash, "overdue:phq9")


def test_admin_and_it_see_no_clinical_numbers(ctx, clinic, history) -> None:
    for role in (Role.ADMIN, Role.IT):
        who = clinic["users"][role]
        with pytest.raises(PermissionDeniedError):
            clinic_dashboard.load(ctx, who, PERIOD, now=NOW)
        assert not access.may(who, Feature.DASHBOARD_CLINICAL)
    assert not access.may(clinic["users"][Role.ADMIN], Feature.CLINIC_DASHBOARD)
    it = clinic["users"][Role.IT]
    assert access.may(it, Feature.CLINIC_DASHBOARD) and access.may(it, Feature.DASHBOARD_OPERATIONS)
    assert not access.may(clinic["users"][Role.CLINICIAN], Feature.DASHBOARD_OPERATIONS)


def test_exports_are_audited_disclosures(ctx, clinic, history, tmp_path: Path) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    dash = clinic_dashboard.load(ctx, sup, PERIOD, now=NOW)
    out = clinic_dashboard.export_csv(ctx, sup, dash, tmp_path / "clinic.csv")
    text = out.read_text("utf-8")
    assert "T-3" in text and "Alert response" in text

    def disclosures(session):
        return [
            json.loads(d)
            for d in session.scalars(
                select(AuditEvent.detail_json).where(
                    AuditEvent.action == phi_audit.DISCLOSURE,
                    AuditEvent.record_type == "dashboard",
                )
            )
        ]

    (detail,) = ctx.store.read(disclosures)
    assert detail["format"] == "csv" and detail["destination_suffix"] == ".csv"
    assert "clinic" not in json.dumps({k: v for k, v in detail.items() if k != "scope"})
    assert set(phi_audit.decode_ids(detail)) == {history["t1"], history["t2"], history["t3"]}
    with pytest.raises(ValidationError):
        clinic_dashboard.record_export(ctx, sup, dash, kind="docx", destination=tmp_path / "x")
    assert len(ctx.store.read(disclosures)) == 1  # a refused export records nothing


def _research_clinic(ctx: AppContext, clinic) -> list[str]:
    """Twelve more patients: PHQ-9 every fortnight for nine of them, predictions for eight
    (six "high", two "low"), so some cells reach 5 and some do not."""
    sup = clinic["users"][Role.SUPERVISOR]
    ids = [add_patient(ctx, sup, f"R-{i:02d}", family_name=f"Research{i}") for i in range(12)]
    for i, pid in enumerate(ids[:9]):
        for k in range(6):
            assess(ctx, pid, "phq9", at(4, 10) + timedelta(days=14 * k + i % 3))

    def preds(uow) -> None:
        for i, pid in enumerate(ids[:8]):
            uow.session.add(
                Prediction(
                    patient_id=pid, target="relapse_6m", probability=0.9, interval_low=0.8,
                    interval_high=0.95, band="high" if i < 6 else "low", model_name="m",
                    model_version="1", provenance="test", generated_at=at(4, 12),
                )
            )  # fmt: skip

    ctx.store.write(preds)
    return ids


def test_researcher_export_has_no_identifiers_and_no_cell_under_five(
    ctx, clinic, history, tmp_path: Path
) -> None:
    ids = _research_clinic(ctx, clinic)
    researcher = clinic["users"][Role.RESEARCHER]
    dash = clinic_dashboard.load(ctx, researcher, PERIOD, now=NOW)
    assert dash.scope.kind == "research" and not dash.scope.drillable
    assert dash.patients == 15 and dash.overdue == () and dash.suppressed_cells > 0
    assert all(r.clinician_id is None for r in dash.completion)  # no breakdown by clinician
    last = dict(dash.risk[-1].counts)
    # 15 patients: 6 + 2 of the twelve predicted, T-1 "low" and T-2 "moderate" from history
    assert last["high"] == 6 and last["none"] == 5
    assert last["low"] is None and last["moderate"] is None  # 3 and 1: hidden
    assert last["very low"] is None  # 0 is hidden too: an empty cell looks like a small one
    with pytest.raises(PermissionDeniedError):
        clinic_dashboard.drill(ctx, researcher, dash, "overdue:phq9")
    out = clinic_dashboard.export_csv(ctx, researcher, dash, tmp_path / "research.csv")
    text = out.read_text("utf-8")
    everyone = [*ids, history["t1"], history["t2"], history["t3"]]
    names = [p.mrn for p in patients.list_patients(ctx, clinic["users"][Role.SUPERVISOR])]
    forbidden = [*everyone, *names, "Research", "Third", "Assigned", "Unassigned"]
    forbidden += [patients.pseudonym(ctx, pid) for pid in everyone]
    forbidden += ["user.clinician", "user.other", "user.supervisor"]
    assert not [f for f in forbidden if f in text]
    counts = [c for row in csv.reader(text.splitlines()) for c in row if c.isdigit()]
    assert counts and all(int(c) >= 5 for c in counts)
    assert "<suppressed>" in text
    with pytest.raises(PermissionDeniedError):  # a clinic dashboard is not the researcher's
        sup_dash = clinic_dashboard.load(ctx, clinic["users"][Role.SUPERVISOR], PERIOD, now=NOW)
        clinic_dashboard.export_csv(ctx, researcher, sup_dash, tmp_path / "leak.csv")
    assert not (tmp_path / "leak.csv").exists()


def test_suppression_threshold_comes_from_policy(ctx, clinic, history) -> None:
    from dataclasses import replace

    ctx.settings = replace(ctx.settings, operations={"dashboard": {"small_cell_min": 2}})
    dash = clinic_dashboard.load(ctx, clinic["users"][Role.RESEARCHER], PERIOD, now=NOW)
    phq = _row(dash, "phq9", None)
    assert (phq.due, phq.done, phq.overdue_patients) == (9, 4, 2)


def test_principal_must_be_signed_in_user(ctx) -> None:
    nobody = Principal("x", "x", "x", Role.ADMIN)
    with pytest.raises(PermissionDeniedError):
        clinic_dashboard.scope(ctx, nobody)
    _ = make_user  # the records helper is what the fixtures use


def test_figures_follow_new_records_and_tombstones(ctx, clinic, history) -> None:
    """The dashboard's arrays are rebuilt when a record arrives or a prediction is withdrawn."""
    from app.core.events import PatientDataUpdated, RecordType

    sup = clinic["users"][Role.SUPERVISOR]
    before = clinic_dashboard.load(ctx, sup, PERIOD, now=NOW)
    assert _row(before, "phq9", None).done == 4
    assess(ctx, history["t3"], "phq9", at(6, 25))
    after = clinic_dashboard.load(ctx, sup, PERIOD, now=NOW)
    assert _row(after, "phq9", None).done == 5
    assert ("T-3", "phq9") not in {(r.mrn, r.instrument) for r in after.overdue}

    def delete_in_error(uow) -> None:  # a tombstone, as a sync merge of a deletion writes
        a = uow.session.scalars(
            select(AssessmentResponse).where(
                AssessmentResponse.patient_id == history["t3"],
                AssessmentResponse.administered_at == at(6, 25),
            )
        ).one()
        a.deleted_at = NOW
        uow.emit(PatientDataUpdated(patient_id=a.patient_id, record_type=RecordType.ASSESSMENT,
                                    record_id=a.id))  # fmt: skip

    ctx.store.write(delete_in_error)
    assert _row(clinic_dashboard.load(ctx, sup, PERIOD, now=NOW), "phq9", None).done == 4

    def withdraw(uow) -> None:
        p = uow.session.scalars(select(Prediction).where(Prediction.band == "low")).one()
        p.deleted_at = NOW
        uow.emit(PatientDataUpdated(patient_id=p.patient_id, record_type=RecordType.PREDICTION,
                                    record_id=p.id))  # fmt: skip

    ctx.store.write(withdraw)
    last = dict(clinic_dashboard.load(ctx, sup, PERIOD, now=NOW).risk[-1].counts)
    assert last["low"] == 0 and last["high"] == 1  # T-1's earlier "high" is its latest again


def test_sign_in_warm_up_is_for_whole_clinic_scopes_only(ctx, clinic, history) -> None:
    assert not clinic_dashboard.prepare(ctx, clinic["users"][Role.ADMIN])
    assert not clinic_dashboard.prepare(ctx, history["me"])  # a caseload reads by SQL
    assert clinic_dashboard.prepare(ctx, clinic["users"][Role.SUPERVISOR])
    warm = dashboard_cache.assessments(ctx, wait=False)
    assert warm is not None and len(warm.codes) == 3  # the three patients with assessments
    dash = clinic_dashboard.load(ctx, clinic["users"][Role.SUPERVISOR], PERIOD, now=NOW)
    assert (_row(dash, "phq9", None).due, _row(dash, "phq9", None).done) == (9, 4)
