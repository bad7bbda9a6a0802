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
- On synthetic data each record carries its true generating risk r; the error is
  e = |logit(r) - logit(p)|. The q are Mondrian (group-conditional) split-conformal quantiles,
  one per group, so that each group is covered on its own rather than the average hiding a
  gap: *complete* patients (every input known; s = 0, so their half-width is the
  finite-sample-corrected 90 % quantile of e over every complete calibration patient, the
  ceil((n+1) * 0.9)-th smallest, and q_complete = that / base) and *with missing* patients
  (score e / sigma(x), set to 0 when e is already within the complete half-width, see below),
  and within these by number of missing inputs (1, 2, 3+). The calibration split is halved at
  random: on the first half ``base`` is the value giving the narrowest mean interval for
  patients with a gap; on the second the with-missing and per-count q are taken (and a pooled q
  over everyone, kept as ``q`` for older readers and as the fallback). A group with fewer than
  ``MIN_MONDRIAN`` calibration patients uses the q of the group above it, and the card says so.
- Interval: logit(p) +- h(x), mapped back to probabilities, with h = q_complete * base for a
  complete patient and max(q_group * sigma(x), q_complete * base) with a gap: it always
  contains p, and hiding inputs of a complete patient can only widen it.
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
#: smallest calibration group given its own q (Mondrian); smaller groups use the pooled q.
MIN_MONDRIAN = 500
DONOR_FILE = "donors.json"
METHOD_MEASURED = "split-conformal, normalised by imputation spread, q per group (Mondrian)"
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
    # float32 throughout (the donors cast first: the same values the cast of the result gave)
    fill = donors.astype(np.float32, copy=False)
    stacked = np.where(mm[None, :, :], fill[:, None, :], xm[None, :, :]).astype(
        np.float32, copy=False
    )
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


def _group_q(unc: Mapping[str, Any], group: str) -> float:
    """q of one Mondrian group (the pooled q when the card has none for it)."""
    g = (unc.get("mondrian") or {}).get("groups", {}).get(group) or {}
    return float(g.get("q", unc["q"]))


def half_width(unc: Mapping[str, Any], s: np.ndarray, n_missing: np.ndarray) -> np.ndarray:
    """Half-width in log-odds. With per-group q (Mondrian), complete patients get
    q_complete * base and patients with a gap max(q_missing * sigma(x), q_complete * base), so a
    gap never makes an interval narrower than the same prediction with every input known."""
    base = float(unc["base_logit_sd"])
    sig = _sigma(base, s)
    if not unc.get("mondrian"):
        return float(unc["q"]) * sig
    floor = _group_q(unc, "complete") * base
    n_missing = np.asarray(n_missing)
    q = np.full(len(sig), _group_q(unc, "with_missing"))
    by_count = (unc.get("mondrian") or {}).get("by_missing_count") or {}
    for label, sel in _count_groups(n_missing).items():
        if label != "0" and label in by_count:
            q[sel] = float(by_count[label]["q"])
    return np.where(n_missing > 0, np.maximum(q * sig, floor), floor)


def bounds(
    unc: Mapping[str, Any], p: np.ndarray, s: np.ndarray, n_missing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interval (low, high) for probabilities ``p`` with spreads ``s`` and ``n_missing`` gaps
    per patient (see :func:`gaps`); it contains ``p``."""
    z = logit(p)
    h = half_width(unc, s, n_missing)
    return np.minimum(sigmoid(z - h), p), np.maximum(sigmoid(z + h), p)


def _floored(err: np.ndarray, sig: np.ndarray, floor: float) -> np.ndarray:
    """Scores of the with-missing group under the floor: covered by the floor alone -> 0."""
    return np.where(err <= floor, 0.0, err / sig)


def _choose_base(err: np.ndarray, s: np.ndarray, floor: float | None, level: float) -> float:
    """The base error giving the narrowest mean interval at ``level`` coverage on these patients."""
    grid = np.geomspace(0.01, 5.0, 80)
    widths = []
    for b in grid:
        sig = _sigma(b, s)
        if floor is None:
            widths.append(_quantile(err / sig, level) * float(np.mean(sig)))
        else:
            q = _quantile(_floored(err, sig, floor), level)
            widths.append(float(np.mean(np.maximum(q * sig, floor))))
    return float(grid[int(np.argmin(widths))])


def _source(n: int, what: str) -> str:
    if n >= MIN_MONDRIAN:
        return f"own group: {n} calibration patients ({what})"
    return (
        f"pooled q: only {n} calibration patients in this group, fewer than {MIN_MONDRIAN}, "
        "so its own quantile would be too noisy"
    )


def fit_measured(
    p_cal: np.ndarray,
    s_cal: np.ndarray,
    risk_cal: np.ndarray,
    n_missing_cal: np.ndarray,
    *,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Mondrian split conformal: q per group (complete / with a gap); see the module."""
    err = np.abs(logit(risk_cal) - logit(p_cal))
    gap = np.asarray(n_missing_cal) > 0
    perm = np.random.default_rng(seed + 104729).permutation(len(err))
    tune, hold = perm[: len(err) // 2], perm[len(err) // 2 :]
    n_complete = int((~gap).sum())
    # complete patients: s = 0, so the half-width is their own error quantile whatever base is
    h_c = _quantile(err[~gap], level) if n_complete >= MIN_MONDRIAN else None
    t_m = tune[gap[tune]]
    if len(t_m) >= MIN_GROUP:
        base = _choose_base(err[t_m], s_cal[t_m], h_c, level)
    else:
        base = _choose_base(err[tune], s_cal[tune], None, level)
    q_pooled = _quantile(err[hold] / _sigma(base, s_cal[hold]), level)
    if not math.isfinite(q_pooled) or (h_c is not None and not math.isfinite(h_c)):
        raise InputError("too few calibration patients for a 90% conformal interval")
    q_c = h_c / base if h_c is not None else q_pooled
    floor = q_c * base
    h_m = hold[gap[hold]]
    q_m = q_pooled
    if len(h_m) >= MIN_MONDRIAN:
        q_m = _quantile(_floored(err[h_m], _sigma(base, s_cal[h_m]), floor), level)
    by_count = {}
    n_hold = np.asarray(n_missing_cal)[hold]
    for label, sel in _count_groups(n_hold).items():
        if label == "0":
            continue
        idx = hold[sel]
        q_k = q_m
        if len(idx) >= MIN_MONDRIAN:
            q_k = _quantile(_floored(err[idx], _sigma(base, s_cal[idx]), floor), level)
        own = len(idx) >= MIN_MONDRIAN
        by_count[label] = {
            "q": round(q_k, 5),
            "n_calibration": len(idx),
            "fitted": (
                f"own group: {len(idx)} calibration patients" if own else
                f"with-missing q: only {len(idx)} calibration patients, fewer than {MIN_MONDRIAN}"
            ),
        }  # fmt: skip
    return {
        "method": METHOD_MEASURED,
        "nominal": level,
        "base_logit_sd": round(base, 5),
        "q": round(q_pooled, 5),
        "mondrian": {
            "rule": (
                "q fitted separately for patients with every input and patients with at least "
                "one missing input, and within the latter by number of missing inputs (1, 2, "
                f"3+); a group with fewer than {MIN_MONDRIAN} calibration patients uses the q of "
                "the group above it (with-missing, then pooled); a patient with a gap never "
                "gets a narrower interval than q_complete * base"
            ),
            "min_group": MIN_MONDRIAN,
            "groups": {
                "complete": {
                    "q": round(q_c, 5),
                    "n_calibration": n_complete,
                    "fitted": _source(n_complete, "whole calibration split"),
                },
                "with_missing": {
                    "q": round(q_m, 5),
                    "n_calibration": len(h_m),
                    "fitted": _source(len(h_m), "second half of the calibration split"),
                },
            },
            "by_missing_count": by_count,
        },
        "fitted_on": (
            f"calibration split halved at random: {len(tune)} patients chose the base error "
            "(the narrowest mean interval at 90% coverage for patients with a missing input), "
            f"{len(hold)} set the pooled q and the with-missing q; the complete-input q comes "
            "from every complete calibration patient (their width does not depend on the base); "
            "true generating risk known for each"
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
        "by_missing_count": {
            label: _cov(hit[sel])
            for label, sel in _count_groups(np.asarray(n_missing)).items()
            if sel.any()
        },
    }


def _count_groups(n_missing: np.ndarray) -> dict[str, np.ndarray]:
    """Patients by number of missing inputs: '0', '1', '2', '3+' (finer than the q groups)."""
    return {
        "0": n_missing == 0,
        "1": n_missing == 1,
        "2": n_missing == 2,
        "3+": n_missing >= 3,
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
