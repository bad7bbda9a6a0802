"""Observed outcomes of stored predictions, read from the records written after them, so a
model's calibration can be checked as outcomes arrive.

Each target's outcome follows its model card's definition as far as the records allow:

- relapse_6m: a PHQ-9 of 15 or more, or a MADRS of 22 or more, within 182 days;
- hosp_90d: a psychiatric admission (encounter of kind "admission") starting within 90 days;
- response_<option>: the patient started that option (a treatment plan, or a medication of its
  class, from 14 days before to 28 days after the prediction) and the first PHQ-9 8-12 weeks
  later is at most half the PHQ-9 at (or in the 30 days before) the prediction;
- pat_screen (the actigraphy depression screen): the PHQ-9 nearest the recording's end, within
  14 days either side, is 10 or more.

Only predictions whose horizon has passed are judged, and "no event" is only believed for a
patient seen again (a PHQ-9 or MADRS) in the second half of the horizon or later; otherwise the
outcome is unknown (NaN), never silently 0. Everything is vectorised over (patient, day) keys so
100,000 predictions take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.store.models import AssessmentResponse, Encounter, Medication, TreatmentPlan

_JULIAN_EPOCH = 2440587.5  # julianday('1970-01-01')
_SPAN = 1.0e6  # days between two patients' key ranges (far more than any record's span)

RELAPSE_PHQ9, RELAPSE_MADRS, RESPONSE_DROP, SCREEN_PHQ9 = 15.0, 22.0, 0.5, 10.0
HORIZON_DAYS = {"relapse_6m": 182.0, "hosp_90d": 90.0, "response": 84.0, "pat_screen": 14.0}
RESPONSE_WINDOW = (56.0, 84.0)  # 8-12 weeks after the prediction
BASELINE_MAX_AGE = 30.0  # days: an older PHQ-9 is no baseline
START_WINDOW = (-14.0, 28.0)  # days around the prediction in which the option must start
#: Medication classes (Medication.drug_class) that mean a response option was started.
OPTION_CLASSES = {"ssri": "SSRI", "snri": "SNRI", "bupropion": "NDRI", "mirtazapine": "NaSSA"}

DEFINITIONS = {
    "relapse_6m": "PHQ-9 >= 15 or MADRS >= 22 within 182 days (patient seen after day 91)",
    "hosp_90d": "psychiatric admission within 90 days (patient seen after day 45)",
    "response": "option started within -14..+28 days and first PHQ-9 at 8-12 weeks <= 50% of "
    "the PHQ-9 at prediction",
    "pat_screen": "PHQ-9 >= 10 nearest the recording's end, within 14 days",
}


def _day(col: Any) -> Any:
    """Days since 1970-01-01 as a float, computed by SQLite (no datetime objects per row)."""
    return func.julianday(col) - _JULIAN_EPOCH


def horizon_days(target: str) -> float:
    """Days after a prediction before its outcome can be judged."""
    return HORIZON_DAYS["response" if target.startswith("response_") else target]


def definition(target: str) -> str:
    """The outcome definition in words (shown with the calibration figures)."""
    return DEFINITIONS["response" if target.startswith("response_") else target]


@dataclass(frozen=True)
class _Keyed:
    """Records as sorted keys patient_index * _SPAN + day, with a value per record."""

    keys: np.ndarray
    values: np.ndarray

    @classmethod
    def build(cls, pidx: np.ndarray, days: np.ndarray, values: np.ndarray | None = None) -> _Keyed:
        keys = pidx.astype(np.float64) * _SPAN + days
        order = np.argsort(keys, kind="stable")
        vals = np.zeros(keys.size) if values is None else values
        return cls(keys[order], vals[order])

    def count_between(self, pidx: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Records of each patient with lo < day <= hi."""
        base = pidx.astype(np.float64) * _SPAN
        right = np.searchsorted(self.keys, base + hi, side="right")
        left = np.searchsorted(self.keys, base + lo, side="right")
        out: np.ndarray = right - left
        return out


@dataclass(frozen=True)
class History:
    """The records outcomes are read from, for the patients in `patients` (sorted ids)."""

    patients: np.ndarray
    phq9: _Keyed
    relapse_events: _Keyed  # PHQ-9 >= 15 or MADRS >= 22
    follow_up: _Keyed  # any PHQ-9 or MADRS
    admissions: _Keyed
    starts: dict[str, _Keyed]  # option -> treatment starts

    def index_of(self, patient_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Each id's index in `patients` (-1 for an unknown patient)."""
        ids = np.asarray(patient_ids, dtype=object).astype(str)
        if self.patients.size == 0:
            return np.full(ids.size, -1)
        pos = np.clip(np.searchsorted(self.patients, ids), 0, self.patients.size - 1)
        return np.where(self.patients[pos] == ids, pos, -1)


def load_history(session: Session, since_day: float) -> History:
    """Assessments, admissions and treatment starts from `since_day` on (days since the epoch),
    a few bulk queries (deleted records excluded)."""
    ar, enc, plan, med = (
        AssessmentResponse.__table__.c,
        Encounter.__table__.c,
        TreatmentPlan.__table__.c,
        Medication.__table__.c,
    )
    day = _day(ar.administered_at)
    scores = session.execute(
        select(ar.patient_id, ar.instrument, day, ar.total).where(
            ar.instrument.in_(("phq9", "madrs")),
            ar.total.is_not(None),
            ar.deleted_at.is_(None),
            day >= since_day - BASELINE_MAX_AGE,
        )
    ).all()
    adm_day = _day(enc.start)
    admissions = session.execute(
        select(enc.patient_id, adm_day).where(
            enc.kind == "admission", enc.deleted_at.is_(None), adm_day >= since_day
        )
    ).all()
    plans = session.execute(
        select(plan.patient_id, plan.option, _day(plan.start)).where(plan.deleted_at.is_(None))
    ).all()
    meds = session.execute(
        select(med.patient_id, med.drug_class, _day(med.start)).where(med.deleted_at.is_(None))
    ).all()
    ids = {r[0] for r in scores} | {r[0] for r in admissions}
    ids |= {r[0] for r in plans} | {r[0] for r in meds}
    patients = np.asarray(sorted(ids), dtype=str)
    empty = _Keyed.build(np.zeros(0), np.zeros(0))
    idx = History(patients, empty, empty, empty, empty, {}).index_of

    if scores:
        s_pid, s_inst, s_day, s_tot = zip(*scores, strict=True)
        sp, sd = idx(s_pid), np.asarray(s_day, dtype=np.float64)
        inst = np.asarray(s_inst, dtype=str)
        tot = np.asarray(s_tot, dtype=np.float64)
        is_phq = inst == "phq9"
        event = np.where(is_phq, tot >= RELAPSE_PHQ9, tot >= RELAPSE_MADRS)
        phq9 = _Keyed.build(sp[is_phq], sd[is_phq], tot[is_phq])
        relapse = _Keyed.build(sp[event], sd[event])
        follow = _Keyed.build(sp, sd)
    else:
        phq9 = relapse = follow = empty
    if admissions:
        a_pid, a_day = zip(*admissions, strict=True)
        adm = _Keyed.build(idx(a_pid), np.asarray(a_day, dtype=np.float64))
    else:
        adm = empty
    by_option: dict[str, tuple[list[str], list[float]]] = {}
    class_option = {c: o for o, c in OPTION_CLASSES.items()}
    for pid, option, d in plans:
        by_option.setdefault(str(option), ([], []))[0].append(pid)
        by_option[str(option)][1].append(float(d))
    for pid, drug_class, d in meds:
        option = class_option.get(str(drug_class))
        if option is not None:
            by_option.setdefault(option, ([], []))[0].append(pid)
            by_option[option][1].append(float(d))
    starts = {
        o: _Keyed.build(idx(p), np.asarray(d, dtype=np.float64)) for o, (p, d) in by_option.items()
    }
    return History(patients, phq9, relapse, follow, adm, starts)


def observed(
    history: History, target: str, patient_ids: np.ndarray, days: np.ndarray
) -> np.ndarray:
    """1.0 / 0.0 where the outcome of each prediction (made on `days`) is known, NaN where not.
    The caller passes only predictions whose horizon has passed."""
    d = np.asarray(days, dtype=np.float64)
    pidx = history.index_of(patient_ids)
    known_patient = pidx >= 0
    p = np.where(known_patient, pidx, 0)
    out = np.full(d.size, np.nan)
    if target in ("relapse_6m", "hosp_90d"):
        h = HORIZON_DAYS[target]
        events = history.relapse_events if target == "relapse_6m" else history.admissions
        hit = events.count_between(p, d, d + h) > 0
        seen = history.follow_up.count_between(p, d + h / 2, np.full(d.size, _SPAN / 2)) > 0
        out = np.where(hit, 1.0, np.where(seen, 0.0, np.nan))
    elif target.startswith("response_"):
        out = _response(history, target.removeprefix("response_"), p, d)
    elif target == "pat_screen":
        out = _screen(history, p, d)
    else:
        raise ValueError(f"no outcome definition for {target}")
    return np.where(known_patient, out, np.nan)


def _response(history: History, option: str, p: np.ndarray, d: np.ndarray) -> np.ndarray:
    started = history.starts.get(option)
    if started is None:
        return np.full(d.size, np.nan)
    on_option = started.count_between(p, d + START_WINDOW[0], d + START_WINDOW[1]) > 0
    keys, totals = history.phq9.keys, history.phq9.values
    base_key = p * _SPAN
    if keys.size == 0:
        return np.full(d.size, np.nan)
    i = np.searchsorted(keys, base_key + d, side="right") - 1
    ic = np.clip(i, 0, keys.size - 1)
    has_base = (i >= 0) & (keys[ic] >= base_key + d - BASELINE_MAX_AGE)
    j = np.searchsorted(keys, base_key + d + RESPONSE_WINDOW[0], side="left")
    jc = np.clip(j, 0, keys.size - 1)
    has_follow = (j < keys.size) & (keys[jc] <= base_key + d + RESPONSE_WINDOW[1])
    ok = on_option & has_base & has_follow & (totals[ic] > 0)
    responded = totals[jc] <= RESPONSE_DROP * totals[ic]
    return np.where(ok, responded.astype(np.float64), np.nan)


def _screen(history: History, p: np.ndarray, d: np.ndarray) -> np.ndarray:
    keys, totals = history.phq9.keys, history.phq9.values
    if keys.size == 0:
        return np.full(d.size, np.nan)
    target = p * _SPAN + d
    j = np.searchsorted(keys, target, side="left")
    prev_i, next_i = np.clip(j - 1, 0, keys.size - 1), np.clip(j, 0, keys.size - 1)
    gap_prev = np.where(j > 0, np.abs(target - keys[prev_i]), np.inf)
    gap_next = np.where(j < keys.size, np.abs(keys[next_i] - target), np.inf)
    nearest = np.where(gap_prev <= gap_next, prev_i, next_i)
    gap = np.minimum(gap_prev, gap_next)
    ok = gap <= HORIZON_DAYS["pat_screen"]
    return np.where(ok, (totals[nearest] >= SCREEN_PHQ9).astype(np.float64), np.nan)
