"""Regenerate this corpus (python tests/fuzz/corpus/actigraphy/generate.py).

Each file is one case from issue 18's actigraphy list; expected.json says whether it must be
analysed ("analysed") or refused (a substring of the importer's error message).
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).parent
HEADER = "timestamp,date,activity"


def rows(start: str, counts: list[object], step_s: int = 60) -> list[str]:
    t0 = datetime.fromisoformat(start)
    out = []
    for i, c in enumerate(counts):
        t = t0 + timedelta(seconds=step_s * i)
        out.append(f"{t:%Y-%m-%d %H:%M:%S},{t:%Y-%m-%d},{c}")
    return out


def text(lines: list[str]) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def varied(n: int) -> list[int]:
    return [(i * 37) % 400 if 420 <= i % 1440 <= 1320 else (i * 7) % 5 for i in range(n)]


def raw_line(stamp: str, count: object) -> str:
    return f"{stamp},{stamp[:10]},{count}"


def main() -> None:
    cases: dict[str, tuple[str | bytes, str]] = {}
    cases["constant_above_threshold_2d.csv.gz"] = (
        text(rows("2021-03-01 00:00:00", [250] * 2880)),
        "analysed",
    )
    cases["all_zeros_1d.csv"] = (text(rows("2021-03-01 00:00:00", [0] * 1440)), "analysed")
    cases["shorter_than_a_day_6h.csv"] = (
        text(rows("2021-03-01 08:00:00", varied(360))),
        "analysed",
    )
    cases["shorter_than_l5_2h.csv"] = (text(rows("2021-03-01 08:00:00", varied(120))), "analysed")
    cases["single_row.csv"] = (text(rows("2021-03-01 08:00:00", [12])), "analysed")
    cases["exactly_one_day.csv"] = (text(rows("2021-03-01 00:00:00", varied(1440))), "analysed")
    cases["epoch_30s_6h.csv"] = (text(rows("2021-03-01 06:00:00", varied(720), 30)), "analysed")
    cases["epoch_1s_20min.csv"] = (
        text(rows("2021-03-01 06:00:00", [i % 3 for i in range(1200)], 1)),
        "analysed",
    )
    # EU fall-back 2021-10-31: 03:00 CEST -> 02:00 CET, the hour 02:00-02:59 is recorded twice
    fb = rows("2021-10-30 20:00:00", varied(420))  # 20:00 .. 02:59
    fb += rows("2021-10-31 02:00:00", varied(60))  # the repeated hour
    fb += rows("2021-10-31 03:00:00", varied(600))
    cases["dst_fall_back.csv"] = (text(fb), "analysed")
    # EU spring-forward 2021-03-28: 02:00 CET -> 03:00 CEST, no readings 02:00-02:59
    sf = rows("2021-03-27 20:00:00", varied(360)) + rows("2021-03-28 03:00:00", varied(600))
    cases["dst_spring_forward.csv"] = (text(sf), "analysed")
    cases["counts_1e308.csv"] = (
        text(rows("2021-03-01 00:00:00", ["1e308"] * 60)),
        "count above the device maximum",
    )
    cases["counts_inf.csv"] = (
        text(rows("2021-03-01 00:00:00", ["inf"] * 5)),
        "counts must be finite",
    )
    cases["counts_nan.csv"] = (
        text(rows("2021-03-01 00:00:00", [1, "nan", 3])),
        "counts must be finite",
    )
    cases["counts_negative.csv"] = (
        text(rows("2021-03-01 00:00:00", [1, -4, 3])),
        "counts must be finite",
    )
    cases["counts_above_device_max.csv"] = (
        text(rows("2021-03-01 00:00:00", [10, 40000, 3])),
        "line 3, column 'activity': count above the device maximum",
    )
    cases["epoch_1s_summed_above_max.csv"] = (
        text(rows("2021-03-01 00:00:00", [1000] * 120, 1)),
        "counts summed per minute above the device maximum",
    )
    cases["ending_9999_12_31.csv"] = (
        text([raw_line("2021-03-01 00:00:00", 5), raw_line("9999-12-31 23:59:00", 5)]),
        "line 3, column 'timestamp': date outside the device limits",
    )
    cases["ending_9999_12_31_minute_grid.csv"] = (
        text(rows("9999-12-31 22:00:00", varied(120))),
        "line 2, column 'timestamp': date outside the device limits",
    )
    cases["year_0001.csv"] = (
        text(rows("0001-01-01 00:00:00", varied(120))),
        "line 2, column 'timestamp': date outside the device limits",
    )
    cases["year_1899.csv"] = (
        text(rows("1899-12-31 23:00:00", varied(120))),
        "date outside the device limits",
    )
    cases["epoch_7s.csv"] = (
        text(rows("2021-03-01 00:00:00", varied(100), 7)),
        "epoch of 7 s is outside the device limits",
    )
    cases["backward_two_hours.csv"] = (
        text(rows("2021-03-01 04:00:00", varied(60)) + rows("2021-03-01 02:59:00", varied(10))),
        "timestamp earlier than the row before",
    )
    cases["header_only.csv"] = (HEADER + "\n", "no data rows")
    cases["empty.csv"] = ("", "empty file")
    cases["utf16.csv"] = (
        text(rows("2021-03-01 00:00:00", varied(5))).encode("utf-16"),
        "wrong encoding",
    )
    expected = {}
    for name, (content, outcome) in cases.items():
        data = content.encode() if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        (HERE / name).write_bytes(data)
        assert len(data) < 100_000, name
        expected[name] = outcome
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
