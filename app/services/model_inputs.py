"""Model inputs: one patient's feature dict assembled from the records the app keeps.

Every input of every model comes from a record a clinician can see and edit in the app (the
catalogue in engines.xgb.features says where); anything the store does not know stays absent
(NaN), never zero.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import NotFoundError
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    AssessmentResponse,
    Medication,
    Patient,
)


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
    f["on_maintenance_ad"] = (
        1 if any(m.drug_class in {"SSRI", "SNRI", "NDRI", "NaSSA"} for m in active) else 0
    )
    f["age_years"] = (now.date() - patient.birth_date).days / 365.25
    f.update(_actigraphy_features(session, patient_id))
    return f


def _actigraphy_features(session: Session, patient_id: str) -> dict[str, float]:
    """Sleep and circadian features from the newest analysed recording (absent if none)."""
    series_id = session.scalar(
        select(ActigraphySeries.id)
        .where(ActigraphySeries.patient_id == patient_id)
        .order_by(ActigraphySeries.start.desc())
        .limit(1)
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
    if tst:
        out["sleep_tst_h"] = float(np.mean(tst)) / 60.0
    if se:
        out["sleep_efficiency"] = 100.0 * float(np.mean(se))
    circ = (rows.get("circadian") or {}).get("binarized") or {}
    for key, name in (("IS", "circ_is"), ("IV", "circ_iv"), ("RA", "circ_ra")):
        if circ.get(key) is not None:
            out[name] = float(circ[key])
    if "circ_is" in out:
        # pyActigraphy's IS estimator can exceed 1 slightly for a near-perfect rhythm (its
        # sample-size factors); the models' feature range is the textbook 0-1
        out["circ_is"] = min(out["circ_is"], 1.0)
    return out
