"""Per-recording classical feature vector (the depression screen's input and the twin's input)."""

from __future__ import annotations

import numpy as np

from engines.pat.circadian import recording_circadian
from engines.pat.daily import daily_summaries
from engines.pat.recording import MINUTES_PER_DAY, ActigraphyRecording
from engines.pat.sleep import nightly_sleep

FEATURE_NAMES: tuple[str, ...] = (
    "IS_bin4",
    "IV_bin4",
    "RA_bin4",
    "L5_bin4",
    "M10_bin4",
    "IS_raw",
    "IV_raw",
    "RA_raw",
    "log_L5_raw",
    "log_M10_raw",
    "L5_onset_h",
    "M10_onset_h",
    "mean_counts",
    "sd_daily_mean",
    "zero_fraction",
    "nonwear_fraction",
    "tst_median_min",
    "se_median",
    "waso_median_min",
    "sol_median_min",
    "midpoint_sd_min",
)


def _hours(t: object) -> float:
    if t is None:  # onset undefined (recording shorter than the window)
        return float("nan")
    return t.hour + t.minute / 60.0  # type: ignore[attr-defined]


def classical_features(rec: ActigraphyRecording) -> dict[str, float]:
    """Named classical features of one recording (NaN where a value cannot be computed)."""
    b = recording_circadian(rec, binarized=True)
    r = recording_circadian(rec, binarized=False)
    c = rec.counts
    valid = c[~np.isnan(c)]
    days = [d for d in daily_summaries(rec) if d.valid_minutes >= 0.8 * MINUTES_PER_DAY]
    nights = [n for n in nightly_sleep(rec) if n.sleep_onset is not None]
    mids = np.array(
        [
            ((n.midpoint.hour * 60 + n.midpoint.minute + 720) % 1440)  # noon-based, no wrap at 0h
            for n in nights
            if n.midpoint is not None
        ],
        dtype=np.float64,
    )

    def med(vals: list[float]) -> float:
        return float(np.median(vals)) if vals else float("nan")

    return {
        "IS_bin4": b.IS,
        "IV_bin4": b.IV,
        "RA_bin4": b.RA,
        "L5_bin4": b.L5,
        "M10_bin4": b.M10,
        "IS_raw": r.IS,
        "IV_raw": r.IV,
        "RA_raw": r.RA,
        "log_L5_raw": float(np.log1p(r.L5)),
        "log_M10_raw": float(np.log1p(r.M10)),
        "L5_onset_h": _hours(r.L5_onset),
        "M10_onset_h": _hours(r.M10_onset),
        "mean_counts": float(valid.mean()) if valid.size else float("nan"),
        "sd_daily_mean": float(np.std([d.mean_counts for d in days], ddof=1))
        if len(days) > 1
        else float("nan"),
        "zero_fraction": float((valid == 0).mean()) if valid.size else float("nan"),
        "nonwear_fraction": float(rec.nonwear.mean()) if rec.n_minutes else float("nan"),
        "tst_median_min": med([n.tst_min for n in nights]),
        "se_median": med([n.sleep_efficiency for n in nights]),
        "waso_median_min": med([n.waso_min for n in nights]),
        "sol_median_min": med([n.sol_min for n in nights]),
        "midpoint_sd_min": float(np.std(mids, ddof=1)) if mids.size > 1 else float("nan"),
    }


def feature_vector(rec: ActigraphyRecording) -> np.ndarray:
    """Features in FEATURE_NAMES order as a float array."""
    f = classical_features(rec)
    return np.array([f[k] for k in FEATURE_NAMES], dtype=np.float64)
