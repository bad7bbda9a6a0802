"""Scoring: calibrated probabilities with intervals and bands, explanations, and events.

Caseload scoring is one vectorised pass (assemble -> inplace_predict margin -> calibration map ->
interval -> band). The interval (uncertainty.py) adds one more inplace_predict over the donor
completions of the rows with a missing input; cards from before it fall back to the old
calibration-map band. A model below the Brier skill gate (skill.py) still scores, but every
result carries ``withheld``: the reason it must not be shown as a risk score.

Explanations use XGBoost's exact TreeSHAP (``pred_contribs=True``): per
feature contributions in log-odds of the *uncalibrated* model, which with the bias term sum to the
raw margin. Calibration is a monotone map of that margin, so signs and ranking carry over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from engines.errors import InputError

from . import calibration, uncertainty
from .bands import BANDS, SUICIDE_RISK_NOTICE, SYNTHETIC_LABEL, risk_band_codes
from .features import _check_ranges as check_ranges
from .features import assemble_matrix, check_policy
from .registry import SCORING_THREADS, LoadedModel
from .skill import withheld_reason

Rows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Contribution:
    """One feature's push on the log-odds for one patient."""

    feature: str
    label: str
    unit: str
    value: float | None  # the patient's value; None when missing
    contribution: float  # log-odds (positive raises risk / response probability)


@dataclass(frozen=True)
class Prediction:
    """One patient's result with everything the panel, the store and the event need."""

    patient_id: str
    target: str
    title: str
    probability: float
    interval_low: float
    interval_high: float
    interval_method: str
    band: str
    margin: float
    bias: float
    contributions: tuple[Contribution, ...]  # sorted by absolute size, largest first
    model_version: str
    model_sha256: str
    synthetic: bool
    provenance: Mapping[str, Any]
    notice: str
    withheld: str | None = None  # why this is not to be shown as a risk score; None = show it

    def top(self, k: int = 5) -> tuple[Contribution, ...]:
        """Largest contributions for the explanation bar chart."""
        return self.contributions[:k]


@dataclass(frozen=True, eq=False)
class CaseloadScores:
    """Arrays for a batch; row i belongs to ``patient_ids[i]``."""

    patient_ids: tuple[str, ...]
    probability: np.ndarray
    interval_low: np.ndarray
    interval_high: np.ndarray
    band_code: np.ndarray
    margin: np.ndarray
    model_version: str
    synthetic: bool
    withheld: str | None = None  # why these are not to be shown as risk scores; None = show them

    def band(self, i: int) -> str:
        """Band name of row i."""
        return BANDS[int(self.band_code[i])]

    def order_by_risk(self) -> np.ndarray:
        """Row indices, highest probability first (the caseload view's sort)."""
        return np.argsort(-self.probability, kind="stable")


def _ids(rows: Rows, n: int) -> tuple[str, ...]:
    if isinstance(rows, Mapping):
        ids = rows.get("patient_id")
        return (
            tuple(str(i) for i in ids) if ids is not None else tuple(f"row {i}" for i in range(n))
        )
    return tuple(str(r.get("patient_id", f"row {i}")) for i, r in enumerate(rows))


def score_matrix(model: LoadedModel, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """(margin, probability, low, high, band_code) for an assembled matrix."""
    margin = model.booster.inplace_predict(x, predict_type="margin", missing=np.nan)
    cal = model.card.calibration
    p = calibration.apply(cal, margin)
    unc = model.card.uncertainty
    if unc is not None and model.donors is not None:
        names = [f.name for f in model.card.features]
        s = uncertainty.spread(model.booster, cal, x, model.donors, names)
        n_missing = uncertainty.gaps(x, names).sum(axis=1)
        low, high = uncertainty.bounds(unc, p, s, n_missing)
    else:
        low, high = calibration.interval(cal, margin, p)
    return margin, p, low, high, risk_band_codes(p)


def score_caseload(
    model: LoadedModel, rows: Rows, *, allowed_demographics: frozenset[str] | None = None
) -> CaseloadScores:
    """Score every visible patient in one batch (no explanations: that is per patient)."""
    x = assemble_matrix(rows, model.card.features, allowed_demographics=allowed_demographics)
    margin, p, low, high, codes = score_matrix(model, x)
    return CaseloadScores(
        _ids(rows, len(x)),
        p,
        low,
        high,
        codes,
        margin,
        model.card.model_version,
        model.card.synthetic,
        withheld_reason(model.card.raw),
    )


def score_caseload_matrix(
    model: LoadedModel,
    x: np.ndarray,
    patient_ids: Sequence[str],
    *,
    allowed_demographics: frozenset[str] | None = None,
) -> CaseloadScores:
    """``score_caseload`` for a matrix the caller assembled in the card's feature order (a
    caseload read straight from stored feature rows): the same policy and range checks."""
    specs = model.card.features
    if x.shape != (len(patient_ids), len(specs)):
        raise InputError(
            f"caseload matrix is {x.shape}, expected ({len(patient_ids)}, {len(specs)})"
        )
    if allowed_demographics is not None:
        check_policy(specs, allowed_demographics)
    check_ranges(x, specs, lambda i: patient_ids[i])
    margin, p, low, high, codes = score_matrix(model, x)
    return CaseloadScores(
        tuple(patient_ids),
        p,
        low,
        high,
        codes,
        margin,
        model.card.model_version,
        model.card.synthetic,
        withheld_reason(model.card.raw),
    )


def contributions(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    """TreeSHAP matrix (n, n_features + 1); the last column is the bias; rows sum to the margin."""
    names = [f.name for f in model.card.features]
    dm = xgb.DMatrix(x, missing=np.nan, feature_names=names, nthread=SCORING_THREADS)
    return model.booster.predict(dm, pred_contribs=True)


def explain(
    model: LoadedModel, rows: Rows, *, allowed_demographics: frozenset[str] | None = None
) -> list[Prediction]:
    """Full predictions with per-feature contributions for the prediction panel."""
    card = model.card
    specs = card.features
    x = assemble_matrix(rows, specs, allowed_demographics=allowed_demographics)
    margin, p, low, high, codes = score_matrix(model, x)
    contrib = contributions(model, x)
    ids = _ids(rows, len(x))
    notice = SUICIDE_RISK_NOTICE + (f" Model {SYNTHETIC_LABEL}." if card.synthetic else "")
    prov = card.provenance()
    method = card.interval_method
    withheld = withheld_reason(card.raw)
    out = []
    for i in range(len(x)):
        order = np.argsort(-np.abs(contrib[i, :-1]), kind="stable")
        cs = tuple(
            Contribution(
                specs[j].name,
                specs[j].label,
                specs[j].unit,
                None if np.isnan(x[i, j]) else float(x[i, j]),
                float(contrib[i, j]),
            )
            for j in order
        )
        out.append(
            Prediction(
                patient_id=ids[i],
                target=card.target,
                title=str(card.raw.get("title", card.target)),
                probability=float(p[i]),
                interval_low=float(low[i]),
                interval_high=float(high[i]),
                interval_method=method,
                band=BANDS[int(codes[i])],
                margin=float(margin[i]),
                bias=float(contrib[i, -1]),
                contributions=cs,
                model_version=card.model_version,
                model_sha256=card.model_sha256,
                synthetic=card.synthetic,
                provenance=prov,
                notice=notice,
                withheld=withheld,
            )
        )
    return out
