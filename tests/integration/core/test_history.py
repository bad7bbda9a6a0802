"""The clinical history service (issue 20 item 1) on a real encrypted store: what a clinician
records comes back as recorded, every write is audited and announced, a bad value is refused
with a message naming the field and changes nothing, and only the care team may read or write.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.errors import NotFoundError, PermissionDeniedError, ValidationError
from app.core.store.models import AuditEvent, Encounter, Medication, OutboxEvent, Patient
from app.services import admin, history, patients
from app.services.context import AppContext
from app.services.history import IntakeHistory
from engines.xgb.features import CATALOGUE_BY_NAME

TODAY = date.today()
FULL = IntakeHistory(
    prior_episodes=2,
    age_at_onset=24.5,
    prior_admissions_before=1,
    last_discharge_before=date(2019, 3, 4),
    failed_trials_before=1,
    flags={"hopelessness": True, "substance_use": False, "psychotic_features": None},
)


def _me(clinic: dict) -> Principal:
    return clinic["users"][Role.CLINICIAN]


def _actions(ctx: AppContext) -> list[str]:
    return ctx.store.read(lambda s: list(s.scalars(select(AuditEvent.action))))


def _outbox(ctx: AppContext) -> list[dict[str, Any]]:
    rows = ctx.store.read(lambda s: list(s.scalars(select(OutboxEvent.payload_json))))
    return [json.loads(r) for r in rows]


def _snapshot(ctx: AppContext, pid: str) -> tuple[Any, ...]:
    """Everything the service writes for a patient (equal before and after = nothing saved)."""

    def read(s: Any) -> tuple[Any, ...]:  # noqa: ANN401
        p = s.get(Patient, pid)
        meds = [
            (m.id, m.end, m.stop_reason, m.version)
            for m in s.scalars(select(Medication).where(Medication.patient_id == pid))
        ]
        encs = [
            (e.id, e.end, e.version)
            for e in s.scalars(select(Encounter).where(Encounter.patient_id == pid))
        ]
        audit = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
        return p.history_json, p.version, sorted(meds), sorted(encs), audit

    return ctx.store.read(read)


def test_history_round_trip_is_audited_and_announced(ctx: AppContext, clinic: dict) -> None:
    me, pid = _me(clinic), clinic["mine"]
    empty = history.get_history(ctx, me, pid)
    assert empty == history.ClinicalHistory(IntakeHistory(), (), (), writable=True)

    before = datetime.now(UTC)
    history.record_intake(ctx, me, pid, FULL)
    old = history.add_medication(
        ctx, me, pid, name="citalopram", drug_class="SSRI", dose=20, unit="mg",
        frequency="once daily", start=date(2023, 1, 10), adherence=0.7,
    )  # fmt: skip
    history.stop_medication(ctx, me, old, end=date(2023, 4, 1), reason="inadequate_response")
    new = history.add_medication(
        ctx, me, pid, name="venlafaxine", drug_class="SNRI", dose=75.0, unit="mg",
        frequency="once daily", start=date(2023, 4, 2),
    )  # fmt: skip
    closed = history.record_admission(
        ctx, me, pid, admitted=date(2023, 6, 1), discharged=date(2023, 6, 20)
    )
    open_ = history.record_admission(ctx, me, pid, admitted=date(2024, 2, 1))
    history.record_discharge(ctx, me, open_, discharged=date(2024, 2, 15))

    got = history.get_history(ctx, me, pid)
    intake = got.intake
    assert (intake.prior_episodes, intake.age_at_onset) == (2, 24.5)
    assert (intake.prior_admissions_before, intake.last_discharge_before) == (1, date(2019, 3, 4))
    assert intake.failed_trials_before == 1
    assert dict(intake.flags) == {"hopelessness": True, "substance_use": False}  # None: unknown
    assert intake.recorded_by == me.user_id
    assert intake.recorded_at is not None and intake.recorded_at >= before
    assert [m.id for m in got.medications] == [new, old]  # newest start first
    assert (got.medications[1].end, got.medications[1].stop_reason) == (
        date(2023, 4, 1),
        "inadequate_response",
    )
    assert (got.medications[1].adherence, got.medications[0].end) == (0.7, None)
    assert got.medications[0].dose == 75.0 and got.medications[0].drug_class == "SNRI"
    assert [(a.id, a.admitted, a.discharged) for a in got.admissions] == [
        (open_, date(2024, 2, 1), date(2024, 2, 15)),
        (closed, date(2023, 6, 1), date(2023, 6, 20)),
    ]
    # admissions are encounters of kind "admission", admitted/discharged at 00:00 UTC
    enc = ctx.store.read(lambda s: s.get(Encounter, closed))
    assert (enc.kind, enc.start, enc.end) == (
        "admission",
        datetime(2023, 6, 1, tzinfo=UTC),
        datetime(2023, 6, 20, tzinfo=UTC),
    )
    actions = _actions(ctx)
    for action in (
        "history.intake",
        "medication.create",
        "medication.stop",
        "admission.create",
        "admission.discharge",
        "history.read",
    ):
        assert action in actions
    announced = {(e.get("record_type"), e.get("record_id")) for e in _outbox(ctx)}
    assert {("patient", pid), ("medication", old), ("medication", new)} <= announced
    assert {("encounter", closed), ("encounter", open_)} <= announced

    # a new intake replaces the old one
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=0))
    again = history.get_history(ctx, me, pid).intake
    assert (again.prior_episodes, again.age_at_onset, dict(again.flags)) == (0, None, {})


def _intake(**kw: Any) -> Callable[[AppContext, Principal, str], None]:  # noqa: ANN401
    return lambda ctx, me, pid: history.record_intake(ctx, me, pid, IntakeHistory(**kw))


def _med(**kw: Any) -> Callable[[AppContext, Principal, str], None]:  # noqa: ANN401
    args = {
        "name": "sertraline",
        "drug_class": "SSRI",
        "dose": 50.0,
        "unit": "mg",
        "frequency": "once daily",
        "start": date(2024, 1, 1),
    } | kw
    return lambda ctx, me, pid: history.add_medication(ctx, me, pid, **args)


def _admit(**kw: Any) -> Callable[[AppContext, Principal, str], None]:  # noqa: ANN401
    args = {"admitted": date(2024, 1, 1)} | kw
    return lambda ctx, me, pid: history.record_admission(ctx, me, pid, **args)


# (case id, the call, words the message must contain) — clinic["mine"] was born 1980-05-01
REFUSED = [
    ("episodes negative", _intake(prior_episodes=-1), "prior episodes"),
    ("episodes above 100", _intake(prior_episodes=101), "prior episodes"),
    ("episodes not whole", _intake(prior_episodes=1.5), "prior episodes"),
    ("episodes a bool", _intake(prior_episodes=True), "prior episodes"),
    ("admissions negative", _intake(prior_admissions_before=-2), "prior admissions"),
    ("trials above 50", _intake(failed_trials_before=51), "failed trials"),
    ("onset negative", _intake(age_at_onset=-1.0), "age at onset"),
    ("onset above 120", _intake(age_at_onset=121.0), "age at onset"),
    ("onset not finite", _intake(age_at_onset=float("nan")), "age at onset"),
    ("onset above age", _intake(age_at_onset=80.0), "age at onset"),
    ("unknown flag", _intake(flags={"insomnia": True}), "flag"),
    ("flag not a bool", _intake(flags={"hopelessness": "yes"}), "flag hopelessness"),
    (
        "discharge without admissions",
        _intake(prior_admissions_before=0, last_discharge_before=date(2020, 1, 1)),
        "last discharge",
    ),
    (
        "discharge in the future",
        _intake(prior_admissions_before=1, last_discharge_before=TODAY + timedelta(days=3)),
        "last discharge",
    ),
    (
        "discharge before birth",
        _intake(prior_admissions_before=1, last_discharge_before=date(1979, 1, 1)),
        "last discharge",
    ),
    ("no medication name", _med(name="  "), "medication name"),
    ("name too long", _med(name="x" * 65), "medication name"),
    ("unknown drug class", _med(drug_class="vitamin"), "drug class"),
    ("dose zero", _med(dose=0.0), "dose"),
    ("dose not finite", _med(dose=float("inf")), "dose"),
    ("no unit", _med(unit=""), "unit"),
    ("no frequency", _med(frequency=""), "frequency"),
    ("adherence above 1", _med(adherence=1.5), "adherence"),
    ("start in the future", _med(start=TODAY + timedelta(days=2)), "medication start"),
    ("start before birth", _med(start=date(1970, 1, 1)), "medication start"),
    ("start a datetime", _med(start=datetime(2024, 1, 1, tzinfo=UTC)), "medication start"),
    ("admitted in the future", _admit(admitted=TODAY + timedelta(days=1)), "admission date"),
    ("admitted before birth", _admit(admitted=date(1970, 1, 1)), "admission date"),
    (
        "discharge before admission",
        _admit(admitted=date(2024, 1, 10), discharged=date(2024, 1, 9)),
        "discharge date",
    ),
    ("discharge in the future", _admit(discharged=TODAY + timedelta(days=1)), "discharge date"),
]


@pytest.mark.parametrize(("call", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_values_are_refused_by_name_and_change_nothing(
    ctx: AppContext, clinic: dict, call: Callable[..., None], words: str
) -> None:
    me, pid = _me(clinic), clinic["mine"]
    history.record_intake(ctx, me, pid, FULL)  # something saved that a refusal must not touch
    before = _snapshot(ctx, pid)
    with pytest.raises(ValidationError, match=words):
        call(ctx, me, pid)
    assert _snapshot(ctx, pid) == before


def test_stop_and_discharge_are_checked_against_the_record(ctx: AppContext, clinic: dict) -> None:
    me, pid = _me(clinic), clinic["mine"]
    med = history.add_medication(
        ctx, me, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
        frequency="once daily", start=date(2024, 1, 10),
    )  # fmt: skip
    adm = history.record_admission(ctx, me, pid, admitted=date(2024, 3, 1))
    before = _snapshot(ctx, pid)
    refusals: list[tuple[Callable[[], None], type[Exception], str]] = [
        (
            lambda: history.stop_medication(ctx, me, med, end=date(2024, 1, 9), reason="other"),
            ValidationError,
            "end is before its start",
        ),
        (
            lambda: history.stop_medication(ctx, me, med, end=date(2024, 2, 1), reason="bored"),
            ValidationError,
            "stop reason",
        ),
        (
            lambda: history.stop_medication(
                ctx, me, med, end=TODAY + timedelta(days=1), reason="other"
            ),
            ValidationError,
            "medication end",
        ),
        (
            lambda: history.stop_medication(ctx, me, "nope", end=date(2024, 2, 1), reason="other"),
            NotFoundError,
            "medication",
        ),
        (
            lambda: history.record_discharge(ctx, me, adm, discharged=date(2024, 2, 28)),
            ValidationError,
            "discharge date is before",
        ),
        (
            lambda: history.record_discharge(ctx, me, "nope", discharged=date(2024, 3, 5)),
            NotFoundError,
            "admission",
        ),
        (
            lambda: history.record_admission(ctx, me, pid, admitted=date(2024, 4, 1)),
            ValidationError,
            "open admission",
        ),
        (
            lambda: history.record_admission(
                ctx, me, pid, admitted=date(2024, 2, 1), discharged=date(2024, 3, 2)
            ),
            ValidationError,
            "overlap",
        ),
    ]
    for call, error, words in refusals:
        with pytest.raises(error, match=words):
            call()
        assert _snapshot(ctx, pid) == before
    history.stop_medication(ctx, me, med, end=date(2024, 2, 1), reason="adverse_effects")
    history.record_discharge(ctx, me, adm, discharged=date(2024, 3, 5))
    with pytest.raises(ValidationError, match="already stopped"):
        history.stop_medication(ctx, me, med, end=date(2024, 2, 2), reason="other")
    with pytest.raises(ValidationError, match="already closed"):
        history.record_discharge(ctx, me, adm, discharged=date(2024, 3, 6))
    # the admission before the closed one, ending the day it began, does not overlap
    history.record_admission(ctx, me, pid, admitted=date(2024, 2, 20), discharged=date(2024, 3, 1))


WRITES_AND_READS: list[tuple[str, Callable[..., object]]] = [
    ("read", lambda ctx, who, pid, med, adm: history.get_history(ctx, who, pid)),
    ("intake", lambda ctx, who, pid, med, adm: history.record_intake(ctx, who, pid, FULL)),
    ("add medication", lambda ctx, who, pid, med, adm: _med()(ctx, who, pid)),
    (
        "stop medication",
        lambda ctx, who, pid, med, adm: history.stop_medication(
            ctx, who, med, end=date(2024, 2, 1), reason="other"
        ),
    ),
    ("admission", lambda ctx, who, pid, med, adm: _admit(admitted=date(2023, 1, 1))(ctx, who, pid)),
    (
        "discharge",
        lambda ctx, who, pid, med, adm: history.record_discharge(
            ctx, who, adm, discharged=date(2024, 3, 5)
        ),
    ),
]


@pytest.mark.parametrize("who", ["other clinician", "researcher", "it"])
def test_only_the_care_team_reads_or_writes_the_history(
    ctx: AppContext, clinic: dict, who: str
) -> None:
    me, pid = _me(clinic), clinic["mine"]
    principal = {
        "other clinician": clinic["other"],
        "researcher": clinic["users"][Role.RESEARCHER],
        "it": clinic["users"][Role.IT],
    }[who]
    med = history.add_medication(
        ctx, me, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
        frequency="once daily", start=date(2024, 1, 10),
    )  # fmt: skip
    adm = history.record_admission(ctx, me, pid, admitted=date(2024, 3, 1))
    before = _snapshot(ctx, pid)
    for what, call in WRITES_AND_READS:
        with pytest.raises(PermissionDeniedError):
            call(ctx, principal, pid, med, adm)
        assert _snapshot(ctx, pid)[:4] == before[:4], what  # refusals change no record


def test_an_unknown_patient_is_not_found(ctx: AppContext, clinic: dict) -> None:
    sup = clinic["users"][Role.SUPERVISOR]
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        history.get_history(ctx, sup, "no-such-patient")


# (case, who reads, how they reach the patient) — the answer must match what a write does
REACH = [
    ("care team clinician", "me", None),
    ("supervisor outside the care team", "supervisor", None),
    ("supervisor on the care team", "supervisor", "assigned"),
    ("clinician with break-glass access", "other", "break_glass"),
]


@pytest.mark.parametrize(("who", "reach"), [c[1:] for c in REACH], ids=[c[0] for c in REACH])
def test_writable_says_in_advance_what_a_write_will_do(
    ctx: AppContext, clinic: dict, who: str, reach: str | None
) -> None:
    pid = clinic["mine"]
    principal = {
        "me": _me(clinic),
        "supervisor": clinic["users"][Role.SUPERVISOR],
        "other": clinic["other"],
    }[who]
    if reach == "assigned":
        admin.assign_care_team(
            ctx, clinic["users"][Role.ADMIN], username=principal.username, patient_id=pid
        )
    elif reach == "break_glass":
        patients.break_glass(ctx, principal, pid, "acute risk call, on-call cover tonight")
    writable = history.get_history(ctx, principal, pid).writable
    try:
        history.record_intake(ctx, principal, pid, IntakeHistory(prior_episodes=1))
        wrote = True
    except PermissionDeniedError:
        wrote = False
    assert writable == wrote
    assert writable is (reach is not None or who == "me")


def test_the_intake_names_who_recorded_it(ctx: AppContext, clinic: dict) -> None:
    me, sup, pid = _me(clinic), clinic["users"][Role.SUPERVISOR], clinic["mine"]
    assert history.get_history(ctx, sup, pid).recorded_by_name is None  # nothing recorded
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=1))
    seen_by_other = history.get_history(ctx, sup, pid)
    assert seen_by_other.intake.recorded_by == me.user_id
    assert seen_by_other.recorded_by_name == me.display_name != me.user_id


def test_the_intake_limits_are_the_models_input_ranges(ctx: AppContext, clinic: dict) -> None:
    """The UI sizes its inputs from these constants: the top value is accepted, one more is
    refused, and each is the top of the model input it feeds."""
    me, pid = _me(clinic), clinic["mine"]
    assert history.MAX_FAILED_TRIALS == CATALOGUE_BY_NAME["failed_trials"].maximum == 50
    assert history.MAX_COUNT == CATALOGUE_BY_NAME["prior_episodes"].maximum
    assert history.MAX_COUNT == CATALOGUE_BY_NAME["prior_admissions"].maximum
    assert history.MAX_ONSET_YEARS == CATALOGUE_BY_NAME["age_at_onset"].maximum
    top = IntakeHistory(
        prior_episodes=history.MAX_COUNT,
        prior_admissions_before=history.MAX_COUNT,
        failed_trials_before=history.MAX_FAILED_TRIALS,
    )
    history.record_intake(ctx, me, pid, top)
    assert history.get_history(ctx, me, pid).intake.failed_trials_before == 50
    for field in ("prior_episodes", "prior_admissions_before", "failed_trials_before"):
        over = getattr(top, field) + 1
        with pytest.raises(ValidationError, match=f"between 0 and {over - 1}"):
            history.record_intake(ctx, me, pid, IntakeHistory(**{field: over}))
