"""Probability calibration (Platt or isotonic) on the model margin.

Both calibrators are monotone maps from XGBoost's raw margin (log-odds) to a probability, so the
risk ordering and the sign of every contribution are unchanged. Prediction intervals are made in
uncertainty.py; :func:`interval` only reads the bootstrap band of the calibration map that cards
made before it carry (it ignored model error and missing inputs), so installed older models
still score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .logistic import fit_logistic_1d, sigmoid
from .metrics import log_loss

_EPS = 1e-6


def fit_platt(margin: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * margin + b) with Platt's smoothed targets."""
    y = np.asarray(y, dtype=np.float64)
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    return fit_logistic_1d(margin, t)


def fit_isotonic(margin: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool-adjacent-violators fit; returns (x knots in margin space, y probabilities)."""
    order = np.argsort(margin, kind="mergesort")
    xs = np.asarray(margin, dtype=np.float64)[order]
    ys = np.asarray(y, dtype=np.float64)[order]
    # merge tied margins first
    ux, start = np.unique(xs, return_index=True)
    counts = np.diff(np.append(start, len(xs))).astype(np.float64)
    sums = np.add.reduceat(ys, start)
    vals: list[float] = []
    wts: list[float] = []
    xl: list[float] = []
    xr: list[float] = []
    for x, s, c in zip(ux, sums, counts):
        vals.append(s / c)
        wts.append(c)
        xl.append(x)
        xr.append(x)
        while len(vals) > 1 and vals[-2] >= vals[-1]:
            v2, w2, r2 = vals.pop(), wts.pop(), xr.pop()
            xl.pop()
            v1, w1 = vals[-1], wts[-1]
            vals[-1] = (v1 * w1 + v2 * w2) / (w1 + w2)
            wts[-1] = w1 + w2
            xr[-1] = r2
    # knots at both ends of each block give a step function, interpolated in between
    kx = np.ravel(np.column_stack([xl, xr]))
    ky = np.repeat(np.clip(vals, _EPS, 1 - _EPS), 2)
    keep = np.append(True, np.diff(kx) > 0) | np.append(np.diff(ky) != 0, True)
    return kx[keep], ky[keep]


def fit(method: str, margin: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fit a calibrator; return its JSON parameters for the model card."""
    if method == "platt":
        a, b = fit_platt(margin, y)
        return {"method": "platt", "a": a, "b": b}
    if method == "isotonic":
        kx, ky = fit_isotonic(margin, y)
        return {"method": "isotonic", "x": kx.tolist(), "y": ky.tolist()}
    if method == "none":
        return {"method": "none"}
    raise ValueError(f"unknown calibration method {method!r}")


def apply(params: Mapping[str, Any], margin: np.ndarray) -> np.ndarray:
    """Calibrated probability for raw margins (vectorised)."""
    method = params["method"]
    if method == "platt":
        return sigmoid(params["a"] * np.asarray(margin, dtype=np.float64) + params["b"])
    if method == "isotonic":
        return np.interp(margin, params["x"], params["y"])
    return sigmoid(margin)


def interval(
    params: Mapping[str, Any], margin: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Legacy band of an older card's calibration map (NaN when it has none); contains p."""
    imap = params.get("interval")
    if not imap:
        return np.full_like(p, np.nan), np.full_like(p, np.nan)
    low = np.interp(margin, imap["grid"], imap["low"])
    high = np.interp(margin, imap["grid"], imap["high"])
    return np.minimum(low, p), np.maximum(high, p)


def choose_method(
    margin: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 0
) -> tuple[str, dict[str, float]]:
    """Pick none / Platt / isotonic by cross-validated log-loss on the calibration split.

    Isotonic regression can overfit small or rare-outcome calibration sets and Platt scaling can
    underfit large ones; measuring beats a fixed rule. Returns the method and the CV scores.
    """
    idx = np.random.default_rng(seed).permutation(len(y))
    parts = np.array_split(idx, folds)
    scores = {}
    for method in ("none", "platt", "isotonic"):
        losses = []
        for k in range(folds):
            test = parts[k]
            train = np.concatenate([parts[j] for j in range(folds) if j != k])
            params = fit(method, margin[train], y[train])
            losses.append(log_loss(apply(params, margin[test]), y[test]) * len(test))
        scores[method] = round(float(np.sum(losses) / len(y)), 6)
    return min(scores, key=scores.__getitem__), scores
