"""Model inputs: each patient's feature dict, as every model reads it.

Every input of every model comes from a record a clinician can see and edit in the app (the
catalogue in engines.xgb.features says where, as each input's ``source``); anything the store
does not know stays absent (NaN), never zero. Nothing recorded after ``now`` is read (training
on the clinic's records uses a past ``now``).

A caseload reads its patients' feature rows (app.services.feature_rows: one table, finished for
``now`` with numpy); a patient whose row is stale, missing or not valid at ``now`` is assembled
from the records (app.services.feature_assembly), with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.security import rbac
from app.services import feature_rows, phi_audit
from app.services.context import AppContext
from app.services.feature_assembly import (
    ANTIDEPRESSANT_CLASSES,
    AVERAGE_MONTH_DAYS,
    FAILED_TRIAL,
    MAX_COUNT,
    SEX_FEMALE,
    SLOPE_WINDOW,
    assemble_many,
)
from app.services.note_flags import FLAG_INPUTS
from engines.xgb.features import CATALOGUE_BY_NAME, FeatureSpec, assemble_matrix

__all__ = [
    "ANTIDEPRESSANT_CLASSES",
    "AVERAGE_MONTH_DAYS",
    "FAILED_TRIAL",
    "HISTORY_INPUTS",
    "MAX_COUNT",
    "SEX_FEMALE",
    "SLOPE_WINDOW",
    "InputValue",
    "build_features",
    "build_features_many",
    "feature_matrix_many",
    "history_inputs",
]


def build_features(session: Session, patient_id: str, now: datetime) -> dict[str, Any]:
    """One patient's feature dict; anything the store does not know stays absent (NaN)."""
    return build_features_many(session, [patient_id], now)[0]


def build_features_many(
    session: Session, patient_ids: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """Feature dicts for many patients (in the order given): valid feature rows finished for
    ``now``, the rest assembled from the records in a fixed number of queries. Raises
    NotFoundError if any id is not a patient record."""
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return []
    by_id = feature_rows.features_from_rows(session, ids, now)
    rest = [pid for pid in ids if pid not in by_id]
    if rest:
        by_id.update(zip(rest, assemble_many(session, rest, now), strict=True))
    if len(ids) == len(patient_ids):
        return [by_id[pid] for pid in patient_ids]
    return [dict(by_id[pid]) for pid in patient_ids]


def feature_matrix_many(
    session: Session, patient_ids: Sequence[str], now: datetime, specs: Sequence[FeatureSpec]
) -> np.ndarray:
    """The float32 model matrix (one row per id, in order; NaN = missing) that
    ``assemble_matrix(build_features_many(...), specs)`` gives, straight from the feature rows
    for a caseload (no dict per patient); rows that are not valid at ``now`` are assembled from
    the records. Values are not range-checked here (the scoring does it, as for dicts)."""
    ids = list(dict.fromkeys(patient_ids))
    names = [s.name for s in specs]
    x, served = feature_rows.matrix_from_rows(session, ids, now, names)
    rest = [ids[i] for i in np.flatnonzero(~served).tolist()]
    if rest:
        x[~served] = assemble_matrix(assemble_many(session, rest, now), specs)
    if len(ids) == len(patient_ids):
        return x
    where = {pid: i for i, pid in enumerate(ids)}
    return x[[where[pid] for pid in patient_ids]]


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
