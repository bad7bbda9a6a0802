"""Held-out metrics with bootstrap confidence intervals, and reliability-diagram bins."""

from __future__ import annotations

from typing import Any

import numpy as np

from .logistic import fit_logistic_1d

_CLIP = 1e-7


def brier(p: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of probabilities (lower is better)."""
    return float(np.mean((np.asarray(p, dtype=np.float64) - y) ** 2))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood (lower is better)."""
    q = np.clip(np.asarray(p, dtype=np.float64), _CLIP, 1 - _CLIP)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum (Mann-Whitney) identity; ties count half."""
    y = np.asarray(y)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # here, not at import: SciPy costs ~44 MB at sign-in

    r = rankdata(p)
    return float((r[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration_slope_intercept(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic recalibration y ~ a * logit(p) + b; a well calibrated model has a=1, b=0."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return fit_logistic_1d(np.log(q / (1 - q)), np.asarray(y, dtype=np.float64))


def reliability_bins(p: np.ndarray, y: np.ndarray, n_bins: int = 10) -> list[dict[str, float]]:
    """Equal-width bins of predicted probability for the reliability diagram."""
    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "bin_low": round(float(edges[b]), 3),
                    "bin_high": round(float(edges[b + 1]), 3),
                    "mean_predicted": round(float(p[m].mean()), 4),
                    "observed": round(float(y[m].mean()), 4),
                    "n": int(m.sum()),
                }
            )
    return out


def summarize(
    p: np.ndarray, y: np.ndarray, *, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """AUC, Brier, log-loss with bootstrap percentile CIs, plus calibration slope/intercept."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    fns = {"auc": auc, "brier": brier, "log_loss": log_loss}
    boots: dict[str, list[float]] = {k: [] for k in fns}
    n = len(y)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        for k, fn in fns.items():
            boots[k].append(fn(p[idx], y[idx]))
    alpha = (1 - level) / 2
    out: dict[str, Any] = {"n": int(n), "events": int(y.sum()), "ci_level": level, "n_boot": n_boot}
    for k, fn in fns.items():
        arr = np.asarray(boots[k])
        arr = arr[np.isfinite(arr)]
        lo, hi = np.quantile(arr, [alpha, 1 - alpha]) if arr.size else (np.nan, np.nan)
        out[k] = {
            "value": round(fn(p, y), 5),
            "ci_low": round(float(lo), 5),
            "ci_high": round(float(hi), 5),
        }
    slope, intercept = calibration_slope_intercept(p, y)
    out["calibration_slope"] = round(slope, 4)
    out["calibration_intercept"] = round(intercept, 4)
    return out
