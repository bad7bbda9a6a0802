"""One-feature logistic regression, shared by calibration (Platt) and the metrics (calibration
slope and intercept); its own module so neither of those needs the other for it."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically safe logistic function."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def fit_logistic_1d(
    x: np.ndarray, t: np.ndarray, *, ridge: float = 1e-6, start: tuple[float, float] = (1.0, 0.0)
) -> tuple[float, float]:
    """Minimise the log-loss of sigmoid(a * x + b) against targets t in [0, 1].

    Damped Newton with backtracking, so large margins from an over-fitted booster cannot make it
    diverge.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)

    def loss(a: float, b: float) -> float:
        z = a * x + b
        return float(np.mean(np.logaddexp(0, z) - t * z) + 0.5 * ridge * a * a)

    a, b = start
    cur = loss(a, b)
    n = len(x)
    for _ in range(100):
        p = sigmoid(a * x + b)
        w = np.maximum(p * (1 - p), 1e-12)
        g = np.array([np.dot(p - t, x) / n + ridge * a, np.mean(p - t)])
        h = np.array(
            [[np.dot(w, x * x) / n + ridge, np.dot(w, x) / n], [np.dot(w, x) / n, np.mean(w)]]
        )
        try:
            step = np.linalg.solve(h + 1e-12 * np.eye(2), g)
        except np.linalg.LinAlgError:
            step = g
        lr = 1.0
        while lr > 1e-8:
            na, nb = a - lr * step[0], b - lr * step[1]
            new = loss(na, nb)
            if new <= cur:
                break
            lr /= 2
        else:
            break
        done = cur - new < 1e-12
        a, b, cur = na, nb, new
        if done:
            break
    return float(a), float(b)
