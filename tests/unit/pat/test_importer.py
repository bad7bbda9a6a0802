import dataclasses
import gzip
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.errors import InputError
from engines.pat.importer import DEPRESJON, ColumnMapping, import_csv, parse_bytes

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "depresjon"
if not DATA.exists():
    DATA = Path("/work/shared/data/depresjon")


def _depresjon_text(n=200, start="2020-01-01 10:00", step=60):
    t0 = np.datetime64(start, "s")
    lines = ["timestamp,date,activity"]
    for i in range(n):
        t = t0 + np.timedelta64(i * step, "s")
        s = str(t).replace("T", " ")
        lines.append(f"{s},{s[:10]},{(i * 7) % 300}")
    return "\n".join(lines) + "\n"


def test_real_depresjon_file_imports_on_a_minute_grid():
    rec = import_csv(DATA / "condition_10.csv.gz")
    assert rec.start == datetime(2004, 8, 31, 9, 0)
    assert rec.n_minutes == 21555 and rec.missing_minutes == 0
    assert rec.counts[0] == 91 and rec.counts[1] == 0
    assert rec.source.startswith("sha256:") and "condition" not in rec.source
    with pytest.raises(ValueError):
        rec.counts[0] = 5  # read-only


def test_dst_gap_becomes_nan_gap():
    rec = import_csv(DATA / "control_1.csv.gz")
    assert rec.missing_minutes == 60
    assert len(rec.gaps) == 1 and rec.gaps[0][1] == 60


def test_gaps_and_label(tmp_path):
    text = _depresjon_text(100).splitlines()
    del text[11:21]  # rows 10..19 missing
    p = tmp_path / "x.csv"
    p.write_text("\n".join(text) + "\n")
    rec = import_csv(p, label="subject-7")
    assert rec.source == "subject-7"
    assert rec.n_minutes == 100 and rec.missing_minutes == 10
    assert rec.gaps == ((10, 10),)


def test_gzip_and_crlf_and_bom(tmp_path):
    raw = ("\ufeff" + _depresjon_text(50)).replace("\n", "\r\n").encode("utf-8")
    p = tmp_path / "x.csv.gz"
    p.write_bytes(gzip.compress(raw))
    rec = import_csv(p)
    assert rec.n_minutes == 50 and rec.counts[3] == 21


def test_generic_30s_epoch_is_summed_into_minutes():
    lines = ["time;steps"] + [
        f"2021-05-01T08:00:{s:02d};{v}" if m == 0 else f"2021-05-01T08:0{m}:{s:02d};{v}"
        for m in range(3)
        for s, v in ((0, m + 1), (30, 10 * (m + 1)))
    ]
    rec = parse_bytes(
        "\n".join(lines).encode(),
        mapping=ColumnMapping(timestamp="time", counts="steps", delimiter=";"),
    )
    assert rec.original_epoch_s == 30
    assert rec.counts.tolist() == [11.0, 22.0, 33.0]


def test_generic_120s_epoch_is_spread_over_minutes():
    lines = ["ts,c", "2021-05-01 08:00:00,10", "2021-05-01 08:02:00,4", "2021-05-01 08:06:00,2"]
    rec = parse_bytes("\n".join(lines).encode(), mapping=ColumnMapping("ts", "c"))
    assert rec.counts[:4].tolist() == [5.0, 5.0, 2.0, 2.0]
    assert np.isnan(rec.counts[4]) and np.isnan(rec.counts[5])
    assert rec.counts[6:].tolist() == [1.0, 1.0]


def test_decimal_counts_and_slow_timestamp_path():
    lines = ["ts,c", "2021-05-01T08:00,1.5", "2021-05-01T08:01,2e1"]
    rec = parse_bytes("\n".join(lines).encode(), mapping=ColumnMapping("ts", "c", epoch_s=60))
    assert rec.counts.tolist() == [1.5, 20.0]


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda r: r.__setitem__(5, "2020-01-01 10:0x:00,2020-01-01,3"),
            "line 6, column 'timestamp'",
        ),
        (
            lambda r: r.__setitem__(5, "2020-13-01 10:04:00,2020-13-01,3"),
            "line 6, column 'timestamp'",
        ),
        (lambda r: r.__setitem__(7, r[7].rsplit(",", 1)[0] + ",abc"), "line 8, column 'activity'"),
        (lambda r: r.__setitem__(7, r[7].rsplit(",", 1)[0] + ",-3"), "line 8, column 'activity'"),
        (lambda r: r.__setitem__(7, r[7].rsplit(",", 1)[0] + ",nan"), "line 8, column 'activity'"),
        (lambda r: r.__setitem__(9, r[8]), "line 10, column 'timestamp': duplicated"),
        (lambda r: r.insert(9, r[3]), "line 10, column 'timestamp': timestamp earlier"),
        (lambda r: r.__setitem__(4, r[4] + ",9"), "line 5: 4 fields"),
        (lambda r: r.__setitem__(4, ""), "line 5: empty line"),
        (lambda r: r.__setitem__(6, "2020-01-01 10:05:00,2020-01-02,3"), "line 7, column 'date'"),
        (lambda r: r.__setitem__(6, "2020-01-01 10:05:30,2020-01-01,3"), "off the 60 s"),
        (lambda r: r.__setitem__(0, "time,date,activity"), "missing column 'timestamp'"),
    ],
)
def test_malformed_rows_name_line_and_column(tmp_path, mutate, needle):
    lines = _depresjon_text(30).splitlines()
    mutate(lines)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as ei:
        import_csv(p)
    assert str(ei.value).startswith("bad.csv")
    assert needle in str(ei.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"timestamp,date,activity\n", "no data rows"),
        (_depresjon_text(5).encode("utf-16"), "wrong encoding"),
        (
            "timestamp,date,activit\u00e9\n2020-01-01 10:00:00,2020-01-01,\u00e9".encode("latin-1"),
            "line 1: wrong encoding",
        ),
        (b"\x1f\x8b\x08\x00garbage", "not a valid gzip"),
    ],
)
def test_bad_files(tmp_path, content, needle):
    p = tmp_path / "f.csv"
    p.write_bytes(content)
    with pytest.raises(InputError, match=needle):
        import_csv(p)


def test_missing_file_is_validation_error(tmp_path):
    with pytest.raises(InputError, match="cannot be read"):
        import_csv(tmp_path / "nope.csv")


VALID = _depresjon_text(40).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_files_either_import_fully_or_raise_validation_error(data):
    raw = bytearray(VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        pos = data.draw(st.integers(0, len(raw) - 1))
        if op == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=5))
        else:
            del raw[pos : pos + data.draw(st.integers(1, 20))]
    try:
        rec = parse_bytes(bytes(raw), name="fuzz.csv")
    except InputError as exc:
        assert str(exc).startswith("fuzz.csv")
        return
    # accepted: a complete, consistent recording
    assert rec.counts.size == rec.nonwear.size > 0
    ok = rec.counts[~np.isnan(rec.counts)]
    assert np.all(np.isfinite(ok)) and np.all(ok >= 0)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes_never_crash(raw):
    try:
        parse_bytes(raw, name="r.csv")
    except InputError:
        pass


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 5000), min_size=1, max_size=300),
    holes=st.lists(st.integers(0, 299), max_size=30),
    start_min=st.integers(0, 10_000),
)
def test_roundtrip_valid_series(counts, holes, start_min):
    t0 = np.datetime64("2019-03-01T00:00", "m") + np.timedelta64(start_min, "m")
    keep = [i for i in range(len(counts)) if i not in set(holes) or i in (0, len(counts) - 1)]
    lines = ["timestamp,date,activity"]
    for i in keep:
        s = str(t0 + np.timedelta64(i, "m")).replace("T", " ") + ":00"
        lines.append(f"{s},{s[:10]},{counts[i]}")
    # the epoch is stated: with holes, the most common step can be 2 minutes and a file of
    # such rows is then (correctly) read as a 2-minute device
    one_minute = dataclasses.replace(DEPRESJON, epoch_s=60)
    rec = parse_bytes(("\n".join(lines) + "\n").encode(), name="p.csv", mapping=one_minute)
    assert rec.n_minutes == len(counts)
    expected = np.full(len(counts), np.nan)
    expected[keep] = np.array(counts, float)[keep]
    np.testing.assert_array_equal(rec.counts, expected)
    assert rec.missing_minutes == len(counts) - len(keep)


def test_absurd_time_span_is_rejected():
    # both ends inside the date limits, but 70 years apart: a stray timestamp
    text = "ts,c\n1950-01-01 00:00:00,1\n1950-01-01 00:01:00,1\n2020-01-01 00:02:00,1\n"
    with pytest.raises(InputError, match="line 4, column 'ts'.*six years"):
        parse_bytes(text.encode(), name="span.csv", mapping=ColumnMapping("ts", "c"))
    # a year-9020 timestamp is refused by the date limit first, naming the line
    text = "ts,c\n2020-01-01 00:00:00,1\n2020-01-01 00:01:00,1\n9020-01-01 00:02:00,1\n"
    with pytest.raises(InputError, match="line 4, column 'ts': date outside the device"):
        parse_bytes(text.encode(), name="span.csv", mapping=ColumnMapping("ts", "c"))


def test_decompression_is_capped(monkeypatch):
    import engines.pat.importer as imp

    monkeypatch.setattr(imp, "MAX_BYTES", 1000)
    bomb = gzip.compress(b"0" * 5000)
    with pytest.raises(InputError, match="too large"):
        parse_bytes(bomb, name="bomb.csv.gz")


def test_multi_member_and_zero_padded_gzip():
    text = _depresjon_text(20).encode()
    half = text.index(b"\n", len(text) // 2) + 1
    raw = gzip.compress(text[:half]) + gzip.compress(text[half:]) + b"\x00" * 8
    assert parse_bytes(raw, name="m.csv.gz").n_minutes == 20
