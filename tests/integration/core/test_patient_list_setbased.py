"""The patient list's set-based read (issue 21, item 1): one scoped query, grouped alert and band
reads, summaries built from plain columns. It must list the same patients with the same
fields as reading each record through the ORM would, whatever the size of the list."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select

from app.core.domain import PatientSummary, Principal, Role
from app.core.store.models import Alert, CareTeamAssignment, Patient, Prediction, utcnow
from app.services import patients
from app.services.context import AppContext
from tests.bench.filler import fill
from tests.support.records import add_patient


def _expected(ctx: AppContext, who: Principal, ids: set[str]) -> list[PatientSummary]:
    """The summaries built the slow way: ORM records, one query per patient for its alerts."""

    def read(session) -> list[PatientSummary]:  # noqa: ANN001
        mine = set(
            session.scalars(
                select(CareTeamAssignment.patient_id).where(
                    CareTeamAssignment.user_id == who.user_id,
                    CareTeamAssignment.active.is_(True),
                    CareTeamAssignment.deleted_at.is_(None),
                )
            )
        )
        out, summaries = [], {}
        for p in session.scalars(select(Patient).where(Patient.id.in_(ids))):
            open_alerts = session.scalars(
                select(Alert).where(
                    Alert.patient_id == p.id, Alert.status.in_(("new", "acknowledged"))
                )
            ).all()
            latest = session.scalars(
                select(Prediction)
                .where(Prediction.patient_id == p.id, Prediction.target == "relapse_6m")
                .order_by(Prediction.generated_at.desc())
            ).first()
            out.append(
                (p.family_name, p.given_name, p.id),
            )
            summaries[p.id] = PatientSummary(
                id=p.id,
                mrn=p.mrn,
                display_name=patients.display_name_of(p.given_name, p.family_name, p.is_synthetic),
                birth_date=p.birth_date,
                sex=p.sex,
                status=p.status,
                is_synthetic=p.is_synthetic,
                assigned=p.id in mine,
                open_alerts=len(open_alerts),
                latest_risk_band=_band(latest),
            )
        return [summaries[pid] for *_, pid in sorted(out)]

    return ctx.store.read(read)


def _band(latest: Prediction | None) -> str:
    """A withheld model's band never shows (issue 20)."""
    if latest is None or json.loads(latest.provenance).get("withheld"):
        return ""
    return latest.band


def _alert(session, pid: str, status: str) -> None:  # noqa: ANN001
    session.add(
        Alert(patient_id=pid, rule="phq9_item9", severity="critical", status=status,
              triggered_at=utcnow(), evidence_json="[]")
    )  # fmt: skip


def _prediction(session, pid: str, band: str, provenance: str = "{}") -> None:  # noqa: ANN001
    session.add(
        Prediction(patient_id=pid, target="relapse_6m", probability=0.5, interval_low=0.4,
                   interval_high=0.6, band=band, model_name="m", model_version="1",
                   provenance=provenance, generated_at=utcnow())
    )  # fmt: skip


def test_care_team_list_matches_the_records(ctx: AppContext, clinic: dict) -> None:
    me, other = clinic["users"][Role.CLINICIAN], clinic["other"]
    mine, theirs = clinic["mine"], clinic["theirs"]
    second = add_patient(ctx, me, "T-3", given_name="Zoe", family_name="Assigned",
                         birth_date=date(2001, 12, 31), sex="other")  # fmt: skip
    ended = add_patient(ctx, me, "T-4", family_name="Ended")
    gone = add_patient(ctx, me, "T-5", family_name="Deleted")

    def arrange(uow) -> None:  # noqa: ANN001
        s = uow.session
        # a second care-team member on my patient must not list it twice
        s.add(CareTeamAssignment(patient_id=mine, user_id=other.user_id))
        s.execute(
            CareTeamAssignment.__table__.update()
            .where(CareTeamAssignment.patient_id == ended)
            .values(active=False)
        )
        s.get(Patient, gone).deleted_at = utcnow()
        s.get(Patient, second).is_synthetic = True
        for status in ("new", "acknowledged", "resolved"):
            _alert(s, mine, status)
        _prediction(s, mine, "high")
        _prediction(s, second, "low", '{"withheld": true}')

    ctx.store.write(arrange)
    listed = patients.list_patients(ctx, me)
    assert [p.id for p in listed] == [mine, second]  # family, then given name; once each
    assert listed == _expected(ctx, me, {mine, second})
    first = listed[0]
    assert (first.open_alerts, first.latest_risk_band, first.assigned) == (2, "high", True)
    assert isinstance(first.birth_date, date) and first.birth_date == date(1980, 5, 1)
    assert listed[1].is_synthetic is True and listed[1].display_name.endswith("[synthetic]")
    assert listed[1].latest_risk_band == ""  # a withheld model's band never shows
    assert theirs not in {p.id for p in listed}
    assert [p.id for p in patients.list_patients(ctx, me, search="zoe")] == [second]
    assert patients.list_patients(ctx, me, limit=1) == listed[:1]
    assert patients.get_patient(ctx, me, mine) == first


def test_whole_clinic_list_matches_the_records(ctx: AppContext, clinic: dict) -> None:
    """Past 500 patients the alert and band reads are grouped scans of the whole tables."""
    boss = clinic["users"][Role.SUPERVISOR]
    me = clinic["users"][Role.CLINICIAN]
    fill(ctx, 520, visits=1, assign_to=me.user_id)
    every = set(ctx.store.read(lambda s: list(s.scalars(select(Patient.id)))))

    def arrange(uow) -> None:  # noqa: ANN001
        for i, pid in enumerate(sorted(every)[:60]):
            _alert(uow.session, pid, "new")
            _prediction(uow.session, pid, ("low", "moderate", "high")[i % 3])

    ctx.store.write(arrange)
    listed = patients.list_patients(ctx, boss)
    assert len(listed) == len(every) > 500
    assert listed == _expected(ctx, boss, every)  # the filler's names are unique
    assert sum(p.open_alerts for p in listed) == 60
    assert sum(p.latest_risk_band != "" for p in listed) == 60
