import statistics
from datetime import datetime

import numpy as np
import pytest

from engines.pat.daily import daily_summaries
from engines.pat.nonwear import detect_nonwear
from engines.pat.recording import ActigraphyRecording
from engines.pat.sleep import cole_kripke, nightly_sleep, sadeh, sadeh_ps

# a short hand-made series with quiet, borderline and active minutes
SERIES = [0, 0, 10, 0, 0, 120, 30, 0, 0, 0, 60, 75, 0, 0, 300, 0, 0, 0, 5, 0]


def _at(a, i):
    return a[i] if 0 <= i < len(a) else 0.0  # outside the recording counts as 0


def test_cole_kripke_matches_published_formula_by_hand():
    w = {-4: 404, -3: 598, -2: 326, -1: 441, 0: 1408, 1: 508, 2: 350}
    expected = []
    for i in range(len(SERIES)):
        d = 0.00001 * sum(c * _at(SERIES, i + k) for k, c in w.items())
        expected.append(1 if d < 1 else 0)
    got = cole_kripke(np.array(SERIES, float))
    assert got.tolist() == expected
    # spot checks worked out on paper: minute 5 (120 counts) D = 1.408*1.2 + ... -> wake;
    # minute 0: D = 0.00001*(350*10) = 0.035 -> sleep
    assert got[5] == 0 and got[0] == 1
    assert 0 < sum(expected) < len(expected)


def test_sadeh_matches_published_formula_by_hand():
    ps_expected = []
    for i in range(len(SERIES)):
        win = [_at(SERIES, j) for j in range(i - 5, i + 6)]
        mw5 = sum(win) / 11
        nat = sum(1 for v in win if 50 <= v < 100)
        sd6 = statistics.stdev([_at(SERIES, j) for j in range(i - 5, i + 1)])
        lg = np.log(SERIES[i] + 1)
        ps_expected.append(7.601 - 0.065 * mw5 - 1.08 * nat - 0.056 * sd6 - 0.703 * lg)
    ps = sadeh_ps(np.array(SERIES, float))
    assert ps == pytest.approx(ps_expected, abs=1e-12)
    assert sadeh(np.array(SERIES, float)).tolist() == [int(p >= 0) for p in ps_expected]


def test_gaps_are_unknown_not_invented():
    c = np.array([0, 0, np.nan, 0, 500.0])
    assert cole_kripke(c)[2] == -1 and sadeh(c)[2] == -1


def _night_recording():
    """Two days: active 200 counts by day; in bed 23:00-07:00 with a 20-min wake at 02:00
    and quiet-but-awake (CK wake, low activity) 23:00-23:15."""
    start = datetime(2022, 3, 1, 12, 0)
    c = np.full(2 * 1440, 200.0)
    for d in range(2):
        bed = d * 1440 + 11 * 60  # 23:00
        c[bed : bed + 8 * 60] = 0.0
        c[bed : bed + 15] = 35.0  # lying awake: CK D = 0.00001*3627*35 > 1
        c[bed + 180 : bed + 200] = 80.0  # wake bout 02:00-02:20
    return ActigraphyRecording(start=start, counts=c, nonwear=np.zeros(c.size, bool), source="test")


def test_nightly_metrics_on_a_known_night():
    nights = nightly_sleep(_night_recording(), exclude_nonwear=False)
    assert len(nights) == 2
    n = nights[0]
    assert (
        n.rest_start == datetime(2022, 3, 1, 23, 0)
        or abs((n.rest_start - datetime(2022, 3, 1, 23, 0)).total_seconds()) <= 20 * 60
    )
    # sleep onset once counts drop to 0 (CK wake persists ~2 min after activity)
    assert datetime(2022, 3, 1, 23, 15) <= n.sleep_onset <= datetime(2022, 3, 1, 23, 20)
    assert n.sol_min == (n.sleep_onset - n.rest_start).total_seconds() / 60
    # 20-min wake bout (+ CK's smoothing of a few minutes around it) is WASO
    assert 20 <= n.waso_min <= 30
    assert n.final_wake <= datetime(2022, 3, 2, 7, 0)
    total = (n.final_wake - n.sleep_onset).total_seconds() / 60
    assert n.tst_min + n.waso_min == total
    assert n.sleep_efficiency == pytest.approx(
        n.tst_min / ((n.rest_end - n.rest_start).total_seconds() / 60)
    )
    assert n.midpoint == n.sleep_onset + (n.final_wake - n.sleep_onset) / 2


def test_daily_summaries_partial_days():
    rec = _night_recording()
    days = daily_summaries(rec)
    assert len(days) == 3
    assert days[0].valid_minutes == 720 and days[1].valid_minutes == 1440
    assert sum(d.valid_minutes for d in days) == rec.n_minutes
    assert days[0].total_counts == pytest.approx(np.nansum(rec.counts[:720]))


def test_choi_nonwear_rule():
    c = np.full(600, 50.0)
    c[100:200] = 0  # 100 zero minutes -> non-wear
    c[300:340] = 0
    c[341:400] = 0  # 40 + spike of 1 + 59 zeros: bridged (both sides >= 30) -> 100 -> non-wear
    c[340] = 3
    c[450:530] = 0  # 80 zeros -> wear
    m = detect_nonwear(c)
    assert m[100:200].all() and not m[99] and not m[200]
    assert m[300:400].all()
    assert not m[450:530].any()
    c2 = c.copy()
    c2[150] = np.nan  # a gap splits the 100-min run into 50 + 49
    assert not detect_nonwear(c2)[100:200].any()
    assert detect_nonwear(c, min_minutes=60)[450:530].all()  # Troiano-style threshold


def test_double_plot_rows_are_day_and_next_day():
    from engines.pat.daily import double_plot

    rec = _night_recording()  # starts at 12:00, two days
    dp = double_plot(rec)
    assert dp.shape == (3, 2880)
    assert np.isnan(dp[0, :720]).all()  # before the start
    np.testing.assert_array_equal(dp[0, 720:1440], rec.counts[:720])
    np.testing.assert_array_equal(dp[0, 1440:], dp[1, :1440])  # right half = next row's left
    sleep = (cole_kripke(rec.counts) == 1).astype(float)
    dps = double_plot(rec, sleep)
    assert dps.shape == (3, 2880) and np.nansum(dps[:, :1440]) == sleep.sum()
    with pytest.raises(ValueError):
        double_plot(rec, sleep[:-1])
