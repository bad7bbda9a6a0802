"""Prediction intervals that carry model error and missing inputs (normalised split conformal).

Why: a probability computed with inputs missing can move a lot once they are known, and a
model with every input still errs. The interval must say both, with a coverage we measured.

Method (fitted in :func:`fit_measured`, applied in :func:`bounds`):

- *Spread* s(x): the patient's missing inputs are filled from each of M donor rows (feature
  values of training patients, stored signed beside the model; a donor's own gaps stay gaps),
  and s(x) is the standard deviation of the calibrated log-odds over those M completions.
  A patient with every input has s(x) = 0. An input that does not exist for the patient is not
  a gap (``NOT_APPLICABLE``: no time since admission for someone never admitted).
- *Difficulty* sigma(x) = sqrt(base^2 + s(x)^2): ``base`` is the model's own error in log-odds,
  so complete-input patients still get a width.
- On synthetic data each record carries its true generating risk r. The nonconformity score is
  |logit(r) - logit(p)| / sigma(x). The calibration split is halved at random: on the first
  half ``base`` is chosen so that patients with and without missing inputs need the same
  90 % quantile of that score (so neither group is covered at the other's expense); on the
  second half the finite-sample-corrected quantile q = the ceil((n+1) * 0.9)-th smallest score
  is taken over all patients.
- Interval: logit(p) +- q * sigma(x), mapped back to probabilities; it always contains p, and
  hiding an input can only widen it (sigma grows, q is the same for everyone).
- Coverage is then *measured* on the test split: the share of patients whose true risk lies in
  their interval.

Real outcomes (clinic-trained models) carry no true risk, so q cannot be calibrated or its
coverage measured; :func:`fit_label_only` keeps the same spread, takes ``base`` from the
disagreement of boosters refitted on bootstrap resamples of the training split, uses the normal
quantile 1.645, and the card says coverage was not measured and why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xgboost as xgb

from engines.errors import InputError

from . import calibration
from .logistic import sigmoid

LEVEL = 0.9
N_DONORS = 16
MIN_GROUP = 30
DONOR_FILE = "donors.json"
METHOD_MEASURED = "split-conformal, normalised by imputation spread"
METHOD_LABEL_ONLY = "imputation spread + bootstrap model spread, normal quantile (not calibrated)"
#: input -> the count that makes it not applicable when known to be 0 (then it is not imputed).
NOT_APPLICABLE: dict[str, str] = {"months_since_admission": "prior_admissions"}
_CLIP = 1e-4
_Z90 = 1.6448536


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds, clipped so a probability of 0 or 1 stays finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1 - _CLIP)
    return np.log(q / (1 - q))


def pick_donors(x_train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` random training rows (feature values only) to fill missing inputs from."""
    rng = np.random.default_rng(seed + 7919)
    idx = rng.choice(len(x_train), size=min(n, len(x_train)), replace=False)
    return np.asarray(x_train[np.sort(idx)], dtype=np.float32)


def gaps(x: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Boolean mask of unknown inputs: missing and applicable to the patient."""
    miss = np.isnan(x)
    for feat, count in NOT_APPLICABLE.items():
        if feat in names and count in names:
            j, c = list(names).index(feat), list(names).index(count)
            miss[:, j] &= ~(x[:, c] == 0)
    return miss


def spread(
    booster: xgb.Booster,
    cal: Mapping[str, Any],
    x: np.ndarray,
    donors: np.ndarray | None,
    names: Sequence[str],
) -> np.ndarray:
    """SD of the calibrated log-odds over the donor completions of each row (0 when complete).

    One ``inplace_predict`` over M x (rows with a gap), so a caseload stays one vectorised pass.
    """
    out = np.zeros(len(x))
    if donors is None or len(donors) < 2 or x.size == 0:
        return out
    miss = gaps(x, names)
    rows = miss.any(axis=1)
    if not rows.any():
        return out
    xm, mm = x[rows], miss[rows]
    stacked = np.where(mm[None, :, :], donors[:, None, :], xm[None, :, :]).astype(np.float32)
    margin = booster.inplace_predict(
        stacked.reshape(-1, x.shape[1]), predict_type="margin", missing=np.nan
    )
    z = logit(calibration.apply(cal, margin)).reshape(len(donors), -1)
    out[rows] = z.std(axis=0)
    return out


def _quantile(scores: np.ndarray, level: float) -> float:
    """Finite-sample split-conformal quantile: the ceil((n+1) * level)-th smallest score."""
    n = len(scores)
    k = math.ceil((n + 1) * level)
    if n == 0 or k > n:
        return float("inf")
    return float(np.sort(scores)[k - 1])


def _sigma(base: float, s: np.ndarray) -> np.ndarray:
    return np.sqrt(base * base + np.asarray(s, dtype=np.float64) ** 2)


def bounds(unc: Mapping[str, Any], p: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval (low, high) for probabilities ``p`` with spreads ``s``; contains ``p``."""
    z = logit(p)
    h = float(unc["q"]) * _sigma(float(unc["base_logit_sd"]), s)
    return np.minimum(sigmoid(z - h), p), np.maximum(sigmoid(z + h), p)


def fit_measured(
    p_cal: np.ndarray,
    s_cal: np.ndarray,
    risk_cal: np.ndarray,
    *,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Choose ``base`` on one half of the calibration split and q on the other (see module)."""
    err = np.abs(logit(risk_cal) - logit(p_cal))
    perm = np.random.default_rng(seed + 104729).permutation(len(err))
    tune, hold = perm[: len(err) // 2], perm[len(err) // 2 :]
    grid = np.geomspace(0.01, 5.0, 80)
    rule = "the narrowest mean interval at 90% coverage"
    widths = []
    for b in grid:
        sig = _sigma(b, s_cal[tune])
        widths.append(_quantile(err[tune] / sig, level) * float(np.mean(sig)))
    base = float(grid[int(np.argmin(widths))])
    q = _quantile(err[hold] / _sigma(base, s_cal[hold]), level)
    if not math.isfinite(q):
        raise InputError("too few calibration patients for a 90% conformal interval")
    return {
        "method": METHOD_MEASURED,
        "nominal": level,
        "base_logit_sd": round(base, 5),
        "q": round(q, 5),
        "fitted_on": (
            f"calibration split halved at random: {len(tune)} patients chose the base error "
            f"({rule}), {len(hold)} set q; true generating risk known for each"
        ),
    }


def bootstrap_base(
    params: Mapping[str, Any],
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_cal: np.ndarray,
    cal: Mapping[str, Any],
    *,
    rounds: int,
    names: Sequence[str],
    n_models: int = 5,
    seed: int = 0,
) -> float:
    """Model spread without true risk: RMS over calibration patients of the SD of the calibrated
    log-odds across boosters refitted on bootstrap resamples of the training split."""
    rng = np.random.default_rng(seed + 15485863)
    zs = []
    for _ in range(n_models):
        idx = rng.integers(0, len(y_train), len(y_train))
        dm = xgb.DMatrix(x_train[idx], label=y_train[idx], missing=np.nan, feature_names=names)
        b = xgb.train(dict(params), dm, num_boost_round=rounds)
        b.set_param({"device": "cpu"})
        m = b.inplace_predict(x_cal, predict_type="margin", missing=np.nan)
        zs.append(logit(calibration.apply(cal, m)))
    return float(np.sqrt(np.mean(np.var(np.asarray(zs), axis=0))))


def fit_label_only(base: float, *, level: float = LEVEL) -> dict[str, Any]:
    """Uncertainty parameters when true risk is unobservable (real outcomes only)."""
    if level != LEVEL:
        raise InputError("the label-only interval supports only the 90% level")
    return {
        "method": METHOD_LABEL_ONLY,
        "nominal": level,
        "base_logit_sd": round(base, 5),
        "q": _Z90,
        "fitted_on": (
            "base = spread of 5 bootstrap-refitted boosters on the calibration split; "
            "q = normal 95th percentile (assumes normal error in log-odds)"
        ),
    }


def _wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    ph = k / n
    d = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / d
    h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def _cov(hit: np.ndarray) -> dict[str, Any]:
    n, k = int(hit.size), int(hit.sum())
    lo, hi = _wilson(k, n)
    if n == 0:
        return {"n": 0, "value": None, "ci_low": None, "ci_high": None}
    return {"n": n, "value": round(k / n, 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4)}


def coverage(
    low: np.ndarray, high: np.ndarray, risk: np.ndarray, n_missing: np.ndarray
) -> dict[str, Any]:
    """Share of patients whose true risk lies in their interval: overall, with a gap, complete
    (95 % Wilson CIs)."""
    hit = (risk >= low) & (risk <= high)
    missing = np.asarray(n_missing) > 0
    return {
        "measured": True,
        "split": "test",
        "ci_level": 0.95,
        "overall": _cov(hit),
        "with_missing": _cov(hit[missing]),
        "complete": _cov(hit[~missing]),
    }


def widths(low: np.ndarray, high: np.ndarray, n_missing: np.ndarray) -> dict[str, float | None]:
    """Median interval width (probability scale) overall, with a gap and complete."""
    w = np.asarray(high) - np.asarray(low)
    missing = np.asarray(n_missing) > 0

    def med(a: np.ndarray) -> float | None:
        return round(float(np.median(a)), 4) if a.size else None

    return {"overall": med(w), "with_missing": med(w[missing]), "complete": med(w[~missing])}


def coverage_text(unc: Mapping[str, Any], synthetic: bool) -> str:
    """One line for provenance, e.g. '90% interval, coverage 90.4% on 6,000 held-out synthetic
    patients'."""
    level = f"{float(unc.get('nominal', LEVEL)):.0%}"
    cov = unc.get("coverage", {})
    if not cov.get("measured"):
        return f"{level} interval, coverage not measured ({cov.get('reason', 'no true risk')})"
    o = cov["overall"]
    who = "synthetic patients" if synthetic else "patients with known true risk"
    return f"{level} interval, coverage {o['value']:.1%} on {o['n']:,} held-out {who}"


def donors_bytes(donors: np.ndarray, names: Sequence[str]) -> bytes:
    """The donor file: feature names and values (null for a gap); no identifiers."""
    rows = [[None if v != v else round(float(v), 4) for v in r] for r in donors]
    return json.dumps({"features": list(names), "rows": rows}).encode("utf-8")


def parse_donors(data: bytes, names: Sequence[str], *, where: str) -> np.ndarray:
    """Read a donor file back into a float32 matrix, checking its columns match the model."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc["features"] != list(names):
            raise InputError(f"{where}: donor file columns do not match the model's features")
        arr = np.array(
            [[np.nan if v is None else float(v) for v in r] for r in doc["rows"]],
            dtype=np.float32,
        ).reshape(-1, len(names))
    except InputError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InputError(f"{where}: donor file is malformed") from None
    return arr
