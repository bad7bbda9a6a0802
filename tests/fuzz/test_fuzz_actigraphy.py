"""Actigraphy CSV import fuzzing through the path a click on "Import" runs.

The panel calls app.services.actigraphy_view.prepare_import (engines.pat importer + the PAT
analysis chain: nonwear, sleep, circadian, daily, features, screen) and then store_prepared
(app.services.pat.store_analysed -> app.services.actigraphy.add_series). Every input must
either be analysed and stored in full (JSON-safe results, the panel can read them back) or be
refused with ValidationError naming the file and the problem, echoing no file content, with
the store unchanged (store_fingerprint).
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from app.core.domain import Role
from app.core.errors import NovamindError, ValidationError
from app.services import actigraphy_view as av
from app.services.context import AppContext
from engines.pat.recording import DEVICE_LIMITS
from tests.fuzz.conftest import CORPUS, assert_refused, store_fingerprint
from tests.support.records import add_patient

HEADER = ("timestamp", "date", "activity")
EPOCHS = (1, 30, 60, 120, 7, 3600)
SPECIAL_COUNTS = ("nan", "inf", "-inf", "-1", "1e308", "", "abc", "99999999999", "1.5", "40000")


def _stamps(start: datetime, n: int, epoch: int, dst_at: int | None) -> list[datetime]:
    out = [start + timedelta(seconds=epoch * i) for i in range(n)]
    if dst_at is not None and 0 < dst_at < n:  # a DST fall-back: one wall-clock hour repeats
        out = out[:dst_at] + [t - timedelta(hours=1) for t in out[dst_at:]]
    return out


@st.composite
def actigraphy_files(draw: st.DrawFn) -> tuple[str, bytes, list[str], bool]:
    """(file name, bytes, timestamp strings) of a generated activity CSV: half plausible
    (should be analysed), half hostile (dates, epochs, counts, headers, encodings)."""
    hostile = draw(st.booleans())
    epoch = draw(st.sampled_from(EPOCHS if hostile else EPOCHS[:4]))
    minutes = draw(st.integers(0 if hostile else 1, 3 * 1440))
    n = max(min(minutes * 60 // epoch, draw(st.sampled_from((3, 300, 3000)))), int(not hostile))
    plausible = st.datetimes(datetime(2000, 1, 1), datetime(2025, 12, 31))
    edges = (datetime(1, 1, 1), datetime(9999, 12, 31, 23), datetime(1899, 12, 31))
    start = draw(
        st.one_of(plausible, st.datetimes(datetime(1, 1, 1)), st.sampled_from(edges))
        if hostile
        else plausible
    ).replace(microsecond=0, second=0)
    # the fall-back row; a plausible file has a normal step before it (that gives the epoch)
    dst_at = draw(st.one_of(st.none(), st.integers(0 if hostile else 2, max(n - 1, 2))))
    try:
        stamps = _stamps(start, n, epoch, dst_at)
    except OverflowError:  # past year 9999: write the last representable stamp instead
        stamps = [start] * n
    kinds = ("constant0", "constant_high", "varied", "varied")
    kind = draw(st.sampled_from((*kinds, "special") if hostile else kinds))
    counts = [
        "0" if kind == "constant0" else "250" if kind == "constant_high" else str((i * 37) % 600)
        for i in range(n)
    ]
    if kind == "special" and n:  # a few hostile cells at random rows
        for _ in range(draw(st.integers(1, 3))):
            counts[draw(st.integers(0, n - 1))] = draw(st.sampled_from(SPECIAL_COUNTS))
    header = list(HEADER)
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    if hostile and draw(st.integers(0, 4)) == 0:
        header[draw(st.integers(0, 2))] = draw(st.text(min_size=0, max_size=8))
    lines = [",".join(header)]
    shown = [f"{t:%Y-%m-%d %H:%M:%S}" for t in stamps]
    for s, c in zip(shown, counts, strict=True):
        cells = {"timestamp": s, "date": s[:10], "activity": c}
        lines.append(",".join(cells.get(h, "x") for h in header))
    body = "\n".join(lines) + "\n"
    if draw(st.booleans()):
        body = body.replace("\n", "\r\n")
    encodings = ("utf-8", "utf-8-sig", "utf-16", "latin-1")
    encoding = draw(st.sampled_from(encodings if hostile else encodings[:2]))
    data = body.encode(encoding, errors="replace")
    name = "fuzz.csv"
    if draw(st.booleans()):
        data, name = gzip.compress(data, mtime=0), "fuzz.csv.gz"
    return name, data, shown, hostile


def _check_analysed(ctx: AppContext, clinic: dict, prepared: av.PreparedImport) -> None:
    me = clinic["users"][Role.CLINICIAN]
    rec = prepared.recording
    json.dumps(prepared.results, allow_nan=False)  # NaN became None: storable, displayable
    assert rec.counts.size > 0 and rec.start >= DEVICE_LIMITS.earliest
    assert rec.end <= DEVICE_LIMITS.latest() + timedelta(minutes=10)
    pid = add_patient(
        ctx, me, f"F-{uuid.uuid4().hex[:8]}", given_name="Fuzz", family_name="Case", sex="female"
    )  # a fresh patient: the panel shows this recording, not an earlier-starting one
    out = av.store_prepared(ctx, me, pid, prepared)
    assert out.minutes == rec.n_minutes and 0.0 <= out.screen_probability <= 1.0
    view = av.actigraphy_view(ctx, me, pid)  # the panel reads it back
    assert view is not None and view.series_id == out.series_id and view.minutes == rec.n_minutes


def _run(ctx: AppContext, clinic: dict, path: Path, shown: list[str] | None = None) -> str:
    """'analysed' or the refusal message; asserts the contract either way."""
    before = store_fingerprint(ctx)
    try:
        prepared = av.prepare_import(path)
    except NovamindError as exc:
        assert isinstance(exc, ValidationError), type(exc)
        msg = str(exc)
        assert msg.startswith(path.name + ":"), msg
        for s in shown or ():  # no timestamp (PHI-adjacent) is echoed back
            assert s not in msg, msg
        assert store_fingerprint(ctx) == before
        return msg
    _check_analysed(ctx, clinic, prepared)
    return "analysed"


@settings(settings.get_profile("fuzz"), max_examples=100)
@given(case=actigraphy_files())
def test_generated_csvs_are_analysed_or_refused(
    ctx: AppContext, clinic: dict, tmp_path: Path, case: tuple[str, bytes, list[str], bool]
) -> None:
    name, data, shown, hostile = case
    path = tmp_path / name
    path.write_bytes(data)
    outcome = _run(ctx, clinic, path, shown)
    assert hostile or outcome == "analysed", outcome  # a plausible recording is never refused
    # --hypothesis-show-statistics lists how many inputs were analysed / refused and why
    event(outcome if outcome == "analysed" else "refused: " + re.sub(r"\d+", "N", outcome)[:60])


CASES = json.loads((CORPUS / "actigraphy" / "expected.json").read_text())


def test_every_corpus_file_meets_its_expected_outcome(ctx: AppContext, clinic: dict) -> None:
    folder = CORPUS / "actigraphy"
    files = sorted(
        p.name for p in folder.iterdir() if p.name not in {"expected.json", "generate.py"}
    )
    assert sorted(CASES) == files  # every corpus file has an expected outcome
    wrong = {}
    for name in files:
        got = _run(ctx, clinic, folder / name)
        want = CASES[name]
        if (want == "analysed") != (got == "analysed") or want not in got:
            wrong[name] = got
    assert not wrong, wrong


def test_corpus_edge_cases_give_honest_undefined_metrics() -> None:
    folder = CORPUS / "actigraphy"
    zeros = av.prepare_import(folder / "all_zeros_1d.csv").results["circadian"]["binarized"]
    assert zeros["IS"] is None and zeros["IV"] is None and zeros["RA"] is None
    assert any(r.startswith("IS: activity is constant") for r in zeros["undefined"])
    high = av.prepare_import(folder / "constant_above_threshold_2d.csv.gz").results["circadian"]
    assert high["binarized"]["IS"] is None and high["binarized"]["L5"] == 1.0
    short = av.prepare_import(folder / "shorter_than_l5_2h.csv").results
    assert short["circadian"]["raw"]["L5"] is None and short["circadian"]["raw"]["L5_onset"] is None
    assert any("L5: no 5 h window" in r for r in short["circadian"]["raw"]["undefined"])
    assert short["screen"]["notes"] and 0 <= short["screen"]["probability"] <= 1
    dst = av.prepare_import(folder / "dst_fall_back.csv")
    assert dst.recording.n_minutes == 420 + 600 and dst.recording.missing_minutes == 0
    assert "DST fall-back" in dst.results["nonwear"]["import_notes"][0]
    spring = av.prepare_import(folder / "dst_spring_forward.csv").recording
    assert spring.missing_minutes == 60


@pytest.mark.parametrize("epoch", [1, 30, 60, 120])
def test_supported_epochs_analyse_on_the_minute_grid(epoch: int, tmp_path: Path) -> None:
    t0 = datetime(2021, 5, 1, 7)
    n = 2 * 3600 // epoch
    lines = ["timestamp,date,activity"] + [
        f"{t0 + timedelta(seconds=epoch * i):%Y-%m-%d %H:%M:%S},2021-05-01,{i % 5}"
        for i in range(n)
    ]
    p = tmp_path / f"e{epoch}.csv"
    p.write_text("\n".join(lines) + "\n")
    prepared = av.prepare_import(p)
    assert prepared.recording.original_epoch_s == epoch and prepared.recording.n_minutes == 120


@pytest.mark.parametrize("bad", [float("inf"), 1e308, -1.0, 40_000.0])
def test_store_refuses_series_outside_the_device_limits(
    ctx: AppContext, clinic: dict, bad: float
) -> None:
    """Defence in depth: a caller that bypasses the importer (demo, future sources) cannot
    store what the importer would refuse."""
    import numpy as np

    from app.services import actigraphy

    me = clinic["users"][Role.CLINICIAN]
    series = np.array([1.0, bad])
    args = (ctx, me, clinic["mine"], datetime(2021, 1, 1), series)
    assert_refused(ctx, "outside the device limits", actigraphy.save_series, *args)
