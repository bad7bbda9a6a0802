"""Sleep/wake scoring (Cole-Kripke 1992, Sadeh 1994) and per-night sleep metrics.

Scores are int8 per minute: 1 sleep, 0 wake, -1 unknown (gap). Both scorers treat samples
outside the recording as zero counts (ActiLife convention) and never invent scores for gaps.

Per-night metrics need a rest interval (a proxy for time in bed, since the devices have no
event marker). It is determined per noon-to-noon window as follows (documented in docs/pat.md):

1. a minute is "at rest" when the centred 31-minute moving mean of counts is below
   ``rest_fraction`` x the recording's mean count (gaps skipped);
2. wake-like interruptions of at most ``max_interruption`` minutes inside rest are bridged;
3. the longest resulting rest run in the window, if at least ``min_rest`` minutes, is the rest
   interval of that night.

Inside it: sleep onset is the first minute of the first run of >= ``onset_run`` sleep minutes,
final wake is the minute after the last sleep minute; TST and WASO are the sleep / wake minutes
between them; SOL = onset - rest start; sleep efficiency = TST / rest interval length; the
midpoint lies halfway between onset and final wake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from engines.pat.recording import MINUTES_PER_DAY, ActigraphyRecording, runs

SLEEP, WAKE, UNKNOWN = 1, 0, -1

# Cole RJ, Kripke DF, et al. "Automatic sleep/wake identification from wrist activity."
# Sleep 1992;15(5):461-469 — 1-minute epochs: D = P * sum(W_i * A_i), i = -4..+2; sleep if D < 1.
COLE_KRIPKE_WEIGHTS = (404.0, 598.0, 326.0, 441.0, 1408.0, 508.0, 350.0)
COLE_KRIPKE_SCALE = 0.00001

# Sadeh A, Sharkey KM, Carskadon MA. "Activity-based sleep-wake identification: an empirical
# test of methodological issues." Sleep 1994;17(3):201-207.
# PS = 7.601 - 0.065*MW5 - 1.08*NAT - 0.056*SD6 - 0.703*LG; sleep if PS >= 0.
SADEH_COEF = (7.601, 0.065, 1.08, 0.056, 0.703)


def _finish(sleep: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = sleep.astype(np.int8)
    out[np.isnan(counts)] = UNKNOWN
    return out


def cole_kripke(
    counts: np.ndarray,
    weights: tuple[float, ...] = COLE_KRIPKE_WEIGHTS,
    scale: float = COLE_KRIPKE_SCALE,
) -> np.ndarray:
    """Cole-Kripke 1-min sleep/wake scores (1 sleep, 0 wake, -1 gap)."""
    c = np.asarray(counts, dtype=np.float64)
    a = np.nan_to_num(c, nan=0.0)
    padded = np.concatenate((np.zeros(4), a, np.zeros(2)))
    d = scale * np.correlate(padded, np.asarray(weights, dtype=np.float64), mode="valid")
    return _finish(d < 1.0, c)


def sadeh_ps(counts: np.ndarray) -> np.ndarray:
    """Sadeh's PS value per minute (higher = more likely asleep).

    Window sums use short direct convolutions (no cumulative-sum drift on long recordings).
    """
    a = np.nan_to_num(np.asarray(counts, dtype=np.float64), nan=0.0)
    padded = np.concatenate((np.zeros(5), a, np.zeros(5)))
    mw5 = np.convolve(padded, np.full(11, 1.0 / 11.0), mode="valid")  # mean of A[i-5 .. i+5]
    nat_ind = ((padded >= 50) & (padded < 100)).astype(np.float64)
    nat = np.rint(np.convolve(nat_ind, np.ones(11), mode="valid"))
    head = padded[: a.size + 5]  # windows A[i-5 .. i]
    s1 = np.convolve(head, np.ones(6), mode="valid")
    s2 = np.convolve(head * head, np.ones(6), mode="valid")
    sd6 = np.sqrt(np.maximum(s2 - s1 * s1 / 6.0, 0.0) / 5.0)  # sample SD (ddof = 1)
    lg = np.log(a + 1.0)
    k0, k1, k2, k3, k4 = SADEH_COEF
    return k0 - k1 * mw5 - k2 * nat - k3 * sd6 - k4 * lg


def sadeh(counts: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Sadeh 1994 sleep/wake scores (sleep where PS >= threshold; ActiLife uses -4)."""
    c = np.asarray(counts, dtype=np.float64)
    return _finish(sadeh_ps(c) >= threshold, c)


@dataclass(frozen=True)
class NightlySleep:
    """Sleep metrics of one night (the night *starting* on ``night_of``)."""

    night_of: date
    rest_start: datetime
    rest_end: datetime
    sleep_onset: datetime | None
    final_wake: datetime | None
    tst_min: float
    sleep_efficiency: float
    sol_min: float
    waso_min: float
    midpoint: datetime | None
    unknown_min: int


def _moving_mean(c: np.ndarray, width: int) -> np.ndarray:
    ok = ~np.isnan(c)
    v = np.where(ok, c, 0.0)
    half = width // 2
    cs = np.concatenate(([0.0], np.cumsum(np.concatenate((np.zeros(half), v, np.zeros(half))))))
    cn = np.concatenate(([0], np.cumsum(np.concatenate((np.zeros(half), ok, np.zeros(half))))))
    s = cs[width:] - cs[:-width]
    n = cn[width:] - cn[:-width]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _bridge(mask: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill False runs of at most max_gap that lie between two True runs."""
    starts, lengths = runs(~mask)
    inner = (starts > 0) & (starts + lengths < mask.size) & (lengths <= max_gap)
    delta = np.zeros(mask.size + 1, dtype=np.int64)
    np.add.at(delta, starts[inner], 1)
    np.add.at(delta, starts[inner] + lengths[inner], -1)
    return mask | (np.cumsum(delta[:-1]) > 0)


def rest_mask(
    counts: np.ndarray, rest_fraction: float = 0.2, max_interruption: int = 30, width: int = 31
) -> np.ndarray:
    """Minutes judged 'at rest' (see module docstring, steps 1-2)."""
    c = np.asarray(counts, dtype=np.float64)
    valid = c[~np.isnan(c)]
    if valid.size == 0:
        return np.zeros(c.size, dtype=bool)
    mm = _moving_mean(c, width)
    rest = np.nan_to_num(mm, nan=np.inf) < rest_fraction * float(valid.mean())
    return _bridge(rest, max_interruption)


def nightly_sleep(
    rec: ActigraphyRecording,
    algorithm: str = "cole_kripke",
    rest_fraction: float = 0.2,
    max_interruption: int = 30,
    min_rest: int = 180,
    onset_run: int = 10,
    exclude_nonwear: bool = False,
) -> list[NightlySleep]:
    """Per-night TST, SE, SOL, WASO and midpoint (rest interval as in the module docstring)."""
    counts = rec.masked_counts(exclude_nonwear) if exclude_nonwear else np.asarray(rec.counts)
    if algorithm == "cole_kripke":
        scores = cole_kripke(counts)
    elif algorithm == "sadeh":
        scores = sadeh(counts)
    else:
        raise ValueError(f"unknown sleep algorithm {algorithm!r}")
    rest = rest_mask(counts, rest_fraction, max_interruption)
    mod0 = rec.start.hour * 60 + rec.start.minute
    first_noon = (720 - mod0) % MINUTES_PER_DAY - (MINUTES_PER_DAY if mod0 < 720 else 0)
    nights: list[NightlySleep] = []
    # runs and cumulative counts once for the whole recording; each night only clips them
    rs, rl = runs(rest)
    re_ = rs + rl
    ss, sl = runs(scores == SLEEP)
    se = ss + sl
    cum_sleep = np.concatenate(([0], np.cumsum(scores == SLEEP)))
    cum_wake = np.concatenate(([0], np.cumsum(scores == WAKE)))
    cum_unknown = np.concatenate(([0], np.cumsum(scores == UNKNOWN)))
    for w0 in range(first_noon, rec.n_minutes, MINUTES_PER_DAY):
        a, b = max(w0, 0), min(w0 + MINUTES_PER_DAY, rec.n_minutes)
        if b - a < min_rest:
            continue
        i0, i1 = np.searchsorted(re_, a, "right"), np.searchsorted(rs, b, "left")
        if i0 >= i1:
            continue
        cs, ce = np.clip(rs[i0:i1], a, b), np.clip(re_[i0:i1], a, b)
        k = int(np.argmax(ce - cs))
        r0, r1 = int(cs[k]), int(ce[k])
        if r1 - r0 < min_rest:
            continue
        j0, j1 = np.searchsorted(se, r0, "right"), np.searchsorted(ss, r1, "left")
        s_s, s_e = np.clip(ss[j0:j1], r0, r1), np.clip(se[j0:j1], r0, r1)
        long_runs = s_s[(s_e - s_s) >= onset_run]
        night_of = (rec.start + timedelta(minutes=w0)).date()
        t = rec.start + timedelta(minutes=r0)
        t_end = rec.start + timedelta(minutes=r1)
        unknown = int(cum_unknown[r1] - cum_unknown[r0])
        if long_runs.size == 0:
            nights.append(
                NightlySleep(
                    night_of, t, t_end, None, None, 0.0, 0.0, float(r1 - r0), 0.0, None, unknown
                )
            )
            continue
        on, off = int(long_runs[0]), int(s_e[-1])  # absolute minutes
        tst = float(cum_sleep[off] - cum_sleep[on])
        waso = float(cum_wake[off] - cum_wake[on])
        onset_dt = rec.start + timedelta(minutes=on)
        wake_dt = rec.start + timedelta(minutes=off)
        nights.append(
            NightlySleep(
                night_of=night_of,
                rest_start=t,
                rest_end=t_end,
                sleep_onset=onset_dt,
                final_wake=wake_dt,
                tst_min=tst,
                sleep_efficiency=tst / (r1 - r0),
                sol_min=float(on - r0),
                waso_min=waso,
                midpoint=onset_dt + (wake_dt - onset_dt) / 2,
                unknown_min=unknown,
            )
        )
    return nights
