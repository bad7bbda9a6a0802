"""A synthetic, clearly labelled demo clinic: seeded, reproducible, statistically plausible.

Every demo person is fictional and flagged `is_synthetic`; patient names carry a [synthetic]
badge in every view. Symptom trajectories follow a latent severity with treatment response at
the rate STAR*D reported for a first SSRI step (about 47 % response; Rush et al., Am J
Psychiatry 2006), item answers scatter around it, and actigraphy follows a circadian rest-
activity rhythm whose amplitude falls with severity. Assessments are scored and alerts raised by
the real scoring engine, predictions come from the shipped XGBoost demo models (trained on
synthetic data, labelled so) and twin snapshots from the twin engine. The one NLP analysis per
patient is a placeholder marked "no model was run" (model hash NO_MODEL_SHA256, which the notes
panel labels "not model output"): nothing hand-written is stored as a model's answer.

The clinical history is synthetic clinician-entered data (app.services.history), with the gaps
the models were trained with (engines.xgb.synthetic.MISSINGNESS): about 20 % of patients have no
intake history recorded, about 25 % no clinician-recorded flags; some were admitted before or
during their care here, and some stopped an antidepressant for inadequate response before the
current SSRI. The note flags come from the clinician's intake only (no accepted finding: no model
was run on the demo notes).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import numpy as np
from sqlalchemy import select

from app.core.domain import Role
from app.core.security.passwords import hash_password
from app.core.store.models import (
    CareTeamAssignment,
    ClinicalNote,
    Encounter,
    Medication,
    NlpAnalysis,
    Patient,
    TreatmentPlan,
    User,
)
from app.core.store.store import Actor, UnitOfWork
from app.services.assessments import raise_alerts, record_assessment
from app.services.context import AppContext
from app.services.history import ADMISSION, FLAG_NAMES, IntakeHistory, intake_json
from app.services.nlp_session import NO_MODEL_SHA256
from app.services.notes import content_hash
from app.services.pat import add_recording, analyse
from app.services.predictions import predict_in
from app.services.twin import update_in
from engines.pat.nonwear import detect_nonwear
from engines.pat.recording import ActigraphyRecording

log = logging.getLogger(__name__)

DEMO_PASSWORD = "novamind-demo"  # noqa: S105 — documented in README; the demo clinic holds no real data # nosec B105
DEMO_PROVENANCE = "synthetic demo placeholder — no model was run"
STAFF = [
    ("dr.adams", "Dr. Avery Adams (demo)", Role.CLINICIAN),
    ("dr.baker", "Dr. Blake Baker (demo)", Role.CLINICIAN),
    ("dr.chen", "Dr. Casey Chen (demo)", Role.CLINICIAN),
    ("sup.davis", "Dr. Dana Davis (demo supervisor)", Role.SUPERVISOR),
    ("admin", "Clinic Administrator (demo)", Role.ADMIN),
    ("res.evans", "Emery Evans (demo researcher)", Role.RESEARCHER),
    ("it.ops", "IT Operations (demo)", Role.IT),
]
GIVEN = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Riley",
    "Casey",
    "Jamie",
    "Quinn",
    "Rowan",
    "Harper",
    "Avery",
    "Elliot",
    "Reese",
    "Skyler",
    "Parker",
    "Hayden",
    "Emerson",
    "Finley",
    "Sage",
]
FAMILY = [
    "Ashdown",
    "Brightwater",
    "Copperfield",
    "Dunmore",
    "Elmsworth",
    "Fairbrook",
    "Glenhaven",
    "Hollowell",
    "Ivybridge",
    "Juniper",
    "Kingsmere",
    "Larkspur",
    "Marlowe",
    "Northcott",
    "Oakhurst",
    "Pennington",
    "Quillfeather",
    "Ravensworth",
    "Stonebridge",
    "Thistlewood",
]
SSRIS = [("sertraline", 50.0), ("escitalopram", 10.0), ("fluoxetine", 20.0)]
EARLIER = [
    ("citalopram", "SSRI", 20.0),
    ("venlafaxine", "SNRI", 75.0),
    ("mirtazapine", "NaSSA", 30.0),
]
# Who has no intake history (1 patient in 5: the models' history block is 20 % missing) and who
# no clinician-recorded flags (those, and 1 more in 20: the flags are 25 % missing), by the
# patient's number so every demo size has the trained shares.
NO_INTAKE = frozenset({2, 7, 12, 17})  # patient number mod 20
NO_FLAGS = NO_INTAKE | {5}
FLAG_PREVALENCE = {  # chance a flag is recorded present, at mean severity
    "substance_use": 0.2,
    "psychotic_features": 0.06,
    "psychosocial_stressor": 0.5,
    "hopelessness": 0.35,
}


def _clinical_history(
    uow: UnitOfWork,
    rng: np.random.Generator,
    i: int,
    p: Patient,
    clinician: str,
    start: datetime,
    today: datetime,
    severity: float,
) -> None:
    """The patient's intake history, an earlier antidepressant and admissions (see module docs);
    `rng` is the patient's own stream so the rest of the demo stays as it was."""
    s = uow.session
    age = (start.date() - p.birth_date).days / 365.25
    heavier = severity / 16.0  # baseline PHQ-9 relative to the clinic's mean
    before = int(rng.poisson(0.25 * heavier))  # admissions before this clinic
    if i % 20 not in NO_INTAKE:
        flags: dict[str, bool | None] = {}
        if i % 20 not in NO_FLAGS:
            flags = {
                f: bool(rng.random() < min(0.95, FLAG_PREVALENCE[f] * heavier)) for f in FLAG_NAMES
            }
        onset = float(np.clip(round(rng.normal(27, 9)), 12, max(12.0, age - 1)))
        intake = IntakeHistory(
            prior_episodes=int(rng.poisson(1.2 * heavier)),
            age_at_onset=min(onset, round(age, 1)),
            prior_admissions_before=before,
            last_discharge_before=(
                (start - timedelta(days=int(rng.integers(60, 3000)))).date() if before else None
            ),
            failed_trials_before=int(rng.poisson(0.4 * heavier)),
            flags=flags,
        )
        p.history_json = intake_json(intake, p.birth_date, at=start, by=clinician)
    if rng.random() < 0.4:  # an earlier antidepressant, stopped when the current SSRI began
        name, drug_class, dose = EARLIER[int(rng.integers(0, len(EARLIER)))]
        reason = "inadequate_response" if rng.random() < 0.7 else "adverse_effects"
        s.add(
            Medication(
                patient_id=p.id,
                name=name,
                drug_class=drug_class,
                dose=dose,
                unit="mg",
                frequency="once daily",
                start=(start - timedelta(days=int(rng.integers(70, 200)))).date(),
                end=(start + timedelta(days=13)).date(),
                stop_reason=reason,
                adherence=float(np.clip(rng.normal(0.75, 0.15), 0.2, 1.0)),
                author_id=clinician,
            )
        )
    span = (today - start).days - 40  # admitted 20 days in at the earliest, home 20 days ago
    if span > 0 and rng.random() < 0.12 * heavier:  # admitted during this clinic's care
        admitted = datetime.combine(
            (start + timedelta(days=int(rng.integers(20, 20 + span)))).date(), time(0), UTC
        )
        s.add(
            Encounter(
                patient_id=p.id,
                clinician_id=clinician,
                kind=ADMISSION,
                start=admitted,
                end=admitted + timedelta(days=int(rng.integers(5, 19))),
                author_id=clinician,
            )
        )


@dataclass(frozen=True)
class DemoSummary:
    users: int
    patients: int
    assessments: int
    notes: int
    actigraphy_days: int
    already_present: bool = False


def _phq9_items(rng: np.random.Generator, severity: float, suicidal: bool) -> list[int]:
    """Nine 0-3 answers summing to about `severity` (0-27), scattered with PHQ-9's test-retest
    error (SEM about 2 points; Kroenke et al. 2001 report r = 0.84)."""
    target = int(np.clip(round(severity + rng.normal(0, 1.5)), 0, 27))
    items = [0] * 9
    slots = [i for i in range(8) for _ in range(3)]  # item 9 is set separately
    for i in rng.permutation(slots)[: min(target, 24)]:
        items[int(i)] += 1
    items[8] = int(rng.integers(1, 3)) if suicidal else 0
    return items


def _actigraphy(rng: np.random.Generator, days: int, severity: float) -> np.ndarray:
    """Minute counts: a 24 h rhythm (peak mid-afternoon), damped and fragmented with severity."""
    minutes = np.arange(days * 1440)
    phase = (minutes % 1440) / 1440.0 * 2 * np.pi
    amplitude = 260.0 * (1.0 - 0.5 * severity / 27.0)
    mean = np.maximum(0.0, 120.0 + amplitude * np.sin(phase - 2.2))
    sleep = ((minutes % 1440) < 6 * 60 + int(30 * severity / 27)) | ((minutes % 1440) > 23 * 60)
    mean[sleep] = 3.0 + 10.0 * severity / 27.0
    return rng.poisson(mean).astype(np.float32)


def refuse_real_store(ctx: AppContext) -> None:
    """The demo's staff share a published password: never add them where real people or
    patients are, nor to a workstation enrolled in a clinic (sync would spread them)."""
    from app.core.errors import ValidationError
    from app.services.firstrun import is_enrolled

    if is_enrolled(ctx):
        raise ValidationError(
            "This workstation is enrolled in a clinic; the demo clinic is not created here.",
            hint="Use a separate data folder (NOVAMIND_DATA_DIR) for the demo.",
        )
    real = ctx.store.read(
        lambda s: (
            s.scalar(select(User.id).where(User.is_synthetic.is_(False)).limit(1))
            or s.scalar(select(Patient.id).where(Patient.is_synthetic.is_(False)).limit(1))
        )
    )
    if real:
        raise ValidationError(
            "This store holds real (non-synthetic) accounts or patients; the demo clinic, "
            "whose accounts share a published password, is not added to it.",
            hint="Use a separate data folder (NOVAMIND_DATA_DIR) for the demo.",
        )


def create_demo_clinic(
    ctx: AppContext,
    *,
    patients: int = 50,
    seed: int = 7,
    days: int = 180,
    actigraphy_days: int = 56,
) -> DemoSummary:
    """Fill an empty store with the demo clinic (idempotent: a second call changes nothing).
    Refused on a store with real data or enrolled in a clinic (see refuse_real_store)."""
    refuse_real_store(ctx)
    existing = ctx.store.read(
        lambda s: s.scalar(select(User.id).where(User.username == "dr.adams"))
    )
    if existing:
        return DemoSummary(0, 0, 0, 0, 0, already_present=True)
    rng = np.random.default_rng(seed)
    allowed = frozenset(ctx.settings.allowed_demographics)
    pw_hash = hash_password(DEMO_PASSWORD)
    now = datetime.now(UTC)
    today = now.replace(hour=9, minute=0, second=0, microsecond=0)
    if today > now:  # before 09:00 UTC: the demo's last visit was yesterday, never in the future
        today -= timedelta(days=1)
    start = today - timedelta(days=days)
    counts = {"assessments": 0, "notes": 0}

    def build_staff(uow: UnitOfWork) -> dict[str, str]:
        ids = {}
        for username, name, role in STAFF:
            user = User(
                username=username,
                display_name=name,
                role=role.value,
                password_hash=pw_hash,
                is_synthetic=True,
                author_id="demo",
            )
            uow.session.add(user)
            uow.session.flush()
            ids[username] = user.id
        uow.audit(Actor("demo", "it"), "demo.create_staff", detail={"users": len(ids)})
        return ids

    staff = ctx.store.write(build_staff)
    clinicians = [staff[u] for u, _, r in STAFF if r is Role.CLINICIAN]

    def build_patient(uow: UnitOfWork, i: int) -> None:
        s = uow.session
        actor = Actor("demo", "it")
        clinician = clinicians[i % len(clinicians)]
        birth = date(
            int(rng.integers(1950, 2005)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
        )
        p = Patient(
            mrn=f"DEMO-{i + 1:04d}",
            given_name=str(rng.choice(GIVEN)),
            family_name=str(rng.choice(FAMILY)),
            birth_date=birth,
            sex=str(rng.choice(["female", "male", "other"], p=[0.55, 0.42, 0.03])),
            is_synthetic=True,
            author_id="demo",
            created_at=start,
        )
        s.add(p)
        s.flush()
        s.add(CareTeamAssignment(patient_id=p.id, user_id=clinician, author_id="demo"))
        baseline = float(np.clip(rng.normal(16, 4), 6, 27))
        responder = rng.random() < 0.47
        anxious = rng.random() < 0.45
        suicidal_visit = int(rng.integers(0, 12)) if rng.random() < 0.12 else -1
        drug, dose = SSRIS[i % len(SSRIS)]
        _clinical_history(
            uow, np.random.default_rng([seed, i]), i, p, clinician, start, today, baseline
        )
        s.add(
            Medication(
                patient_id=p.id,
                name=drug,
                drug_class="SSRI",
                dose=dose,
                unit="mg",
                frequency="once daily",
                start=(start + timedelta(days=14)).date(),
                adherence=float(np.clip(rng.normal(0.8, 0.15), 0.2, 1.0)),
                author_id=clinician,
            )
        )
        s.add(
            TreatmentPlan(
                patient_id=p.id,
                option="SSRI",
                goals="Reduce depressive symptoms (PHQ-9 < 10); restore sleep routine.",
                start=(start + timedelta(days=14)).date(),
                author_id=clinician,
            )
        )
        severity = baseline
        visit_day = 0
        visit = 0
        while visit_day <= days:
            when = start + timedelta(days=visit_day)
            weeks_treated = max(0.0, (visit_day - 14) / 7)
            drop = (0.6 if responder else 0.2) * baseline * (1 - np.exp(-weeks_treated / 4))
            severity = float(np.clip(baseline - drop + rng.normal(0, 0.8), 0, 27))
            enc = Encounter(
                patient_id=p.id,
                clinician_id=clinician,
                kind="follow-up" if visit else "intake",
                start=when,
                end=when + timedelta(minutes=50),
                author_id=clinician,
            )
            s.add(enc)
            s.flush()
            items = _phq9_items(rng, severity, visit == suicidal_visit)
            total = sum(items)
            phq9 = {f"q{k + 1}": v for k, v in enumerate(items)}
            record_assessment(
                uow,
                Actor(clinician, "clinician"),
                p.id,
                "phq9",
                phq9,
                administered_at=when,
                mode="self-report",
            )
            gad_sev = severity * (0.85 if anxious else 0.5) * 21 / 27
            gad = rng.binomial(3, np.clip(gad_sev / 21, 0.02, 0.98), size=7)
            record_assessment(
                uow,
                Actor(clinician, "clinician"),
                p.id,
                "gad7",
                {f"q{k + 1}": int(v) for k, v in enumerate(gad)},
                administered_at=when,
                mode="self-report",
            )
            counts["assessments"] += 2
            visit_assessments_at = when
            if visit == 0 or items[8] > 0:
                ideation = items[8] > 0
                cssrs = {"q1": int(ideation), "q2": int(ideation and rng.random() < 0.5), "q6": 0}
                if cssrs["q2"]:
                    cssrs.update(q3=0, q4=0, q5=0)
                record_assessment(
                    uow,
                    Actor(clinician, "clinician"),
                    p.id,
                    "cssrs_screener",
                    cssrs,
                    administered_at=when,
                    mode="clinician",
                )
                counts["assessments"] += 1
            raise_alerts(uow, Actor(clinician, "clinician"), p.id, visit_assessments_at)
            better = drop > 3
            body = (
                f"Synthetic demo note. Follow-up visit {visit}. "
                f"Mood {'improving' if better else 'low'}; "
                f"sleep {'better' if better else 'disturbed'}. "
                f"Continues {drug} {dose:.0f} mg daily. PHQ-9 today {total}."
            )
            note = ClinicalNote(
                patient_id=p.id,
                encounter_id=enc.id,
                title=f"Visit {visit}",
                body=body,
                status="signed",
                signed_at=when + timedelta(hours=1),
                signed_by=clinician,
                content_sha256=content_hash(f"Visit {visit}", body),
                author_id=clinician,
            )
            s.add(note)
            counts["notes"] += 1
            visit += 1
            visit_day += int(rng.integers(12, 22))
        s.flush()
        s.add(
            NlpAnalysis(
                patient_id=p.id,
                note_id=note.id,
                model_name="demo record",
                model_sha256=NO_MODEL_SHA256,
                result_json=json.dumps({"provenance": DEMO_PROVENANCE, "findings": []}),
                author_id="demo",
            )
        )
        act_start = datetime.combine((today - timedelta(days=actigraphy_days)).date(), time(0))
        counts_arr = _actigraphy(rng, actigraphy_days, severity)
        rec = ActigraphyRecording(
            start=act_start,
            counts=counts_arr,
            nonwear=detect_nonwear(counts_arr),
            source="demo wearable (synthetic)",
        )
        add_recording(uow, actor, p.id, rec, analyse(rec))
        predict_in(uow, actor, p.id, today, allowed)
        update_in(uow, actor, p.id, today)
        uow.audit(
            actor, "demo.create_patient", patient_id=p.id, record_type="patient", record_id=p.id
        )

    for i in range(patients):
        ctx.store.write(partial(build_patient, i=i))
    log.info("demo clinic created: %d patients", patients)
    return DemoSummary(
        len(STAFF), patients, counts["assessments"], counts["notes"], actigraphy_days
    )
