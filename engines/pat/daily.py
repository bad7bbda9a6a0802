"""Daily activity summaries (calendar days, local time) for the UI trends and the features."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from engines.pat.recording import MINUTES_PER_DAY, ActigraphyRecording


@dataclass(frozen=True)
class DailySummary:
    """Activity of one calendar day; means are over valid (non-gap) minutes."""

    day: date
    valid_minutes: int
    nonwear_minutes: int
    total_counts: float
    mean_counts: float
    sd_counts: float
    zero_minutes: int
    active_minutes: int  # minutes with counts > active_threshold


def daily_summaries(rec: ActigraphyRecording, active_threshold: float = 4) -> list[DailySummary]:
    """One summary per calendar day touched by the recording (partial days included)."""
    lead = rec.start.hour * 60 + rec.start.minute
    n = rec.n_minutes + lead
    n_days = -(-n // MINUTES_PER_DAY)
    pad_end = n_days * MINUTES_PER_DAY - n
    c = np.concatenate((np.full(lead, np.nan), rec.counts, np.full(pad_end, np.nan)))
    nw = np.concatenate((np.zeros(lead, bool), rec.nonwear, np.zeros(pad_end, bool)))
    c = c.reshape(n_days, MINUTES_PER_DAY)
    nw = nw.reshape(n_days, MINUTES_PER_DAY)
    ok = ~np.isnan(c)
    v = np.where(ok, c, 0.0)
    valid = ok.sum(axis=1)
    total = v.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid > 0, total / np.maximum(valid, 1), np.nan)
        sq = np.where(ok, (c - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.where(valid > 1, np.sqrt(sq / np.maximum(valid - 1, 1)), np.nan)
    zero = (ok & (c == 0)).sum(axis=1)
    active = (ok & (c > active_threshold)).sum(axis=1)
    nwm = nw.sum(axis=1)
    d0 = rec.start.date()
    return [
        DailySummary(
            day=d0 + timedelta(days=i),
            valid_minutes=int(valid[i]),
            nonwear_minutes=int(nwm[i]),
            total_counts=float(total[i]),
            mean_counts=float(mean[i]),
            sd_counts=float(sd[i]),
            zero_minutes=int(zero[i]),
            active_minutes=int(active[i]),
        )
        for i in range(n_days)
    ]


def double_plot(rec: ActigraphyRecording, values: np.ndarray | None = None) -> np.ndarray:
    """Rows of 48 h (day d beside day d+1) aligned to local midnight, for a double-plotted
    actogram; ``values`` (e.g. a sleep mask as float) defaults to the counts. NaN pads."""
    v = np.asarray(rec.counts if values is None else values, dtype=np.float64)
    if v.shape != rec.counts.shape:
        raise ValueError("values must have one entry per minute of the recording")
    lead = rec.start.hour * 60 + rec.start.minute
    n_days = -(-(v.size + lead) // MINUTES_PER_DAY)
    grid = np.full((n_days + 1) * MINUTES_PER_DAY, np.nan)
    grid[lead : lead + v.size] = v
    days = grid.reshape(n_days + 1, MINUTES_PER_DAY)
    return np.concatenate((days[:-1], days[1:]), axis=1)
