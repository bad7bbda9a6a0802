"""Feature assembly from the records themselves: the reference path behind model_inputs.

Used for rows that are stale or not yet valid at ``now`` (app.services.feature_rows), for a
``now`` in the past (training), and to build the feature rows themselves.

Every input of every model comes from a record a clinician can see and edit in the app (the
catalogue in engines.xgb.features says where, as each input's ``source``); anything the store
does not know stays absent (NaN), never zero. Nothing recorded after ``now`` is read (training
on the clinic's records uses a past ``now``): assessments, medication stops, admissions, note
findings and the intake history itself (by its recorded_at).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.core.errors import NotFoundError
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    AssessmentResponse,
    Encounter,
    Medication,
    Patient,
)
from app.services._id_sets import in_ids
from app.services.history import ADMISSION, FLAG_NAMES, IntakeHistory, intake_of
from app.services.note_flags import accepted_flags_many
from engines.xgb.features import CATALOGUE_BY_NAME

AVERAGE_MONTH_DAYS = 30.44
ANTIDEPRESSANT_CLASSES = frozenset({"SSRI", "SNRI", "NDRI", "NaSSA"})
FAILED_TRIAL = "inadequate_response"  # history.STOP_REASONS key of a failed adequate trial
SEX_FEMALE = {"female": 1, "male": 0}  # other / unknown stay missing
# a sum of counts past the models' range is held at its top (implausible, never an error)
MAX_COUNT = {n: int(CATALOGUE_BY_NAME[n].maximum) for n in ("failed_trials", "prior_admissions")}


def assemble_many(
    session: Session, patient_ids: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """Feature dicts for many patients (in the order given) from a fixed number of queries, one
    per input family over all of them, so a 10,000-patient caseload costs the same ten queries
    as one patient. Raises NotFoundError if any id is not a patient record."""
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return []
    people = {
        pid: (born, sex, history_json)
        for pid, born, sex, history_json in session.execute(
            select(Patient.id, Patient.birth_date, Patient.sex, Patient.history_json).where(
                in_ids(Patient.id, ids)
            )
        )
    }
    if len(people) != len(ids):
        raise NotFoundError("That patient record does not exist.")
    latest = _latest_totals(session, ids, now)
    phq = _phq_features(session, ids, now, latest)
    meds = _medications(session, ids)
    admissions = _admissions(session, ids)
    flags = accepted_flags_many(session, ids, now)
    sleep = _actigraphy_many(session, ids, now)
    today = now.date()
    by_id: dict[str, dict[str, Any]] = {}
    for pid in ids:
        born, sex, history_json = people[pid]
        f: dict[str, Any] = {"patient_id": pid}
        f.update(phq.get(pid, ()))
        if (g := latest.get((pid, "gad7"))) is not None:
            f["gad7_current"] = g
            # proxy for anxious depression (Fava 2008 used HAM-D's anxiety/somatisation factor)
            f["anxious_depression"] = 1 if g >= 10 else 0
        mine = meds.get(pid, [])
        active = [m for m in mine if m.end is None or m.end >= today]
        f["n_psychotropics"] = len(active)
        adherence = [m.adherence for m in active if m.adherence is not None]
        if adherence:
            f["adherence_pdc"] = float(np.mean(adherence))
        f["on_maintenance_ad"] = (
            1 if any(m.drug_class in ANTIDEPRESSANT_CLASSES for m in active) else 0
        )
        f["age_years"] = (today - born).days / 365.25
        if sex in SEX_FEMALE:
            f["sex_female"] = SEX_FEMALE[sex]
        intake = intake_of(history_json)
        if intake.recorded_at is None or intake.recorded_at > now:
            intake = IntakeHistory()  # none recorded by then: the whole history block is missing
        f.update(_history_features(intake, mine, admissions.get(pid, []), now))
        f.update(_flag_features(intake, flags.get(pid, set())))
        f.update(sleep.get(pid, ()))
        by_id[pid] = f
    return [dict(by_id[pid]) for pid in patient_ids]


class _Med(NamedTuple):
    end: date | None
    adherence: float | None
    drug_class: str
    stop_reason: str | None


class _Stay(NamedTuple):
    start: datetime
    end: datetime | None


# the recent-slope window; rows are read with a day to spare and cut exactly in Python, so the
# window edge is the same datetime comparison whatever the store's text form of a time
SLOPE_WINDOW = timedelta(weeks=8)


def _phq_features(
    session: Session, ids: list[str], now: datetime, latest: dict[tuple[str, str], float | None]
) -> dict[str, dict[str, float | None]]:
    """Baseline, current, 8-week slope and episode length from PHQ-9 totals up to ``now``."""
    ar = AssessmentResponse
    scope = (
        in_ids(ar.patient_id, ids),
        ar.instrument == "phq9",
        ar.administered_at <= now,  # no look-ahead (training uses a cutoff)
        ar.total.is_not(None),  # PHQ-9 always has a total
        ar.deleted_at.is_(None),  # an administration deleted in error is not an input
    )
    # SQLite: the bare column comes from the row of the min() / max()
    first = session.execute(
        select(ar.patient_id, ar.total, func.min(ar.administered_at))
        .where(*scope)
        .group_by(ar.patient_id)
    ).all()
    recent = session.execute(
        select(ar.patient_id, ar.administered_at, ar.total)
        .where(*scope, ar.administered_at >= now - SLOPE_WINDOW - timedelta(days=1))
        .order_by(ar.patient_id, ar.administered_at)
    ).all()
    out: dict[str, dict[str, float | None]] = {}
    for pid, total, at in first:
        out[pid] = {
            "phq9_baseline": total,
            "phq9_current": latest[(pid, "phq9")],
            "episode_months": max(0.0, (now - at).days / AVERAGE_MONTH_DAYS),
        }
    for pid, slope in _slopes(recent, now).items():
        out[pid]["phq9_slope"] = slope
    # keep the per-patient key order of the single-patient path (baseline, current, slope, ...)
    order = ("phq9_baseline", "phq9_current", "phq9_slope", "episode_months")
    return {pid: {k: f[k] for k in order if k in f} for pid, f in out.items()}


def _slopes(rows: Sequence[Any], now: datetime) -> dict[str, float]:
    """Least-squares PHQ-9 points per week over the last 8 weeks (two or more visits on
    different days) for every patient at once; ``rows`` are (patient, time, total) sorted by
    patient then time. The closed form agrees with ``np.polyfit(weeks, totals, 1)[0]`` to
    rounding (about 1e-15), at a fraction of its per-patient cost."""
    start = now - SLOPE_WINDOW
    kept = [(pid, at, total) for pid, at, total in rows if at >= start]
    if not kept:
        return {}
    pids = [r[0] for r in kept]
    first = [0] + [i for i in range(1, len(pids)) if pids[i] != pids[i - 1]]
    group = np.zeros(len(kept), dtype=np.intp)
    group[first[1:]] = 1
    group = np.cumsum(group)
    origin = [kept[i][1] for i in first]
    days = np.array(
        [
            (at - origin[g]).total_seconds() / 86400
            for (_, at, _), g in zip(kept, group, strict=True)
        ]
    )
    x, y = days / 7.0, np.array([float(r[2]) for r in kept])
    n = np.bincount(group).astype(float)
    span = np.zeros(len(first))
    np.maximum.at(span, group, days)
    dx = x - (np.bincount(group, x) / n)[group]
    dy = y - (np.bincount(group, y) / n)[group]
    sxx, sxy = np.bincount(group, dx * dx), np.bincount(group, dx * dy)
    return {
        pids[i]: float(sxy[g] / sxx[g])
        for g, i in enumerate(first)
        if n[g] >= 2 and span[g] > 0  # noqa: PLR2004 — a line needs two visits
    }


def _latest_totals(
    session: Session, ids: list[str], now: datetime
) -> dict[tuple[str, str], float | None]:
    """(patient, instrument) → the total of the newest PHQ-9 with a total and the newest GAD-7
    up to ``now``, in one pass over the responses."""
    ar = AssessmentResponse
    q = (
        select(ar.patient_id, ar.instrument, ar.total, func.max(ar.administered_at))
        .where(
            in_ids(ar.patient_id, ids),
            ar.administered_at <= now,
            ar.deleted_at.is_(None),
            or_(
                and_(ar.instrument == "phq9", ar.total.is_not(None)),  # PHQ-9 has a total
                ar.instrument == "gad7",
            ),
        )
        .group_by(ar.patient_id, ar.instrument)
    )
    return {(pid, inst): total for pid, inst, total, _ in session.execute(q)}


def _medications(session: Session, ids: list[str]) -> dict[str, list[_Med]]:
    out: dict[str, list[_Med]] = {}
    m = Medication
    for pid, end, adherence, drug_class, stop_reason in session.execute(
        select(m.patient_id, m.end, m.adherence, m.drug_class, m.stop_reason).where(
            in_ids(m.patient_id, ids), m.deleted_at.is_(None)
        )
    ):
        out.setdefault(pid, []).append(_Med(end, adherence, drug_class, stop_reason))
    return out


def _admissions(session: Session, ids: list[str]) -> dict[str, list[_Stay]]:
    out: dict[str, list[_Stay]] = {}
    e = Encounter
    for pid, start, end in session.execute(
        select(e.patient_id, e.start, e.end).where(
            in_ids(e.patient_id, ids), e.kind == ADMISSION, e.deleted_at.is_(None)
        )
    ):
        out.setdefault(pid, []).append(_Stay(start, end))
    return out


def _history_features(
    intake: IntakeHistory, meds: Sequence[_Med], stays: Sequence[_Stay], now: datetime
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
    admissions = [a for a in stays if a.start <= now]
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


def _flag_features(intake: IntakeHistory, found: set[str]) -> dict[str, int]:
    """nlp_<flag>: 1 if recorded present on the intake or set by a clinician-accepted note
    finding (``found``), 0 if recorded absent and no accepted finding sets it, else missing."""
    out: dict[str, int] = {}
    for flag in FLAG_NAMES:
        name = f"nlp_{flag}"
        recorded = intake.flags.get(flag)
        if recorded is True or name in found:
            out[name] = 1
        elif recorded is False:
            out[name] = 0
    return out


def _actigraphy_many(
    session: Session, ids: list[str], now: datetime
) -> dict[str, dict[str, float]]:
    """Sleep and circadian features from each patient's newest recording that ended by ``now``
    (absent if none)."""
    newest: dict[str, str] = {}
    for pid, sid, start, n, epoch in session.execute(
        select(ActigraphySeries.patient_id, ActigraphySeries.id, ActigraphySeries.start,
               ActigraphySeries.n_epochs, ActigraphySeries.epoch_s)
        .where(in_ids(ActigraphySeries.patient_id, ids), ActigraphySeries.start <= now,
               ActigraphySeries.deleted_at.is_(None))
        .order_by(ActigraphySeries.patient_id, ActigraphySeries.start.desc())
    ):  # fmt: skip
        if pid not in newest and start + timedelta(seconds=n * epoch) <= now:
            newest[pid] = sid
    if not newest:
        return {}
    results: dict[str, dict[str, Any]] = {}
    for sid, kind, data_json in session.execute(
        select(ActigraphyResult.series_id, ActigraphyResult.kind, ActigraphyResult.data_json)
        .where(in_ids(ActigraphyResult.series_id, newest.values()),
               ActigraphyResult.kind.in_(("nightly", "circadian")))
    ):  # fmt: skip
        results.setdefault(sid, {})[kind] = json.loads(data_json)
    return {pid: _sleep_features(results.get(sid, {})) for pid, sid in newest.items()}


def _sleep_features(rows: dict[str, Any]) -> dict[str, float]:
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
