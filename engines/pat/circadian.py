"""Non-parametric circadian rhythm metrics: IS, IV, RA, L5, M10 (with onsets).

Definitions follow Witting et al. (Biol Psychiatry 1990) and Van Someren et al. (Chronobiol Int
1999), computed exactly as pyActigraphy 1.2.2 does (Hammad et al., PLoS Comput Biol 2021), so
the values agree with it to floating-point precision:

- optional binarisation: ``1 if count > threshold else 0`` (gaps stay NaN);
- IS and IV use the series resampled to bins of ``freq_minutes`` anchored at the first minute,
  by *sum* (a bin made only of gaps sums to 0, as pandas does; the last bin may be partial);
  each bin's time-of-day slot is the clock time of its first minute; variances are sample
  variances (ddof = 1);
  IS = var(mean profile over time of day) / var(series); IV = mean(diff^2) / var(series);
- L5 / M10 use the minute data: the mean daily profile (mean per clock minute over all days,
  gaps skipped) is wrapped around midnight and the 5 h / 10 h window with the lowest / highest
  mean is found; the onset is the clock time at which that window starts;
- RA = (M10 - L5) / (M10 + L5).

A metric that is undefined for the data is NaN (its onset None) with a reason in
``undefined``, never an exception: IS / IV of a constant series (zero variance — all zeros, or
every minute above the threshold), IS / IV with fewer than two bins, L5 / M10 when no window
of the daily profile is fully covered (a recording shorter than the window), RA when there is
no activity at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np

from engines.pat.recording import MINUTES_PER_DAY, ActigraphyRecording


@dataclass(frozen=True)
class CircadianMetrics:
    """Non-parametric metrics of one recording or window (``binarized`` says which variant)."""

    IS: float  # noqa: N815 - standard abbreviations
    IV: float  # noqa: N815
    RA: float  # noqa: N815
    L5: float  # noqa: N815
    M10: float  # noqa: N815
    L5_onset: time | None  # noqa: N815
    M10_onset: time | None  # noqa: N815
    binarized: bool
    threshold: float
    undefined: tuple[str, ...] = ()  # "<metric>: <why>" for each metric left NaN / None


def binarize(counts: np.ndarray, threshold: float = 4) -> np.ndarray:
    """1 where count > threshold, 0 otherwise, NaN kept for gaps."""
    c = np.asarray(counts, dtype=np.float64)
    out = (c > threshold).astype(np.float64)
    out[np.isnan(c)] = np.nan
    return out


def resample_sum(counts: np.ndarray, freq_minutes: int) -> np.ndarray:
    """Sum minute data into bins starting at the first minute (gaps count as 0).

    This is what pyActigraphy's ``resample(freq, origin='start').sum()`` does: bins are anchored
    at the recording start, not at clock hours, and the last bin may be partial.
    """
    c = np.nan_to_num(np.asarray(counts, dtype=np.float64), nan=0.0)
    n_bins = -(-c.size // freq_minutes)
    padded = np.concatenate((c, np.zeros(n_bins * freq_minutes - c.size)))
    return padded.reshape(n_bins, freq_minutes).sum(axis=1)


def bin_slots(n_bins: int, start_minute_of_day: int, freq_minutes: int) -> np.ndarray:
    """Time-of-day slot of each bin, from the clock time of the bin's first minute."""
    label = (start_minute_of_day + freq_minutes * np.arange(n_bins)) % MINUTES_PER_DAY
    return label // freq_minutes


def _profile(values: np.ndarray, slot: np.ndarray, n_slots: int) -> np.ndarray:
    """Mean of ``values`` per time-of-day slot, skipping NaN (NaN where a slot has no data)."""
    ok = ~np.isnan(values)
    sums = np.bincount(slot[ok], weights=values[ok], minlength=n_slots)
    cnt = np.bincount(slot[ok], minlength=n_slots)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)


def _nanvar(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(np.var(x, ddof=1)) if x.size > 1 else float("nan")


def _ratio(num: float, den: float) -> float:
    """num / den, NaN when the denominator is zero or undefined (a constant series)."""
    if not np.isfinite(den) or den <= 0 or not np.isfinite(num):
        return float("nan")
    return float(num / den)


def interdaily_stability(hourly: np.ndarray, slot: np.ndarray, bins_per_day: int) -> float:
    """IS of a binned series: variance of the mean daily profile over total variance."""
    return _ratio(_nanvar(_profile(hourly, slot, bins_per_day)), _nanvar(hourly))


def intradaily_variability(binned: np.ndarray) -> float:
    """IV of a binned series: mean squared successive difference over total variance."""
    d = np.diff(binned)
    d = d[~np.isnan(d)]
    return _ratio(float(np.mean(d * d)), _nanvar(binned)) if d.size else float("nan")


def lmx(
    counts: np.ndarray, start_minute_of_day: int, window_minutes: int, lowest: bool
) -> tuple[int | None, float]:
    """Onset (minute of day) and mean of the least/most active window of the daily profile;
    (None, NaN) when no window is fully covered by data."""
    c = np.asarray(counts, dtype=np.float64)
    slot = (np.arange(c.size) + start_minute_of_day) % MINUTES_PER_DAY
    prof = _profile(c, slot, MINUTES_PER_DAY)
    cyc = np.concatenate((prof, prof))
    csum = np.concatenate(([0.0], np.cumsum(cyc)))
    sums = csum[window_minutes:] - csum[:-window_minutes]  # window starting at each minute
    if np.all(np.isnan(sums)):
        return None, float("nan")
    i = int(np.nanargmin(sums) if lowest else np.nanargmax(sums))
    return i % MINUTES_PER_DAY, float(sums[i] / window_minutes)


def _clock(minute: int | None) -> time | None:
    return None if minute is None else time(hour=minute // 60, minute=minute % 60)


def _reasons(
    binned: np.ndarray, values: dict[str, float], binarized: bool, threshold: float
) -> tuple[str, ...]:
    """Why each NaN metric is undefined (no PHI: only the kind of data, never a value)."""
    valid = binned[~np.isnan(binned)]
    out = []
    for name in ("IS", "IV"):
        if np.isnan(values[name]):
            if valid.size < 2:
                out.append(f"{name}: fewer than two bins of data")
            elif np.ptp(valid) == 0:
                what = f"every minute above {threshold:g} or none" if binarized else "constant"
                out.append(f"{name}: activity is constant ({what}), variance is zero")
            else:
                out.append(f"{name}: undefined for this recording")
    for name, hours in (("L5", 5), ("M10", 10)):
        if np.isnan(values[name]):
            out.append(f"{name}: no {hours} h window of the day is covered by data")
    if np.isnan(values["RA"]) and not (np.isnan(values["L5"]) or np.isnan(values["M10"])):
        out.append("RA: no activity at all (M10 + L5 = 0)")
    return tuple(out)


def circadian_metrics(
    counts: np.ndarray,
    start_minute_of_day: int,
    binarized: bool = True,
    threshold: float = 4,
    freq_minutes: int = 60,
) -> CircadianMetrics:
    """IS, IV (at ``freq_minutes``), RA, L5, M10 and onsets of a minute series."""
    data = binarize(counts, threshold) if binarized else np.asarray(counts, dtype=np.float64)
    binned = resample_sum(data, freq_minutes)
    bins_per_day = MINUTES_PER_DAY // freq_minutes
    slots = bin_slots(binned.size, start_minute_of_day, freq_minutes)
    is_ = interdaily_stability(binned, slots, bins_per_day)
    iv = intradaily_variability(binned)
    l5_on, l5 = lmx(data, start_minute_of_day, 300, lowest=True)
    m10_on, m10 = lmx(data, start_minute_of_day, 600, lowest=False)
    ra = (m10 - l5) / (m10 + l5) if (m10 + l5) > 0 else float("nan")
    why = _reasons(
        binned, {"IS": is_, "IV": iv, "RA": ra, "L5": l5, "M10": m10}, binarized, threshold
    )
    return CircadianMetrics(
        IS=is_,
        IV=iv,
        RA=ra,
        L5=l5,
        M10=m10,
        L5_onset=_clock(l5_on),
        M10_onset=_clock(m10_on),
        binarized=binarized,
        threshold=threshold,
        undefined=why,
    )


def recording_circadian(
    rec: ActigraphyRecording,
    binarized: bool = True,
    threshold: float = 4,
    exclude_nonwear: bool = False,
) -> CircadianMetrics:
    """Circadian metrics of a whole recording (non-wear kept by default, as pyActigraphy)."""
    counts = rec.masked_counts(exclude_nonwear) if exclude_nonwear else rec.counts
    mod = rec.start.hour * 60 + rec.start.minute
    return circadian_metrics(counts, mod, binarized=binarized, threshold=threshold)


@dataclass(frozen=True)
class WindowMetrics:
    """Circadian metrics of one rolling window (its first day index and length in days)."""

    first_day: int
    days: int
    metrics: CircadianMetrics


def rolling_circadian(
    rec: ActigraphyRecording,
    window_days: int = 7,
    step_days: int = 1,
    binarized: bool = True,
    threshold: float = 4,
    exclude_nonwear: bool = False,
) -> list[WindowMetrics]:
    """Circadian metrics over rolling windows of whole days (for trends in the UI)."""
    out: list[WindowMetrics] = []
    total_days = rec.n_minutes // MINUTES_PER_DAY
    for d in range(0, max(total_days - window_days + 1, 0), step_days):
        w = rec.slice(d * MINUTES_PER_DAY, window_days * MINUTES_PER_DAY)
        out.append(
            WindowMetrics(
                d,
                window_days,
                recording_circadian(
                    w, binarized=binarized, threshold=threshold, exclude_nonwear=exclude_nonwear
                ),
            )
        )
    return out
