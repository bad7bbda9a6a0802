"""Clinical history the models read: the intake history, treatment history (medications with
their stop reason) and admissions (encounters of kind "admission").

API fixed first so the UI and the model inputs can be built side by side (issue 20 item 1).
Storage: patients.history_json (the intake history as JSON), medications.stop_reason, and
encounters with kind="admission" (start = admitted, end = discharged, both at 00:00 UTC).
Writes emit PatientDataUpdated with record type "patient" (intake), "medication" or
"encounter" (admissions): the names sync already maps to their tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.events import Change, PatientDataUpdated, RecordType
from app.core.security import rbac
from app.core.store.models import Encounter, Medication, Patient, User, utcnow
from app.core.store.store import UnitOfWork
from app.services import phi_audit
from app.services._records import add_audited, emit_created
from app.services.context import AppContext, actor_of
from engines.xgb.features import CATALOGUE_BY_NAME

#: Why a medication was stopped; "inadequate_response" counts as a failed adequate trial.
STOP_REASONS: Mapping[str, str] = {
    "inadequate_response": "Inadequate response after an adequate trial",
    "adverse_effects": "Adverse effects",
    "patient_choice": "Patient choice",
    "remission": "Course completed / remission",
    "other": "Other",
}
#: Drug classes offered when a medication is recorded (antidepressants first).
DRUG_CLASSES: tuple[str, ...] = (
    "SSRI",
    "SNRI",
    "NDRI",
    "NaSSA",
    "TCA",
    "MAOI",
    "antipsychotic",
    "mood stabiliser",
    "anxiolytic",
    "hypnotic",
    "other",
)
ADMISSION = "admission"  # Encounter.kind of a psychiatric admission
# The intake's limits are the models' input ranges (engines.xgb.features), so a value the form
# accepts is one the models were built for; the UI reads its input ranges from these.
MAX_COUNT = int(min(CATALOGUE_BY_NAME[n].maximum for n in ("prior_episodes", "prior_admissions")))
MAX_FAILED_TRIALS = int(CATALOGUE_BY_NAME["failed_trials"].maximum)
MAX_ONSET_YEARS = float(CATALOGUE_BY_NAME["age_at_onset"].maximum)

#: Clinician-recorded flags (the model inputs nlp_<flag> also read accepted note findings).
FLAG_NAMES: tuple[str, ...] = (
    "substance_use",
    "psychotic_features",
    "psychosocial_stressor",
    "hopelessness",
)


@dataclass(frozen=True)
class IntakeHistory:
    """What the intake form records; None = not known. Counts exclude what the app's own
    records show (admissions and medications recorded in the app are added to them)."""

    prior_episodes: int | None = None
    age_at_onset: float | None = None
    prior_admissions_before: int | None = None  # admissions before this clinic's records
    last_discharge_before: date | None = None  # discharge of the latest of those
    failed_trials_before: int | None = None  # failed adequate trials not in the medication list
    flags: Mapping[str, bool | None] = field(default_factory=dict)  # True present, False absent
    recorded_at: datetime | None = None  # set by the service
    recorded_by: str | None = None  # set by the service (user id)


@dataclass(frozen=True)
class MedicationView:
    id: str
    name: str
    drug_class: str
    dose: float
    unit: str
    frequency: str
    start: date
    end: date | None
    stop_reason: str | None
    adherence: float | None


@dataclass(frozen=True)
class AdmissionView:
    id: str
    admitted: date
    discharged: date | None


@dataclass(frozen=True)
class ClinicalHistory:
    intake: IntakeHistory
    medications: tuple[MedicationView, ...]  # newest start first
    admissions: tuple[AdmissionView, ...]  # newest first
    # whether this reader may change these records (role and care-team scope, the rule every
    # write here enforces), so the UI can say so before a save is refused
    writable: bool = False
    recorded_by_name: str | None = None  # the display name of intake.recorded_by, if known


def get_history(ctx: AppContext, principal: Principal, patient_id: str) -> ClinicalHistory:
    """The patient's intake, medications and admissions (audited read)."""

    def read(session: Session) -> ClinicalHistory:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        patient = _patient(session, patient_id)
        meds = session.scalars(
            select(Medication)
            .where(Medication.patient_id == patient_id, Medication.deleted_at.is_(None))
            .order_by(Medication.start.desc(), Medication.created_at.desc())
        ).all()
        intake = intake_of(patient.history_json)
        return ClinicalHistory(
            intake=intake,
            medications=tuple(_medication_view(m) for m in meds),
            admissions=tuple(
                AdmissionView(
                    id=e.id,
                    admitted=e.start.date(),
                    discharged=None if e.end is None else e.end.date(),
                )
                for e in admissions_of(session, patient_id)
            ),
            writable=rbac.can(session, principal, Action.WRITE_CLINICAL, patient_id),
            recorded_by_name=_user_name(session, intake.recorded_by),
        )

    result = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "history.read",
        patient_id=patient_id,
        record_type="patient",
        record_id=patient_id,
        detail={"medications": len(result.medications), "admissions": len(result.admissions)},
    )
    return result


def record_intake(
    ctx: AppContext, principal: Principal, patient_id: str, intake: IntakeHistory
) -> None:
    """Save the intake history (validated: counts 0-MAX_COUNT, failed trials
    0-MAX_FAILED_TRIALS, onset 0-MAX_ONSET_YEARS and not above the patient's age, flags only
    from FLAG_NAMES); replaces the previous one."""
    _check_intake_fields(intake)

    def do(uow: UnitOfWork) -> None:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        patient = _patient(uow.session, patient_id)
        patient.history_json = intake_json(
            intake, patient.birth_date, at=utcnow(), by=principal.user_id
        )
        uow.session.flush()
        ids: dict[str, Any] = {
            "patient_id": patient_id,
            "record_type": "patient",
            "record_id": patient_id,
        }
        uow.audit(actor_of(principal), "history.intake", **ids)
        uow.emit(PatientDataUpdated(**ids | {"record_type": RecordType.PATIENT}))

    ctx.store.write(do)


def add_medication(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    name: str,
    drug_class: str,
    dose: float,
    unit: str,
    frequency: str,
    start: date,
    adherence: float | None = None,
) -> str:
    """Record a medication; returns its id."""
    name, unit, frequency = name.strip(), unit.strip(), frequency.strip()
    _check_text("medication name", name, 64)
    _check_text("unit", unit, 16)
    _check_text("frequency", frequency, 32)
    if drug_class not in DRUG_CLASSES:
        raise ValidationError(f"drug class must be one of: {', '.join(DRUG_CLASSES)}")
    if isinstance(dose, bool) or not isinstance(dose, int | float):
        raise ValidationError("dose must be a number")
    if not math.isfinite(dose) or dose <= 0:
        raise ValidationError("dose must be a positive number")
    if adherence is not None and (
        isinstance(adherence, bool)
        or not isinstance(adherence, int | float)
        or not 0.0 <= adherence <= 1.0
    ):
        raise ValidationError("adherence must be a proportion between 0 and 1")
    _check_date("medication start", start)

    def do(uow: UnitOfWork) -> str:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        patient = _patient(uow.session, patient_id)
        if start < patient.birth_date:
            raise ValidationError("medication start is before the patient's date of birth")
        row = Medication(
            patient_id=patient_id,
            name=name,
            drug_class=drug_class,
            dose=float(dose),
            unit=unit,
            frequency=frequency,
            start=start,
            adherence=None if adherence is None else float(adherence),
            author_id=principal.user_id,
        )
        rid = add_audited(
            uow, actor_of(principal), "medication.create", row, patient_id=patient_id,
            record_type="medication",
        )  # fmt: skip
        emit_created(uow, patient_id, RecordType.MEDICATION, rid)
        return rid

    return ctx.store.write(do)


def stop_medication(
    ctx: AppContext, principal: Principal, medication_id: str, *, end: date, reason: str
) -> None:
    """Stop a medication with one of STOP_REASONS (end not before its start)."""
    if reason not in STOP_REASONS:
        raise ValidationError(f"stop reason must be one of: {', '.join(STOP_REASONS)}")
    _check_date("medication end", end)

    def do(uow: UnitOfWork) -> None:
        med = uow.session.get(Medication, medication_id)
        if med is None or med.deleted_at is not None:
            raise NotFoundError("That medication record does not exist.")
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, med.patient_id)
        if med.end is not None:
            raise ValidationError("this medication is already stopped")
        if end < med.start:
            raise ValidationError("medication end is before its start")
        med.end = end
        med.stop_reason = reason
        _updated(uow, principal, "medication.stop", med.patient_id, RecordType.MEDICATION, med.id)

    ctx.store.write(do)


def record_admission(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    admitted: date,
    discharged: date | None = None,
) -> str:
    """Record a psychiatric admission (an encounter of kind "admission"); returns its id."""
    _check_date("admission date", admitted)
    if discharged is not None:
        _check_date("discharge date", discharged)
        if discharged < admitted:
            raise ValidationError("discharge date is before the admission date")

    def do(uow: UnitOfWork) -> str:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        patient = _patient(uow.session, patient_id)
        if admitted < patient.birth_date:
            raise ValidationError("admission date is before the patient's date of birth")
        for other in admissions_of(uow.session, patient_id):
            o_start = other.start.date()
            o_end = None if other.end is None else other.end.date()
            if discharged is None and o_end is None:
                raise ValidationError("the patient already has an open admission; discharge it")
            if (o_end is None or admitted < o_end) and (discharged is None or o_start < discharged):
                raise ValidationError("admission dates overlap another recorded admission")
        row = Encounter(
            patient_id=patient_id,
            clinician_id=principal.user_id,
            kind=ADMISSION,
            start=_midnight(admitted),
            end=None if discharged is None else _midnight(discharged),
            author_id=principal.user_id,
        )
        rid = add_audited(
            uow, actor_of(principal), "admission.create", row, patient_id=patient_id,
            record_type="encounter",
        )  # fmt: skip
        emit_created(uow, patient_id, RecordType.ENCOUNTER, rid)
        return rid

    return ctx.store.write(do)


def record_discharge(
    ctx: AppContext, principal: Principal, encounter_id: str, *, discharged: date
) -> None:
    """Close an open admission (discharge not before admission)."""
    _check_date("discharge date", discharged)

    def do(uow: UnitOfWork) -> None:
        enc = uow.session.get(Encounter, encounter_id)
        if enc is None or enc.deleted_at is not None or enc.kind != ADMISSION:
            raise NotFoundError("That admission record does not exist.")
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, enc.patient_id)
        if enc.end is not None:
            raise ValidationError("this admission is already closed by a discharge")
        if discharged < enc.start.date():
            raise ValidationError("discharge date is before the admission date")
        enc.end = _midnight(discharged)
        _updated(
            uow, principal, "admission.discharge", enc.patient_id, RecordType.ENCOUNTER, enc.id
        )

    ctx.store.write(do)


# --- shared with app.services.model_inputs (the stored form of the history) ---


def admissions_of(session: Session, patient_id: str) -> list[Encounter]:
    """The patient's admission encounters, newest first."""
    return list(
        session.scalars(
            select(Encounter)
            .where(
                Encounter.patient_id == patient_id,
                Encounter.kind == ADMISSION,
                Encounter.deleted_at.is_(None),
            )
            .order_by(Encounter.start.desc())
        )
    )


def intake_of(history_json: str | None) -> IntakeHistory:
    """The stored intake history (an empty one, recorded_at None, when none was recorded)."""
    if not history_json:
        return IntakeHistory()
    d = json.loads(history_json)
    last = d.get("last_discharge_before")
    at = d.get("recorded_at")
    return IntakeHistory(
        prior_episodes=d.get("prior_episodes"),
        age_at_onset=d.get("age_at_onset"),
        prior_admissions_before=d.get("prior_admissions_before"),
        last_discharge_before=None if last is None else date.fromisoformat(last),
        failed_trials_before=d.get("failed_trials_before"),
        flags={k: bool(v) for k, v in (d.get("flags") or {}).items() if v is not None},
        recorded_at=None if at is None else datetime.fromisoformat(at),
        recorded_by=d.get("recorded_by"),
    )


def intake_json(intake: IntakeHistory, birth_date: date, *, at: datetime, by: str) -> str:
    """The stored form of an intake recorded at ``at`` by user ``by``, after every check
    (the demo clinic stores its intakes through this too). Raises ValidationError."""
    _check_intake_fields(intake)
    today = date.today()
    age = (today - birth_date).days / 365.25
    if intake.age_at_onset is not None and intake.age_at_onset > age:
        raise ValidationError("age at onset is above the patient's current age")
    last = intake.last_discharge_before
    if last is not None and not birth_date <= last <= today:
        raise ValidationError("last discharge before this clinic must be between birth and today")
    doc = {
        "prior_episodes": intake.prior_episodes,
        "age_at_onset": None if intake.age_at_onset is None else float(intake.age_at_onset),
        "prior_admissions_before": intake.prior_admissions_before,
        "last_discharge_before": None if last is None else last.isoformat(),
        "failed_trials_before": intake.failed_trials_before,
        "flags": {k: v for k, v in intake.flags.items() if v is not None},
        "recorded_at": at.isoformat(),
        "recorded_by": by,
    }
    return json.dumps(doc)


def _check_intake_fields(intake: IntakeHistory) -> None:
    """Checks that need no store: counts, onset, flags, discharge consistent with count."""
    for label, value, top in (
        ("prior episodes", intake.prior_episodes, MAX_COUNT),
        ("prior admissions before this clinic", intake.prior_admissions_before, MAX_COUNT),
        ("failed trials before this clinic", intake.failed_trials_before, MAX_FAILED_TRIALS),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{label} must be a whole number")
        if not 0 <= value <= top:
            raise ValidationError(f"{label} must be between 0 and {top}")
    onset = intake.age_at_onset
    if onset is not None:
        if isinstance(onset, bool) or not isinstance(onset, int | float):
            raise ValidationError("age at onset must be a number of years")
        if not (math.isfinite(onset) and 0.0 <= onset <= MAX_ONSET_YEARS):
            raise ValidationError(f"age at onset must be between 0 and {MAX_ONSET_YEARS:.0f}")
    if intake.last_discharge_before is not None:
        if not isinstance(intake.last_discharge_before, date):
            raise ValidationError("last discharge before this clinic must be a date")
        if not intake.prior_admissions_before:
            raise ValidationError(
                "last discharge before this clinic needs prior admissions before it of 1 or more"
            )
    unknown = sorted(set(intake.flags) - set(FLAG_NAMES))
    if unknown:
        raise ValidationError(f"unknown flag(s): {', '.join(unknown)}; use {', '.join(FLAG_NAMES)}")
    for name, value in intake.flags.items():
        if value is not None and not isinstance(value, bool):
            raise ValidationError(f"flag {name} must be present (True), absent (False) or None")


def _check_text(label: str, value: str, limit: int) -> None:
    if not value:
        raise ValidationError(f"{label} is required")
    if len(value) > limit:
        raise ValidationError(f"{label} must be at most {limit} characters")


def _check_date(label: str, value: date) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError(f"{label} must be a date")
    if value > date.today():
        raise ValidationError(f"{label} is in the future")


def _patient(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None or patient.deleted_at is not None:
        raise NotFoundError("That patient record does not exist.")
    return patient


def _user_name(session: Session, user_id: str | None) -> str | None:
    """A user's display name (a clinician's name is not PHI; None for an unknown id)."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return None if user is None else user.display_name


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _medication_view(m: Medication) -> MedicationView:
    return MedicationView(
        id=m.id,
        name=m.name,
        drug_class=m.drug_class,
        dose=m.dose,
        unit=m.unit,
        frequency=m.frequency,
        start=m.start,
        end=m.end,
        stop_reason=m.stop_reason,
        adherence=m.adherence,
    )


def _updated(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    patient_id: str,
    record_type: RecordType,
    record_id: str,
) -> None:
    """Flush a changed record, audit the change and tell listeners (ids only)."""
    uow.session.flush()
    uow.audit(
        actor_of(principal), action, patient_id=patient_id, record_type=str(record_type),
        record_id=record_id,
    )  # fmt: skip
    uow.emit(
        PatientDataUpdated(
            patient_id=patient_id,
            record_type=record_type,
            record_id=record_id,
            change=Change.UPDATED,
        )  # fmt: skip
    )
