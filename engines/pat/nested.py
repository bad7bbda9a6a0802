"""Nested, repeated subject-level cross-validation for the depression screen.

Everything that is *chosen* (feature set, hyper-parameters, decision threshold) is chosen by
``select`` from the outer-training subjects only, using an inner stratified K-fold CV; the outer
test fold is scored once with what was chosen. The outer loop is repeated with different
stratified splits. One recording per subject in Depresjon, so subject-level folds = row folds.

Threshold policy (screening, sensitivity first): the highest threshold whose inner out-of-fold
sensitivity is >= ``TARGET_SENSITIVITY``. Hyper-parameters are chosen by inner out-of-fold AUC.
CIs: percentile 95 % over bootstrap resamples of subjects; each resample's metric is the mean
over the repeats of that resample's pooled out-of-fold predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import xgboost as xgb

from engines.xgb import metrics

TARGET_SENSITIVITY = 0.80


class Fitted(Protocol):
    """A fitted model that returns probabilities of class 1 for rows of X."""

    def predict(self, X: np.ndarray) -> np.ndarray: ...  # noqa: N803


@dataclass(frozen=True)
class Config:
    """One candidate: a model family, its hyper-parameters and the feature columns it uses."""

    family: str
    params: dict[str, Any]
    feature_set: str

    def label(self) -> str:
        ps = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.family}({ps}) on {self.feature_set}"


# ---------------------------------------------------------------- models (numpy + xgboost)


@dataclass(frozen=True)
class LogisticModel:
    """L2-regularised logistic regression on median-imputed, standardised features."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def _z(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        x = np.where(np.isfinite(X), X, self.median)
        return (x - self.mean) / self.scale

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        m = self._z(X) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(m, -30, 30)))

    def to_json(self) -> dict[str, Any]:
        return {
            "median": self.median.tolist(),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LogisticModel:
        arr = {k: np.asarray(d[k], dtype=np.float64) for k in ("median", "mean", "scale", "coef")}
        sizes = {v.shape for v in arr.values()}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError("logistic model arrays must be 1-D and of equal length")
        return cls(arr["median"], arr["mean"], arr["scale"], arr["coef"], float(d["intercept"]))


def fit_logistic(X: np.ndarray, y: np.ndarray, C: float) -> LogisticModel:  # noqa: N803
    """Newton-Raphson on the L2-penalised log-likelihood (penalty 1/(2C)·|w|², intercept free)."""
    med = np.nanmedian(np.where(np.isfinite(X), X, np.nan), axis=0)
    med = np.where(np.isfinite(med), med, 0.0)
    x = np.where(np.isfinite(X), X, med)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = np.column_stack((np.ones(len(x)), (x - mu) / sd))
    lam = np.full(z.shape[1], 1.0 / C)
    lam[0] = 0.0
    w = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30, 30)))
        g = z.T @ (p - y) + lam * w
        h = (z * (p * (1 - p))[:, None]).T @ z + np.diag(lam) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w = w - step
        if np.max(np.abs(step)) < 1e-10:
            break
    return LogisticModel(med, mu, sd, w[1:].copy(), float(w[0]))


XGB_BASE: dict[str, Any] = {
    "objective": "binary:logistic",
    "eta": 0.1,
    "max_depth": 2,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "lambda": 1.0,
    "nthread": 2,
    "seed": 7,
}


@dataclass(frozen=True)
class XGBModel:
    """XGBoost booster (NaN = missing)."""

    booster: xgb.Booster

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        x = np.where(np.isfinite(X), X, np.nan)
        return np.asarray(self.booster.predict(xgb.DMatrix(x)), dtype=np.float64)


def fit_xgb(X: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> XGBModel:  # noqa: N803
    p = dict(params)
    rounds = int(p.pop("num_boost_round"))
    x = np.where(np.isfinite(X), X, np.nan)
    return XGBModel(xgb.train(XGB_BASE | p, xgb.DMatrix(x, label=y), num_boost_round=rounds))


def fit_config(
    cfg: Config,
    features: dict[str, np.ndarray],
    idx: np.ndarray,
    y: np.ndarray,
) -> Fitted:
    X = features[cfg.feature_set][idx]  # noqa: N806
    if cfg.family == "logistic":
        return fit_logistic(X, y[idx], float(cfg.params["C"]))
    if cfg.family == "xgboost":
        return fit_xgb(X, y[idx], cfg.params)
    raise ValueError(f"unknown model family {cfg.family!r}")


# ---------------------------------------------------------------- metrics


def metrics_from_predictions(y: np.ndarray, p: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """AUC (of ``p``) and F1, MCC, sensitivity, specificity, accuracy (of the 0/1 ``pred``)."""
    tp = float(((pred == 1) & (y == 1)).sum())
    tn = float(((pred == 0) & (y == 0)).sum())
    fp = float(((pred == 1) & (y == 0)).sum())
    fn = float(((pred == 0) & (y == 1)).sum())
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "AUC": metrics.auc(p, y),
        "F1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0,
        "MCC": float((tp * tn - fp * fn) / den) if den else 0.0,
        "sensitivity": tp / (tp + fn) if (tp + fn) else float("nan"),
        "specificity": tn / (tn + fp) if (tn + fp) else float("nan"),
        "accuracy": (tp + tn) / y.size,
    }


def screening_threshold(y: np.ndarray, p: np.ndarray, target: float = TARGET_SENSITIVITY) -> float:
    """Highest threshold t with sensitivity(p >= t) >= target (sensitivity first)."""
    pos = np.sort(p[y == 1])[::-1]
    if pos.size == 0:
        return 0.5
    k = int(np.ceil(target * pos.size))  # at least k positives must score >= t
    return float(pos[max(k, 1) - 1])


# ---------------------------------------------------------------- folds and selection


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """K disjoint test folds covering every row once, each class spread evenly."""
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(int(i))
        offset += idx.size
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


@dataclass(frozen=True)
class Selection:
    """What the inner CV chose: a config and its screening threshold, with inner AUCs."""

    config: Config
    threshold: float
    inner_auc: dict[str, float]


SelectFn = Callable[[np.ndarray, np.random.Generator], Selection]


def make_selector(
    configs: Sequence[Config],
    features: dict[str, np.ndarray],
    y: np.ndarray,
    inner_k: int = 5,
    target: float = TARGET_SENSITIVITY,
) -> SelectFn:
    """A selector that sees only the rows it is given (the outer-training subjects)."""

    def select(train_idx: np.ndarray, rng: np.random.Generator) -> Selection:
        yt = y[train_idx]
        folds = stratified_folds(yt, inner_k, rng)
        scores: dict[str, float] = {}
        oofs: dict[str, np.ndarray] = {}
        for cfg in configs:
            oof = np.empty(train_idx.size)
            for f in folds:
                fit_rows = np.setdiff1d(np.arange(train_idx.size), f)
                model = fit_config(cfg, features, train_idx[fit_rows], y)
                oof[f] = model.predict(features[cfg.feature_set][train_idx[f]])
            scores[cfg.label()] = metrics.auc(oof, yt)
            oofs[cfg.label()] = oof
        best = max(configs, key=lambda c: scores[c.label()])  # first wins ties
        thr = screening_threshold(yt, oofs[best.label()], target)
        return Selection(best, thr, scores)

    return select


@dataclass(frozen=True)
class NestedResult:
    """Per repeat: out-of-fold probabilities and 0/1 decisions; pooled summaries and CIs."""

    probability: np.ndarray  # (repeats, n)
    decision: np.ndarray  # (repeats, n)
    thresholds: list[float]
    chosen: list[str]
    metrics: dict[str, float]  # mean over repeats
    ci95: dict[str, tuple[float, float]]
    per_repeat: list[dict[str, float]]


def nested_cv(
    y: np.ndarray,
    select: SelectFn,
    fit: Callable[[Config, np.ndarray], Fitted],
    predict_rows: Callable[[Fitted, Config, np.ndarray], np.ndarray],
    repeats: int = 5,
    outer_k: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> NestedResult:
    """Repeated outer stratified K-fold; ``select`` gets only outer-training indices."""
    rng = np.random.default_rng(seed)
    n = y.size
    prob = np.empty((repeats, n))
    dec = np.empty((repeats, n), dtype=np.int64)
    thresholds: list[float] = []
    chosen: list[str] = []
    for r in range(repeats):
        for test in stratified_folds(y, outer_k, rng):
            train = np.setdiff1d(np.arange(n), test)
            sel = select(train, rng)
            model = fit(sel.config, train)
            p = predict_rows(model, sel.config, test)
            prob[r, test] = p
            dec[r, test] = (p >= sel.threshold).astype(np.int64)
            thresholds.append(sel.threshold)
            chosen.append(sel.config.label())
    per = [metrics_from_predictions(y, prob[r], dec[r]) for r in range(repeats)]
    mean = {k: float(np.nanmean([m[k] for m in per])) for k in per[0]}
    boot = np.random.default_rng(seed + 1)
    draws: dict[str, list[float]] = {k: [] for k in mean}
    for _ in range(n_boot):
        idx = boot.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        ms = [metrics_from_predictions(y[idx], prob[r, idx], dec[r, idx]) for r in range(repeats)]
        for k in draws:
            draws[k].append(float(np.nanmean([m[k] for m in ms])))
    ci = {
        k: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
        for k, v in draws.items()
    }
    return NestedResult(prob, dec, thresholds, chosen, mean, ci, per)
