"""Vectorised Kalman filter, RTS smoother and observation weights for mean-reverting levels.

Each series is a scalar state on a daily grid: ``x[t+1] = mu + phi (x[t] - mu) + w``,
``w ~ N(0, q)``, starting from the stationary prior N(mu, var0). Observations arrive as daily
information sums (``prec = sum 1/r``, ``zprec = sum z/r``), which is exact for several
independent readings of the same state on one day. All series (dimensions x patients) are run
together: the loop is over days, the arithmetic over series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


@dataclass(frozen=True)
class SmootherResult:
    """Filtered, one-step-predicted and smoothed moments, all shaped (series, days)."""

    m_pred: Array
    p_pred: Array
    m_filt: Array
    p_filt: Array
    m_smooth: Array
    p_smooth: Array


def smooth(
    mu: Array, var0: Array, phi: Array, q: Array, prec: Array, zprec: Array
) -> SmootherResult:
    """Run the filter forward and the Rauch-Tung-Striebel smoother backward over all series."""
    s, t_len = prec.shape
    # work day-major so each step touches contiguous rows; precompute the constant terms
    prec_t = np.ascontiguousarray(prec.T)
    zprec_t = np.ascontiguousarray(zprec.T)
    m_pred = np.empty((t_len, s))
    p_pred = np.empty((t_len, s))
    m_filt = np.empty((t_len, s))
    p_filt = np.empty((t_len, s))
    drift = mu * (1.0 - phi)
    phi2 = phi * phi
    m, p = mu.astype(float).copy(), var0.astype(float).copy()
    for t in range(t_len):
        if t:
            m = drift + phi * m
            p = phi2 * p + q
        m_pred[t] = m
        p_pred[t] = p
        info = 1.0 / p
        p = 1.0 / (info + prec_t[t])
        m = p * (m * info + zprec_t[t])
        m_filt[t] = m
        p_filt[t] = p
    gain = p_filt[:-1] * phi / p_pred[1:]
    gain2 = gain * gain
    m_s = np.empty((t_len, s))
    p_s = np.empty((t_len, s))
    m_s[-1] = m_filt[-1]
    p_s[-1] = p_filt[-1]
    for t in range(t_len - 2, -1, -1):
        m_s[t] = m_filt[t] + gain[t] * (m_s[t + 1] - m_pred[t + 1])
        p_s[t] = p_filt[t] + gain2[t] * (p_s[t + 1] - p_pred[t + 1])
    m_pred, p_pred, m_filt, p_filt, m_s, p_s = (
        a.T for a in (m_pred, p_pred, m_filt, p_filt, m_s, p_s)
    )
    return SmootherResult(m_pred, p_pred, m_filt, p_filt, m_s, p_s)


def observation_weights(
    phi: float, p_pred: Array, p_filt: Array, obs_day: NDArray[np.int64], obs_var: Array
) -> Array:
    """Weights of the prior mean and of every observation in each day's smoothed mean.

    Returns W shaped (days, 1 + n_obs): column 0 is the population prior mean mu, column 1 + i
    observation i (as its dimension reading z_i). The smoothed mean on day t is exactly
    ``W[t, 0] * mu + W[t, 1:] @ z`` and every row sums to 1. The gains do not depend on the data,
    so the weights follow by running the filter and smoother recursions on coefficient vectors.
    """
    t_len = p_pred.shape[0]
    n = obs_day.shape[0]
    a_pred = np.zeros((t_len, n + 1))
    a_filt = np.zeros((t_len, n + 1))
    e0 = np.zeros(n + 1)
    e0[0] = 1.0
    a = e0.copy()
    cols = np.arange(1, n + 1)
    order = np.argsort(obs_day, kind="stable")
    starts = np.searchsorted(obs_day[order], np.arange(t_len + 1))
    for t in range(t_len):
        if t:
            a = phi * a + (1.0 - phi) * e0
        a_pred[t] = a
        lo, hi = starts[t], starts[t + 1]
        if hi > lo:
            idx = order[lo:hi]
            gain = p_filt[t] / obs_var[idx]
            a = (1.0 - gain.sum()) * a
            a[cols[idx]] += gain
        a_filt[t] = a
    w = np.empty_like(a_filt)
    w[-1] = a_filt[-1]
    for t in range(t_len - 2, -1, -1):
        g = p_filt[t] * phi / p_pred[t + 1]
        w[t] = a_filt[t] + g * (w[t + 1] - a_pred[t + 1])
    return w


def extrapolate(
    mean: float, var: float, mu: float, phi: float, prior_var: float, days: int
) -> tuple[float, float]:
    """Moments ``days`` away from a known estimate (forward prediction; the stationary AR(1)
    is time-reversible, so the same formula serves dates before the grid)."""
    f = phi ** abs(days)
    return mu + f * (mean - mu), f * f * var + prior_var * (1.0 - f * f)
