"""Per-day activity statistics aggregated per subject (the Depresjon literature's features).

Garcia-Ceja et al. 2018 describe each day by the mean, standard deviation and proportion of
zero-activity minutes; here each valid day (>= 80 % of its minutes observed) is summarised that
way plus the fraction of active minutes (> 4 counts), and the subject by the mean and SD of each
daily statistic over its days.
"""

from __future__ import annotations

import numpy as np

from engines.pat.daily import daily_summaries
from engines.pat.recording import MINUTES_PER_DAY, ActigraphyRecording

DAILY_FEATURE_NAMES: tuple[str, ...] = tuple(
    f"day_{stat}_{agg}"
    for stat in ("mean", "sd", "zero_frac", "active_frac")
    for agg in ("mean", "sd")
)


def daily_feature_vector(rec: ActigraphyRecording) -> np.ndarray:
    """DAILY_FEATURE_NAMES in order (NaN where fewer than 1 or 2 valid days)."""
    days = [d for d in daily_summaries(rec) if d.valid_minutes >= 0.8 * MINUTES_PER_DAY]
    if not days:
        return np.full(len(DAILY_FEATURE_NAMES), np.nan)
    stats = np.array(
        [
            (
                d.mean_counts,
                d.sd_counts,
                d.zero_minutes / d.valid_minutes,
                d.active_minutes / d.valid_minutes,
            )
            for d in days
        ],
        dtype=np.float64,
    )
    sd = stats.std(axis=0, ddof=1) if len(days) > 1 else np.full(4, np.nan)
    return np.column_stack((stats.mean(axis=0), sd)).reshape(-1)
