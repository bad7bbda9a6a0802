"""Model inputs: one patient's feature dict assembled from the records the app keeps.

Every input of every model comes from a record a clinician can see and edit in the app (the
catalogue in engines.xgb.features says where, as each input's ``source``); anything the store
does not know stays absent (NaN), never zero. Nothing recorded after ``now`` is read (training
on the clinic's records uses a past ``now``): assessments, medication stops, admissions, note
findings and the intake history itself (by its recorded_at).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError
from app.core.security import rbac
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    AssessmentResponse,
    Medication,
    Patient,
)
from app.services import phi_audit
from app.services.context import AppContext
from app.services.history import FLAG_NAMES, IntakeHistory, admissions_of, intake_of
from app.services.note_flags import FLAG_INPUTS, accepted_flags
from engines.xgb.features import CATALOGUE_BY_NAME

AVERAGE_MONTH_DAYS = 30.44
ANTIDEPRESSANT_CLASSES = frozenset({"SSRI", "SNRI", "NDRI", "NaSSA"})
FAILED_TRIAL = "inadequate_response"  # history.STOP_REASONS key of a failed adequate trial
SEX_FEMALE = {"female": 1, "male": 0}  # other / unknown stay missing
# a sum of counts past the models' range is held at its top (implausible, never an error)
MAX_COUNT = {n: int(CATALOGUE_BY_NAME[n].maximum) for n in ("failed_trials", "prior_admissions")}


def build_features(session: Session, patient_id: str, now: datetime) -> dict[str, Any]:
    """One patient's feature dict; anything the store does not know stays absent (NaN)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFoundError("That patient record does not exist.")
    phq_rows = session.execute(
        select(AssessmentResponse.administered_at, AssessmentResponse.total)
        .where(
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.instrument == "phq9",
            AssessmentResponse.administered_at <= now,  # no look-ahead (training uses a cutoff)
        )
        .order_by(AssessmentResponse.administered_at)
    ).all()
    phq = [(t, v) for t, v in phq_rows if v is not None]  # PHQ-9 always has a total
    gad = session.execute(
        select(AssessmentResponse.total)
        .where(
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.instrument == "gad7",
            AssessmentResponse.administered_at <= now,
        )
        .order_by(AssessmentResponse.administered_at.desc())
        .limit(1)
    ).scalar()
    f: dict[str, Any] = {"patient_id": patient_id}
    if phq:
        f["phq9_baseline"] = phq[0][1]
        f["phq9_current"] = phq[-1][1]
        recent = [(t, v) for t, v in phq if t >= now - timedelta(weeks=8)]
        if len(recent) >= 2:
            days = np.array([(t - recent[0][0]).total_seconds() / 86400 for t, _ in recent])
            if days[-1] > 0:
                f["phq9_slope"] = float(np.polyfit(days / 7.0, [v for _, v in recent], 1)[0])
        f["episode_months"] = max(0.0, (now - phq[0][0]).days / 30.44)
    if gad is not None:
        f["gad7_current"] = gad
        # proxy for anxious depression (Fava 2008 used HAM-D's anxiety/somatisation factor)
        f["anxious_depression"] = 1 if gad >= 10 else 0
    meds = session.scalars(
        select(Medication).where(
            Medication.patient_id == patient_id, Medication.deleted_at.is_(None)
        )
    ).all()
    active = [m for m in meds if m.end is None or m.end >= now.date()]
    f["n_psychotropics"] = len(active)
    adherence = [m.adherence for m in active if m.adherence is not None]
    if adherence:
        f["adherence_pdc"] = float(np.mean(adherence))
    f["on_maintenance_ad"] = 1 if any(m.drug_class in ANTIDEPRESSANT_CLASSES for m in active) else 0
    f["age_years"] = (now.date() - patient.birth_date).days / 365.25
    if patient.sex in SEX_FEMALE:
        f["sex_female"] = SEX_FEMALE[patient.sex]
    intake = intake_of(patient.history_json)
    if intake.recorded_at is None or intake.recorded_at > now:
        intake = IntakeHistory()  # none recorded by then: the whole history block is missing
    f.update(_history_features(session, patient_id, intake, meds, now))
    f.update(_flag_features(session, patient_id, intake, now))
    f.update(_actigraphy_features(session, patient_id, now))
    return f


#: The inputs the Clinical history tab feeds (its records, the intake and accepted findings).
HISTORY_INPUTS: tuple[str, ...] = (
    "prior_episodes",
    "age_at_onset",
    "prior_admissions",
    "months_since_admission",
    "failed_trials",
    *FLAG_INPUTS,
)


@dataclass(frozen=True)
class InputValue:
    """One model input as the models would read it now; value None = missing."""

    name: str
    label: str  # the catalogue's plain words
    unit: str
    value: float | None


def history_inputs(ctx: AppContext, principal: Principal, patient_id: str) -> list[InputValue]:
    """The history inputs (HISTORY_INPUTS) exactly as ``build_features`` computes them now: the
    totals the models use (intake counts plus the app's own records), so a screen that shows
    them never recomputes one (audited PHI read)."""

    def read(session: Session) -> list[InputValue]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        f = build_features(session, patient_id, datetime.now(UTC))
        return [
            InputValue(
                name,
                CATALOGUE_BY_NAME[name].label,
                CATALOGUE_BY_NAME[name].unit,
                None if name not in f else float(f[name]),
            )
            for name in HISTORY_INPUTS
        ]

    result = ctx.store.read(read)
    missing = sum(1 for v in result if v.value is None)
    phi_audit.audit_read(
        ctx, principal, "model_inputs.read", patient_id=patient_id, record_type="patient",
        record_id=patient_id, detail={"inputs": len(result), "missing": missing},
    )  # fmt: skip
    return result


def _history_features(
    session: Session,
    patient_id: str,
    intake: IntakeHistory,
    meds: Sequence[Medication],
    now: datetime,
) -> dict[str, float]:
    """Episodes, onset, admissions and failed trials: the intake's counts from before this
    clinic plus what the app's own records show up to ``now``; all missing without an intake."""
    if intake.recorded_at is None:
        return {}
    out: dict[str, float] = {}
    if intake.prior_episodes is not None:
        out["prior_episodes"] = intake.prior_episodes
    if intake.age_at_onset is not None:
        out["age_at_onset"] = intake.age_at_onset
    if intake.failed_trials_before is not None:
        failed = sum(
            1
            for m in meds
            if m.stop_reason == FAILED_TRIAL and m.end is not None and m.end <= now.date()
        )
        out["failed_trials"] = min(intake.failed_trials_before + failed, MAX_COUNT["failed_trials"])
    admissions = [a for a in admissions_of(session, patient_id) if a.start <= now]
    if intake.prior_admissions_before is not None:
        total = intake.prior_admissions_before + len(admissions)
        out["prior_admissions"] = min(total, MAX_COUNT["prior_admissions"])
    if any(a.end is None or a.end > now for a in admissions):
        out["months_since_admission"] = 0.0  # admitted now
        return out
    discharges = [a.end.date() for a in admissions if a.end is not None]
    if intake.last_discharge_before is not None:
        discharges.append(intake.last_discharge_before)
    discharges = [d for d in discharges if d <= now.date()]
    if discharges:  # none: never admitted (as in training, structurally missing)
        days = (now.date() - max(discharges)).days
        out["months_since_admission"] = days / AVERAGE_MONTH_DAYS
    return out


def _flag_features(
    session: Session, patient_id: str, intake: IntakeHistory, now: datetime
) -> dict[str, int]:
    """nlp_<flag>: 1 if recorded present on the intake or set by a clinician-accepted note
    finding, 0 if recorded absent and no accepted finding sets it, else missing."""
    found = accepted_flags(session, patient_id, now)
    out: dict[str, int] = {}
    for flag in FLAG_NAMES:
        name = f"nlp_{flag}"
        recorded = intake.flags.get(flag)
        if recorded is True or name in found:
            out[name] = 1
        elif recorded is False:
            out[name] = 0
    return out


def _actigraphy_features(session: Session, patient_id: str, now: datetime) -> dict[str, float]:
    """Sleep and circadian features from the newest recording that ended by ``now`` (absent if
    none)."""
    series = session.execute(
        select(ActigraphySeries.id, ActigraphySeries.start, ActigraphySeries.n_epochs,
               ActigraphySeries.epoch_s)
        .where(ActigraphySeries.patient_id == patient_id, ActigraphySeries.start <= now,
               ActigraphySeries.deleted_at.is_(None))
        .order_by(ActigraphySeries.start.desc())
    ).all()  # fmt: skip
    series_id = next(
        (sid for sid, start, n, epoch in series if start + timedelta(seconds=n * epoch) <= now),
        None,
    )
    if series_id is None:
        return {}
    rows = {
        r.kind: json.loads(r.data_json)
        for r in session.scalars(
            select(ActigraphyResult).where(
                ActigraphyResult.series_id == series_id,
                ActigraphyResult.kind.in_(("nightly", "circadian")),
            )
        )
    }
    out: dict[str, float] = {}
    nights = rows.get("nightly") or []
    tst = [n["tst_min"] for n in nights if n.get("tst_min") is not None]
    se = [n["sleep_efficiency"] for n in nights if n.get("sleep_efficiency") is not None]
    waso = [n["waso_min"] for n in nights if n.get("waso_min") is not None]
    if tst:
        out["sleep_tst_h"] = float(np.mean(tst)) / 60.0
    if se:
        out["sleep_efficiency"] = 100.0 * float(np.mean(se))
    if waso:
        out["sleep_waso_min"] = float(np.mean(waso))
    circ = (rows.get("circadian") or {}).get("binarized") or {}
    for key, name in (("IS", "circ_is"), ("IV", "circ_iv"), ("RA", "circ_ra")):
        if circ.get(key) is not None:
            out[name] = float(circ[key])
    if "circ_is" in out:
        # pyActigraphy's IS estimator can exceed 1 slightly for a near-perfect rhythm (its
        # sample-size factors); the models' feature range is the textbook 0-1
        out["circ_is"] = min(out["circ_is"], 1.0)
    return out
