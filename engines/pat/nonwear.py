"""Non-wear detection on minute counts.

Rule (Choi L. et al., "Validation of accelerometer wear and nonwear time classification
algorithm", Med Sci Sports Exerc 2011;43(2):357-364): a non-wear period is at least 90
consecutive minutes of zero counts, allowing interruptions of at most 2 minutes of non-zero
counts when the 30 minutes before and after the interruption are zero. Gaps (NaN) end a period.
The thresholds are parameters so a site can use Troiano's 60-minute variant instead.
"""

from __future__ import annotations

import numpy as np

from engines.pat.recording import runs

CHOI_MIN_MINUTES = 90
CHOI_SPIKE_TOLERANCE = 2
CHOI_WINDOW = 30


def detect_nonwear(
    counts: np.ndarray,
    min_minutes: int = CHOI_MIN_MINUTES,
    spike_tolerance: int = CHOI_SPIKE_TOLERANCE,
    window: int = CHOI_WINDOW,
) -> np.ndarray:
    """Boolean mask of non-wear minutes (Choi 2011 rule, vectorised over zero runs)."""
    c = np.asarray(counts, dtype=np.float64)
    mask = np.zeros(c.size, dtype=bool)
    starts, lengths = runs(c == 0)  # NaN != 0, so gaps split runs
    if starts.size == 0:
        return mask
    ends = starts + lengths
    if starts.size > 1 and spike_tolerance > 0:
        inter_start = ends[:-1]
        inter_len = starts[1:] - inter_start
        # an interruption may be bridged only if it has no gap and is flanked by >= window zeros
        nan_cum = np.concatenate(([0], np.cumsum(np.isnan(c))))
        inter_nan = nan_cum[starts[1:]] - nan_cum[inter_start]
        bridge = (
            (inter_len <= spike_tolerance)
            & (inter_nan == 0)
            & (lengths[:-1] >= window)
            & (lengths[1:] >= window)
        )
    else:
        bridge = np.zeros(max(starts.size - 1, 0), dtype=bool)
    group = np.concatenate(([0], np.cumsum(~bridge)))
    n_groups = int(group[-1]) + 1
    g_start = np.full(n_groups, np.iinfo(np.int64).max)
    np.minimum.at(g_start, group, starts)
    g_end = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(g_end, group, ends)
    keep = (g_end - g_start) >= min_minutes
    if not keep.any():
        return mask
    delta = np.zeros(c.size + 1, dtype=np.int64)
    np.add.at(delta, g_start[keep], 1)
    np.add.at(delta, g_end[keep], -1)
    return np.cumsum(delta[:-1]) > 0
