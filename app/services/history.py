"""Clinical history the models read: the intake history, treatment history (medications with
their stop reason) and admissions (encounters of kind "admission").

API fixed first so the UI and the model inputs can be built side by side (issue 20 item 1).
Storage: patients.history_json (the intake history as JSON), medications.stop_reason, and
encounters with kind="admission" (start = admitted, end = discharged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from app.core.domain import Principal
from app.services.context import AppContext

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


def get_history(ctx: AppContext, principal: Principal, patient_id: str) -> ClinicalHistory:
    """The patient's intake, medications and admissions (audited read)."""
    raise NotImplementedError


def record_intake(
    ctx: AppContext, principal: Principal, patient_id: str, intake: IntakeHistory
) -> None:
    """Save the intake history (validated: counts 0-100, onset 0-120 and not above the
    patient's age, flags only from FLAG_NAMES); replaces the previous one."""
    raise NotImplementedError


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
    raise NotImplementedError


def stop_medication(
    ctx: AppContext, principal: Principal, medication_id: str, *, end: date, reason: str
) -> None:
    """Stop a medication with one of STOP_REASONS (end not before its start)."""
    raise NotImplementedError


def record_admission(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    admitted: date,
    discharged: date | None = None,
) -> str:
    """Record a psychiatric admission (an encounter of kind "admission"); returns its id."""
    raise NotImplementedError


def record_discharge(
    ctx: AppContext, principal: Principal, encounter_id: str, *, discharged: date
) -> None:
    """Close an open admission (discharge not before admission)."""
    raise NotImplementedError
