"""Import minute-level activity CSV files into an :class:`ActigraphyRecording`.

Formats: the Depresjon export (``timestamp,date,activity``) and any delimited file with a
timestamp column and a counts column named by a :class:`ColumnMapping`. Gzip is detected from
the magic bytes. Epochs shorter than 60 s are summed into minutes (a minute missing any of its
sub-epochs is a gap); longer epochs are spread evenly over their minutes.

Parsing is vectorised over the raw bytes (ISO timestamps of fixed width, plain numbers), with a
slower per-field path for other spellings that also pinpoints errors. Any problem raises
``InputError`` naming the file, the line and the column; nothing partial is returned.

Plausibility (dates, counts, epochs, span) is checked against one :class:`DeviceLimits`
(engines.pat.recording); a message names the limit and the line, never the offending value.
A local-time file that crosses a DST fall-back repeats one wall-clock hour: that second pass
(a backward step of exactly one hour) is dropped and noted; the spring-forward hour is a gap.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NoReturn

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engines.errors import InputError
from engines.pat.nonwear import detect_nonwear
from engines.pat.recording import DEVICE_LIMITS, EPOCH_S, ActigraphyRecording, DeviceLimits

MAX_BYTES = 512 * 1024 * 1024
MAX_MINUTES = DEVICE_LIMITS.max_days * 1440  # six years on the grid: more means a stray timestamp
_UNIX0 = datetime(1970, 1, 1)
DST_SHIFT_S = 3600
_DIGIT0 = 48


@dataclass(frozen=True)
class ColumnMapping:
    """Which columns hold the timestamp and the counts (and optionally a date to cross-check)."""

    timestamp: str = "timestamp"
    counts: str = "activity"
    date: str | None = None
    delimiter: str = ","
    epoch_s: int | None = None  # inferred from the timestamps when None


DEPRESJON = ColumnMapping(timestamp="timestamp", counts="activity", date="date")


@dataclass(frozen=True)
class _Table:
    buf: np.ndarray  # uint8 bytes of the body
    pbuf: np.ndarray  # the same bytes followed by padding
    raw: bytes
    starts: np.ndarray  # (n_rows, n_cols) field start offsets
    ends: np.ndarray  # (n_rows, n_cols) field end offsets
    columns: tuple[str, ...]

    def strings(self, col: int) -> list[str]:
        s, e = self.starts[:, col], self.ends[:, col]
        raw = self.raw
        return [raw[a:b].decode("utf-8") for a, b in zip(s.tolist(), e.tolist())]


class _Ctx:
    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, problem: str, line: int | None = None, column: str | None = None) -> NoReturn:
        where = self.name
        if line is not None:
            where += f": line {line}"
        if column is not None:
            where += f"{',' if line is not None else ':'} column '{column}'"
        raise InputError(f"{where}: {problem}")


def _line(row: int) -> int:
    return row + 2  # header is line 1


def _read_bytes(path: Path, ctx: _Ctx) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            ctx.fail(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{ctx.name}: cannot be read ({exc.strerror})") from None
    return _gunzip(data, ctx) if data[:2] == b"\x1f\x8b" else data


def _gunzip(data: bytes, ctx: _Ctx) -> bytes:
    """Decompress (multi-member) gzip with an output cap, so a gzip bomb cannot exhaust RAM."""
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = d.decompress(rest, MAX_BYTES + 1 - size)
            size += len(chunk)
            out.append(chunk)
            if size > MAX_BYTES:
                ctx.fail("decompressed data is too large")
            if not d.eof:
                ctx.fail("not a valid gzip file (corrupt or truncated)")
            rest = d.unused_data.lstrip(b"\x00")  # some tools zero-pad gzip files
    except zlib.error:
        ctx.fail("not a valid gzip file (corrupt or truncated)")
    return b"".join(out)


def _check_encoding(data: bytes, ctx: _Ctx) -> bytes:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        pos = data.find(b"\x00")
        ctx.fail(
            "wrong encoding: NUL bytes (UTF-16?); save the file as UTF-8",
            line=data.count(b"\n", 0, max(pos, 0)) + 1,
        )
    try:
        if not data.isascii():
            data.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.fail(
            f"wrong encoding: byte 0x{data[exc.start]:02x} is not UTF-8",
            line=data.count(b"\n", 0, exc.start) + 1,
        )
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            ctx.fail("stray carriage return", line=data.count(b"\n", 0, data.find(b"\r")) + 1)
    return data


def _dequote(data: bytes, delim: str, ctx: _Ctx) -> bytes:
    """Rewrite a quoted CSV into plain delimited text (rare path)."""
    text = data.decode("utf-8")
    out = []
    try:
        for i, row in enumerate(csv.reader(io.StringIO(text), delimiter=delim, strict=True)):
            for cell in row:
                if delim in cell or "\n" in cell:
                    ctx.fail("quoted field contains the delimiter or a newline", line=i + 1)
            out.append(delim.join(row))
    except csv.Error as exc:
        ctx.fail(f"malformed quoting ({exc})")
    return ("\n".join(out) + "\n").encode("utf-8")


def _split(data: bytes, delim: str, ctx: _Ctx) -> _Table:
    if b'"' in data:
        data = _dequote(data, delim, ctx)
    end = len(data)
    while end and data[end - 1] == 10:  # trailing newlines, without copying the data
        end -= 1
    if not data[:4096].strip() and not data[:end].strip():
        ctx.fail("empty file")
    nl = data.find(b"\n", 0, end)
    header = data[:end] if nl < 0 else data[:nl]
    columns = tuple(c.strip() for c in header.decode("utf-8").split(delim))
    if len(set(columns)) != len(columns) or any(not c for c in columns):
        ctx.fail("header has empty or duplicated column names", line=1)
    if nl < 0:
        ctx.fail("no data rows after the header")
    pbuf = np.empty(end + 16, dtype=np.uint8)  # one copy, padded for _gather
    pbuf[:end] = np.frombuffer(data, dtype=np.uint8, count=end)
    pbuf[end:] = 10
    buf = pbuf[:end]
    ncol = len(columns)
    line_starts = np.concatenate(([nl + 1], np.flatnonzero(buf[nl + 1 :] == 10) + nl + 2))
    line_ends = np.concatenate((line_starts[1:] - 1, [buf.size]))
    dpos = np.flatnonzero(buf == ord(delim)) if len(delim) == 1 else None
    if dpos is None:
        ctx.fail("the delimiter must be a single character")
    dpos = dpos[dpos > nl]
    n = line_starts.size
    k = ncol - 1
    fast = None
    if k and dpos.size == k * n:
        grouped = dpos.reshape(n, k)  # fast check: group i of k delimiters lies in line i
        if np.all(grouped[:, 0] >= line_starts) and np.all(grouped[:, -1] < line_ends):
            first = np.arange(n) * k
            fast = grouped
        else:
            first = None
    else:
        first = None
    if first is None:
        first = np.searchsorted(dpos, line_starts)
        per_line = np.searchsorted(dpos, line_ends) - first
        bad = np.flatnonzero(per_line != k)
        if bad.size:
            r = int(bad[0])
            kind = (
                "empty line"
                if line_ends[r] == line_starts[r]
                else f"{per_line[r] + 1} fields, expected {ncol}"
            )
            ctx.fail(kind, line=_line(r))
    if ncol > 1:
        d = fast if fast is not None else dpos[first[:, None] + np.arange(k)[None, :]]
        starts = np.concatenate((line_starts[:, None], d + 1), axis=1)
        ends = np.concatenate((d, line_ends[:, None]), axis=1)
    else:
        starts, ends = line_starts[:, None], line_ends[:, None]
    return _Table(buf=buf, pbuf=pbuf, raw=data, starts=starts, ends=ends, columns=columns)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MDAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _gather(t: _Table, col: int, width: int) -> np.ndarray:
    """(width, n_rows) uint8 matrix of the first ``width`` bytes of a column (no index matrix)."""
    win = sliding_window_view(t.pbuf, width)[t.starts[:, col]]
    return np.ascontiguousarray(win.T)


def _fixed_timestamps(t: _Table, col: int) -> np.ndarray | None:
    """Vectorised parse of 'YYYY-MM-DD HH:MM[:SS]' (space or T). None = use the slow path."""
    widths = t.ends[:, col] - t.starts[:, col]
    w = int(widths[0]) if widths.size else 0
    if w not in (16, 19) or np.any(widths != w):
        return None
    m = _gather(t, col, w)
    digit_pos = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15] + ([17, 18] if w == 19 else [])
    dig8 = m[digit_pos] - np.uint8(_DIGIT0)  # uint8 wraps: non-digits become >= 10
    ok = np.all(dig8 <= 9, axis=0)
    dig = dig8.astype(np.int32)
    ok &= (m[4] == 45) & (m[7] == 45) & ((m[10] == 32) | (m[10] == 84)) & (m[13] == 58)
    if w == 19:
        ok &= m[16] == 58
    year = dig[0] * 1000 + dig[1] * 100 + dig[2] * 10 + dig[3]
    month = dig[4] * 10 + dig[5]
    day = dig[6] * 10 + dig[7]
    hour = dig[8] * 10 + dig[9]
    minute = dig[10] * 10 + dig[11]
    sec = dig[12] * 10 + dig[13] if w == 19 else 0
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    mdays = _MDAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= mdays)
    ok &= (hour < 24) & (minute < 60) & (sec < 60)
    if not ok.all():
        return None  # slow path names the offending line
    days = _days_from_civil(year, month, day).astype(np.int64)
    return days * 86400 + (hour * 3600 + minute * 60 + sec)


def _slow_timestamps(t: _Table, col: int, ctx: _Ctx) -> np.ndarray:
    values = t.strings(col)
    out = np.empty(len(values), dtype=np.int64)
    for i, s in enumerate(values):
        s2 = s.strip()
        try:
            if not s2 or s2.upper() == "NAT" or s2[-1:] in "Zz" or "+" in s2[10:]:
                raise ValueError
            if s2.count("-") > 2:
                raise ValueError
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # numpy warns (not fails) on time-zone suffixes
                v = np.datetime64(s2.replace(" ", "T"), "s")
        except (ValueError, OverflowError, UserWarning, DeprecationWarning):
            ctx.fail(
                "not a valid timestamp (expected YYYY-MM-DD HH:MM:SS, local time)",
                line=_line(i),
                column=t.columns[col],
            )
        if len(s2) < 10:
            ctx.fail("timestamp without a full date", line=_line(i), column=t.columns[col])
        out[i] = v.astype(np.int64)
    return out


def _fast_counts(t: _Table, col: int) -> np.ndarray | None:
    """Vectorised parse of non-negative integers (the usual case). None = use the slow path."""
    widths = t.ends[:, col] - t.starts[:, col]
    if widths.size == 0 or widths.min() < 1 or widths.max() > 15:
        return None
    maxw = int(widths.max())
    m = _gather(t, col, maxw).astype(np.int64) - _DIGIT0  # (maxw, n)
    valid = np.arange(maxw)[:, None] < widths[None, :]
    if not np.all(((m >= 0) & (m <= 9)) | ~valid):
        return None
    value = np.zeros(widths.size, dtype=np.int64)
    for j in range(maxw):  # Horner over byte positions; stops contributing past each width
        value = np.where(valid[j], value * 10 + m[j], value)
    return value.astype(np.float64)


def _slow_counts(t: _Table, col: int, ctx: _Ctx) -> np.ndarray:
    values = t.strings(col)
    out = np.empty(len(values), dtype=np.float64)
    for i, s in enumerate(values):
        try:
            v = float(s)
        except ValueError:
            ctx.fail("not a number", line=_line(i), column=t.columns[col])
        if not np.isfinite(v) or v < 0:
            ctx.fail("counts must be finite and >= 0", line=_line(i), column=t.columns[col])
        out[i] = v
    return out


def _col(t: _Table, name: str, ctx: _Ctx) -> int:
    if name not in t.columns:
        ctx.fail(f"missing column '{name}' (found: {', '.join(t.columns)})", line=1)
    return t.columns.index(name)


def _check_dates(t: _Table, col: int, ts_col: int, ts: np.ndarray, ctx: _Ctx) -> None:
    widths = t.ends[:, col] - t.starts[:, col]
    days = ts // 86400
    if np.all(widths == 10) and np.all(t.ends[:, ts_col] - t.starts[:, ts_col] >= 10):
        if np.array_equal(_gather(t, col, 10), _gather(t, ts_col, 10)):
            return
    for i, s in enumerate(t.strings(col)):
        try:
            d = np.datetime64(s.strip(), "D").astype(np.int64)
        except (ValueError, OverflowError):
            ctx.fail("not a valid date", line=_line(i), column=t.columns[col])
        if d != days[i]:
            ctx.fail("date does not match the timestamp", line=_line(i), column=t.columns[col])


def _check_date_limits(ts: np.ndarray, limits: DeviceLimits, ctx: _Ctx, column: str) -> None:
    """Every timestamp between the limits' earliest date and now + slack (names the line)."""
    lo = int((limits.earliest - _UNIX0).total_seconds())
    hi = int((limits.latest() - _UNIX0).total_seconds())
    bad = np.flatnonzero((ts < lo) | (ts > hi))
    if bad.size:
        ctx.fail(
            f"date outside the device limits ({limits.earliest:%Y-%m-%d}.."
            f"now+{limits.future_slack.days}d)",
            line=_line(int(bad[0])),
            column=column,
        )


def _drop_dst_repeat(ts: np.ndarray, ctx: _Ctx, column: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Rows to keep and notes: a backward step of exactly one hour (after a normal step) is a
    DST fall-back, whose repeated wall-clock hour is dropped; any other backward step fails."""
    keep = np.ones(ts.size, dtype=bool)
    diffs = np.diff(ts)
    back = np.flatnonzero(diffs <= 0)
    notes: list[str] = []
    for b in back.tolist():
        r = b + 1
        if not keep[b]:  # a duplicate/backward step inside an already repeated hour
            ctx.fail("timestamp earlier than the row before", line=_line(r), column=column)
        step = int(diffs[b - 1]) if b >= 1 else 0
        if step <= 0 or int(diffs[b]) != step - DST_SHIFT_S:
            kind = (
                "duplicated timestamp" if diffs[b] == 0 else "timestamp earlier than the row before"
            )
            ctx.fail(kind, line=_line(r), column=column)
        last = ts[b]
        j = r
        while j < ts.size and ts[j] <= last:
            keep[j] = False
            j += 1
        notes.append(
            f"lines {_line(r)}..{_line(j - 1)}: repeated wall-clock hour (DST fall-back) dropped"
        )
    kept = ts[keep]
    bad = np.flatnonzero(np.diff(kept) <= 0)
    if bad.size:  # a row inside a repeated hour stepped backwards: not a clean DST repeat
        r = int(np.flatnonzero(keep)[int(bad[0]) + 1])
        ctx.fail("timestamp earlier than the row before", line=_line(r), column=column)
    return keep, tuple(notes)


def _check_count_limits(
    counts: np.ndarray,
    rows: np.ndarray,
    epoch: int,
    limits: DeviceLimits,
    ctx: _Ctx,
    column: str,
) -> None:
    bad = np.flatnonzero(counts > limits.max_count(epoch))
    if bad.size:
        ctx.fail(
            f"count above the device maximum ({limits.max_counts_per_minute:g} per minute)",
            line=_line(int(rows[bad[0]])),
            column=column,
        )


def _to_minute_grid(
    ts: np.ndarray, counts: np.ndarray, epoch: int, ctx: _Ctx, ts_name: str, last_line: int
) -> tuple[int, np.ndarray]:
    t0 = int(ts[0])
    if epoch <= EPOCH_S:
        origin = t0 - (t0 % EPOCH_S) if epoch < EPOCH_S else t0
        idx = (ts - origin) // EPOCH_S
        n = int(idx[-1]) + 1
        if n > MAX_MINUTES:
            ctx.fail("recording spans more than six years", line=last_line, column=ts_name)
        if epoch == EPOCH_S:
            grid = np.full(n, np.nan)
            grid[idx] = counts
            return origin, grid
        k = EPOCH_S // epoch
        total = np.bincount(idx, weights=counts, minlength=n)
        seen = np.bincount(idx, minlength=n)
        return origin, np.where(seen == k, total, np.nan)
    k = epoch // EPOCH_S
    idx = (ts - t0) // EPOCH_S
    n = int(idx[-1]) + k
    if n > MAX_MINUTES:
        ctx.fail("recording spans more than six years", line=last_line, column=ts_name)
    grid = np.full(n, np.nan)
    grid[(idx[:, None] + np.arange(k)[None, :]).ravel()] = np.repeat(counts / k, k)
    return t0, grid


def import_csv(
    path: str | Path,
    mapping: ColumnMapping = DEPRESJON,
    label: str | None = None,
    nonwear_min_minutes: int = 90,
    limits: DeviceLimits = DEVICE_LIMITS,
) -> ActigraphyRecording:
    """Read an activity CSV (plain or gzip) into a validated minute-grid recording.

    Raises InputError (file, line, column) on any malformed input; returns nothing partial.
    The recording's ``source`` is ``label`` or a hash of the file content, never the filename.
    """
    p = Path(path)
    ctx = _Ctx(p.name)
    return parse_bytes(
        _read_bytes(p, ctx),
        name=p.name,
        mapping=mapping,
        label=label,
        nonwear_min_minutes=nonwear_min_minutes,
        limits=limits,
    )


def parse_bytes(
    raw: bytes,
    name: str = "<data>",
    mapping: ColumnMapping = DEPRESJON,
    label: str | None = None,
    nonwear_min_minutes: int = 90,
    limits: DeviceLimits = DEVICE_LIMITS,
) -> ActigraphyRecording:
    """Same as :func:`import_csv` for bytes already in memory (e.g. a dropped file)."""
    ctx = _Ctx(name)
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, ctx)
    raw = _check_encoding(raw, ctx)
    source = label or "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
    t = _split(raw, mapping.delimiter, ctx)
    ts_col = _col(t, mapping.timestamp, ctx)
    c_col = _col(t, mapping.counts, ctx)
    ts = _fixed_timestamps(t, ts_col)
    if ts is None:
        ts = _slow_timestamps(t, ts_col, ctx)
    _check_date_limits(ts, limits, ctx, mapping.timestamp)
    counts = _fast_counts(t, c_col)
    if counts is None:
        counts = _slow_counts(t, c_col, ctx)
    if mapping.date is not None:
        _check_dates(t, _col(t, mapping.date, ctx), ts_col, ts, ctx)
    notes: tuple[str, ...] = ()
    rows = np.arange(ts.size)  # original row of each kept reading, for error lines
    if np.any(np.diff(ts) <= 0):
        keep, notes = _drop_dst_repeat(ts, ctx, mapping.timestamp)
        ts, counts, rows = ts[keep], counts[keep], rows[keep]
    diffs = np.diff(ts)
    if mapping.epoch_s is not None:
        epoch = int(mapping.epoch_s)
    elif diffs.size:
        short = diffs[diffs <= 3600]  # the most common step is the epoch (gaps are longer)
        epoch = int(np.bincount(short).argmax()) if short.size else int(diffs.min())
    else:
        epoch = EPOCH_S
    if epoch not in limits.epochs_s:
        ctx.fail(
            f"epoch of {epoch} s is outside the device limits (allowed: "
            f"{', '.join(str(e) for e in limits.epochs_s)} s)",
            column=mapping.timestamp,
        )
    _check_count_limits(counts, rows, epoch, limits, ctx, mapping.counts)
    off = np.flatnonzero((ts - ts[0]) % epoch != 0)
    if off.size:
        ctx.fail(
            f"timestamp is off the {epoch} s epoch grid",
            line=_line(int(rows[off[0]])),
            column=mapping.timestamp,
        )
    origin, grid = _to_minute_grid(ts, counts, epoch, ctx, mapping.timestamp, _line(int(rows[-1])))
    over = np.flatnonzero(grid > limits.max_counts_per_minute)
    if over.size:  # sub-minute epochs summed into one minute above the device maximum
        row = int(rows[np.searchsorted(ts, origin + int(over[0]) * EPOCH_S)])
        ctx.fail(
            f"counts summed per minute above the device maximum "
            f"({limits.max_counts_per_minute:g} per minute)",
            line=_line(row),
            column=mapping.counts,
        )
    start = datetime(1970, 1, 1) + np.timedelta64(origin, "s").astype(object)
    nonwear = detect_nonwear(grid, min_minutes=nonwear_min_minutes)
    return ActigraphyRecording(
        start=start,
        counts=grid,
        nonwear=nonwear,
        source=source,
        original_epoch_s=epoch,
        notes=notes,
    )
