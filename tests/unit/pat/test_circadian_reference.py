"""IS, IV, RA, L5, M10 against pyActigraphy 1.2.2 on every Depresjon recording (to 1e-6)."""

import csv

import numpy as np
import pytest

from engines.pat.circadian import (
    binarize,
    circadian_metrics,
    lmx,
    recording_circadian,
    rolling_circadian,
)
from engines.pat.importer import import_csv

METRICS = ("IS", "IV", "RA", "L5", "M10")


def test_all_recordings_match_pyactigraphy(depresjon_dir):
    rows = list(csv.DictReader(open(depresjon_dir / "reference_nonparametric.csv")))
    files = sorted(p.name.split(".")[0] for p in depresjon_dir.glob("c*_*.csv.gz"))
    assert sorted(r["subject"] for r in rows) == files and len(rows) == 41
    for row in rows:
        rec = import_csv(depresjon_dir / f"{row['subject']}.csv.gz")
        assert rec.n_minutes == int(row["minutes"])
        assert rec.missing_minutes == int(row["missing_minutes"])
        for binarized, suffix in ((True, "bin4"), (False, "raw")):
            m = recording_circadian(rec, binarized=binarized, threshold=4)
            for k in METRICS:
                ref = float(row[f"{k}_{suffix}"])
                got = getattr(m, k)
                assert got == pytest.approx(ref, abs=1e-6, rel=0), (row["subject"], k, suffix)


def test_perfectly_periodic_signal_has_is_one_and_known_l5_m10():
    day = np.zeros(1440)
    day[8 * 60 : 20 * 60] = 100.0  # active 08:00-20:00
    counts = np.tile(day, 7)
    m = circadian_metrics(counts, start_minute_of_day=0, binarized=False)
    # pyActigraphy uses sample variances (ddof=1) for both terms, so a perfect rhythm over
    # 7 days gives (24/23) / (168/167), not 1
    assert m.IS == pytest.approx((24 / 23) / (168 / 167), abs=1e-12)
    # hourly sums: 6000 for 08-20 h, else 0 -> 14 jumps of 6000 among 167 differences;
    # IV = (14 * 6000^2 / 167) / (168 * 3000^2 / 167) = 1/3
    assert m.IV == pytest.approx(1 / 3, abs=1e-12)
    assert m.L5 == 0.0 and m.M10 == 100.0 and m.RA == 1.0
    assert m.M10_onset.hour == 8 and m.M10_onset.minute == 0
    assert m.L5_onset.hour == 0  # first all-zero 5 h window (ties: earliest clock time)


def test_lmx_wraps_around_midnight():
    day = np.full(1440, 50.0)
    day[list(range(1380, 1440)) + list(range(0, 240))] = 0.0  # rest 23:00-04:00
    onset, value = lmx(np.tile(day, 3), 0, 300, lowest=True)
    assert onset == 1380 and value == 0.0


def test_binarize_keeps_gaps():
    out = binarize(np.array([0, 4, 5, np.nan]), 4)
    assert out[:3].tolist() == [0, 0, 1] and np.isnan(out[3])


def test_rolling_windows(depresjon_dir):
    rec = import_csv(depresjon_dir / "condition_10.csv.gz")
    wins = rolling_circadian(rec, window_days=7, step_days=3)
    assert len(wins) == (rec.n_minutes // 1440 - 7) // 3 + 1
    first = recording_circadian(rec.slice(0, 7 * 1440))
    assert wins[0].metrics == first
    assert all(0 <= w.metrics.IS <= 1 for w in wins)


def test_constant_and_short_series_give_nan_with_a_reason_not_an_exception():
    import math

    from engines.pat.circadian import circadian_metrics

    for counts in (np.zeros(2 * 1440), np.full(2 * 1440, 250.0)):  # all zeros, all above 4
        m = circadian_metrics(counts, 0, binarized=True)
        assert math.isnan(m.IS) and math.isnan(m.IV)
        assert any(r.startswith("IS: activity is constant") for r in m.undefined)
    short = circadian_metrics(np.arange(120.0), 8 * 60, binarized=False)  # 2 h: no 5 h window
    assert math.isnan(short.L5) and short.L5_onset is None and short.M10_onset is None
    assert any(r.startswith("L5: no 5 h window") for r in short.undefined)
