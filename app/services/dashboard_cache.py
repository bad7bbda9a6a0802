"""The two large reads of the clinic dashboard (scheduled assessments, risk predictions) kept
as sorted NumPy arrays per open store, so a filter change is arithmetic, not a scan, and kept
in the store itself (migration 0012), so a new process does not scan them again.

At 10,000 patients and two years these are about a million index entries and 130,000 rows:
reading them costs seconds on an encrypted store, while the figures a filter asks of them
(windows done per patient, last administration, latest band at a date) take milliseconds on
arrays sorted by (patient, time). Each array set is as of its table's newest rowid (``token``)
and the change log's sequence (``seq``: triggers log the patient of every edit of a column the
arrays read and of every deletion, whoever writes). Bringing a set current reads only what
changed: rows above the token (inserts) and the logged patients' rows, merged in without a
re-sort. The first use in a process loads the stored snapshot (one blob) and catches up; a
full read happens only without a usable snapshot (none yet, another layout, a corrupt payload,
rows renumbered by a restore, the log pruned past it, or the newest row deleted so its rowid
may be handed out again). A fresh snapshot is stored on a background write after a full read
or once enough has changed since the stored one. Times are whole seconds since the epoch, UTC.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import weakref
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.store.store import Store, UnitOfWork
from app.services.context import AppContext

SCHEDULED = ("phq9", "gad7")
_SPAN = np.int64(1) << 40  # seconds per key block: patient code * _SPAN + time
LAYOUT = 1  # the packed payload's layout: a stored snapshot of another layout is rebuilt
PERSIST_AFTER = 5_000  # rows read since the stored snapshot that make storing a fresh one pay
REBUILD_SHARE = 4  # more changed patients than 1/REBUILD_SHARE of the set: read it all again
PRUNED = "~pruned:"  # + table: the snapshot row whose change_seq is how far its log was pruned
COMPRESS = False  # zlib on the payload (measured: see docs/bench/dashboard.md)


@dataclass(frozen=True)
class Sorted:
    """Rows as parallel arrays sorted by (group, time); ``codes`` maps patient id → code."""

    codes: dict[str, int]
    group: np.ndarray  # int64: patient code (times the instruments, plus the instrument)
    time: np.ndarray  # int64 seconds
    value: np.ndarray  # int8: instrument code or band code
    token: int  # MAX(rowid) of the source table when read
    seq: int = 0  # the change log's sequence included
    token_id: str = ""  # the id of the row at rowid ``token`` (a renumbered file is detected)

    def key(self) -> np.ndarray:
        return self.group * _SPAN + self.time


@dataclass(frozen=True)
class _Spec:
    """One array set: its snapshot name, source table and the columns it reads."""

    name: str
    table: str
    columns: str  # patient id, value, seconds
    where: str
    params: tuple[Any, ...]
    groups: int
    bands: tuple[str, ...] = ()

    def rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.bands:
            return rows
        code = {b: i for i, b in enumerate(self.bands)}
        return [(pid, code.get(band, len(self.bands)), t) for pid, band, t in rows]

    def sql(self, extra: str = "", *, table: str | None = None) -> str:
        src = table or self.table
        return f"SELECT {self.columns} FROM {src} WHERE {extra}{self.where}"  # noqa: S608  # nosec B608 — constants


def _seconds_of(column: str) -> str:
    return f"CAST(ROUND((julianday({column}) - 2440587.5) * 86400) AS INTEGER)"


ASSESSMENTS = _Spec(
    name="assessments",
    table="assessment_responses",
    columns="patient_id, instrument = 'gad7', " + _seconds_of("administered_at"),
    where="instrument IN ('phq9', 'gad7') AND deleted_at IS NULL",
    params=(),
    groups=2,
)


def _predictions_spec(target: str, bands: tuple[str, ...]) -> _Spec:
    return _Spec(
        name=f"predictions:{target}",
        table="predictions",
        columns="patient_id, band, " + _seconds_of("generated_at"),
        where="deleted_at IS NULL AND target = ? AND option IS NULL",
        params=(target,),
        groups=1,
        bands=tuple(bands),
    )


@dataclass
class _Entry:
    sets: dict[tuple[str, tuple[str, ...]], Sorted] = field(default_factory=dict)
    stored: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (seq, token)
    since_stored: Counter[str] = field(default_factory=Counter)  # rows read since stored
    force: set[str] = field(default_factory=set)  # the stored payload is unusable: replace it
    building: set[str] = field(default_factory=set)
    storing: set[str] = field(default_factory=set)
    threads: list[threading.Thread] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    # one build of each array set at a time: a caller that waits while the background build
    # runs gets its result instead of scanning the table a second time
    locks: dict[str, threading.Lock] = field(default_factory=dict)

    def lock(self, name: str) -> threading.Lock:
        with _lock:
            return self.locks.setdefault(name, threading.Lock())


log = logging.getLogger(__name__)
_entries: weakref.WeakKeyDictionary[Store, _Entry] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _entry(ctx: AppContext) -> _Entry:
    with _lock:
        entry = _entries.get(ctx.store)
        if entry is None:
            entry = _entries[ctx.store] = _Entry()
        return entry


def stats(ctx: AppContext) -> dict[str, int]:
    """How this process got its array sets: ``rebuilt`` (a full read), ``loaded`` (a stored
    snapshot), ``caught_up`` (changes merged in), ``stored`` (snapshots written)."""
    return dict(_entry(ctx).stats)


def flush(ctx: AppContext, timeout: float = 60.0) -> None:
    """Wait for this store's background builds and snapshot writes (tests, benchmarks, exit)."""
    entry = _entry(ctx)
    while True:
        with _lock:
            alive = [t for t in entry.threads if t.is_alive()]
            entry.threads = alive
        if not alive:
            return
        for t in alive:
            t.join(timeout)


def _spawn(entry: _Entry, name: str, fn: Callable[[], None]) -> None:
    thread = threading.Thread(target=fn, name=f"dashboard-cache-{name}", daemon=True)
    with _lock:
        entry.threads.append(thread)
    thread.start()


def _background(entry: _Entry, name: str, build: Callable[[], object]) -> None:
    """Build one array set on a daemon thread, once at a time (the caller reads by SQL
    meanwhile); a failure is logged by class only and the next call tries again."""
    with _lock:
        if name in entry.building:
            return
        entry.building.add(name)

    def run() -> None:
        try:
            build()
        except Exception as exc:  # noqa: BLE001 — a warm-up; the SQL path answers meanwhile
            log.warning("dashboard cache %s not built: %s", name, type(exc).__name__)
        finally:
            with _lock:
                entry.building.discard(name)

    _spawn(entry, name, run)


def assessments(ctx: AppContext, *, wait: bool = True) -> Sorted | None:
    """Every scheduled administration (from the covering index), sorted by (patient ×
    instrument, time); group = patient code * 2 + instrument code. With ``wait=False``: None
    unless current, and a build starts in the background."""
    return _get(ctx, ASSESSMENTS, wait)


def predictions(
    ctx: AppContext, target: str, bands: tuple[str, ...], *, wait: bool = True
) -> Sorted | None:
    """Every stored prediction for ``target`` without a treatment option and not deleted,
    sorted by (patient, time); value = the band's index in ``bands`` (len(bands) if other).
    ``wait`` as for `assessments`."""
    return _get(ctx, _predictions_spec(target, bands), wait)


def _get(ctx: AppContext, spec: _Spec, wait: bool) -> Sorted | None:
    entry = _entry(ctx)
    key = (spec.name, spec.bands)
    cached = entry.sets.get(key)
    if cached is not None and ctx.store.read(lambda s: _now(s, spec)) == (cached.token, cached.seq):
        return cached
    if not wait:
        _background(entry, spec.name, lambda: _get(ctx, spec, True))
        return None
    with entry.lock(spec.name):
        out, how, read = ctx.store.read(lambda s: _refresh(s, spec, entry, entry.sets.get(key)))
        entry.sets[key] = out
        if how == "current":
            return out
        with _lock:
            entry.stats[how] += 1
            if how == "rebuilt":  # nothing stored matches it: worth storing
                entry.since_stored[spec.name] = PERSIST_AFTER
            else:
                entry.since_stored[spec.name] += read
            due = entry.since_stored[spec.name] >= PERSIST_AFTER
        if due and entry.stored.get(spec.name) != (out.seq, out.token):
            _store_later(ctx, entry, spec, out)
    return out


# -- bringing a set current -------------------------------------------------------------------
def _now(session: Session, spec: _Spec) -> tuple[int, int]:
    """(MAX(rowid) of the table, the change log's sequence): what a current set was read at."""
    sql = f"SELECT COALESCE(MAX(rowid), 0) FROM {spec.table}"  # noqa: S608  # nosec B608 — constant
    token = int(session.execute(text(sql)).scalar_one())
    seq = session.execute(
        text("SELECT seq FROM sqlite_sequence WHERE name = 'dashboard_changes'")
    ).scalar()
    return token, int(seq or 0)


def _pruned(session: Session, spec: _Spec) -> int:
    mark = session.execute(
        text("SELECT change_seq FROM dashboard_snapshots WHERE name = :n"),
        {"n": PRUNED + spec.table},
    ).scalar()
    return int(mark or 0)


def _refresh(
    session: Session, spec: _Spec, entry: _Entry, cached: Sorted | None
) -> tuple[Sorted, str, int]:
    """The set as of this read: (arrays, how they were got, rows read). One read transaction,
    so the token, the log and the rows are one consistent snapshot of the store."""
    token, seq = _now(session, spec)
    if cached is not None and (cached.token, cached.seq) == (token, seq):
        return cached, "current", 0  # built meanwhile by the holder of the lock
    pruned = _pruned(session, spec)
    how = "caught_up"
    base = cached if cached is not None and pruned <= cached.seq <= seq else None
    if base is None:
        base, how = _load(session, spec, entry, pruned, seq), "loaded"
    if base is not None:
        caught = _catch_up(session, spec, base, token, seq)
        if caught is not None:
            return caught[0], how, caught[1]
    built = _build(session, spec, token, seq)
    return built, "rebuilt", built.group.size


def _build(session: Session, spec: _Spec, token: int, seq: int) -> Sorted:
    chunks = (spec.rows(rows) for rows in _chunks(session, spec.sql(), spec.params))
    codes: dict[str, int] = {}
    group, time_, value = _arrays(chunks, codes, spec.groups)
    order = np.lexsort((time_, group))
    return Sorted(codes, group[order], time_[order], value[order], token, seq,
                  _id_at(session, spec, token))  # fmt: skip


def _id_at(session: Session, spec: _Spec, rowid: int) -> str:
    sql = f"SELECT id FROM {spec.table} WHERE rowid = :r"  # noqa: S608  # nosec B608 — constant
    return str(session.execute(text(sql), {"r": rowid}).scalar() or "")


def _catch_up(
    session: Session, spec: _Spec, base: Sorted, token: int, seq: int
) -> tuple[Sorted, int] | None:
    """``base`` with the rows inserted above its token and the logged patients' rows read
    again; None when only a full read is right (the base's newest row was deleted: SQLite may
    hand its rowid, or lower ones, to new rows; too many patients changed)."""
    changes = session.execute(
        text("SELECT patient_id, row_id FROM dashboard_changes WHERE seq > :s AND name = :n"),
        {"s": base.seq, "n": spec.table},
    ).all()
    if token < base.token or any(r[1] is not None and r[1] >= base.token for r in changes):
        return None
    if base.token and _id_at(session, spec, base.token) != base.token_id:
        return None  # rows renumbered (a rowid rewritten by hand): nothing above is "new"
    dirty = {r[0] for r in changes if r[0] is not None}
    if len(dirty) * REBUILD_SHARE > max(len(base.codes), 1) and len(dirty) > 100:
        return None
    rows: list[tuple[Any, ...]] = []
    if token > base.token:  # inserts: the rowid range above the token, not the whole index
        new = _fetch(session, spec.sql("rowid > ? AND ", table=f"{spec.table} NOT INDEXED"),
                     (base.token, *spec.params))  # fmt: skip
        rows += [r for r in spec.rows(new) if r[0] not in dirty]
    if dirty:
        sql = spec.sql("patient_id IN (SELECT value FROM json_each(?)) AND ")
        rows += spec.rows(_fetch(session, sql, (json.dumps(sorted(dirty)), *spec.params)))
    tid = base.token_id if token == base.token else _id_at(session, spec, token)
    return _merge(base, spec.groups, dirty, rows, token, seq, tid), len(rows) + len(dirty)


def _merge(
    base: Sorted,
    groups: int,
    dirty: set[str],
    rows: list[tuple[Any, ...]],
    token: int,
    seq: int,
    token_id: str,
) -> Sorted:
    """Drop the dirty patients' entries, then insert ``rows`` at their sorted places (a new
    row after the entries with its key, as a full read in rowid order would place it)."""
    codes = dict(base.codes)
    g, t, v = base.group, base.time, base.value
    gone = [codes[p] for p in dirty if p in codes]
    if gone and g.size:
        flag = np.zeros(len(codes), dtype=bool)
        flag[gone] = True
        keep = ~flag[g // groups]
        g, t, v = g[keep], t[keep], v[keep]
    if rows:
        ag, at, av = _arrays([rows], codes, groups)
        order = np.lexsort((at, ag))
        ag, at, av = ag[order], at[order], av[order]
        pos = np.searchsorted(g * _SPAN + t, ag * _SPAN + at, side="right")
        g, t, v = np.insert(g, pos, ag), np.insert(t, pos, at), np.insert(v, pos, av)
    return Sorted(codes, g, t, v, token, seq, token_id)


CHUNK = 100_000  # rows converted at a time: a million Python tuples at once is ~200 MB


def _chunks(session: Session, sql: str, params: tuple[Any, ...]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows straight from the driver's cursor (no SQLAlchemy Row each), CHUNK at a time."""
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(CHUNK):
            yield rows
    finally:
        cursor.close()


def _fetch(session: Session, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return [r for rows in _chunks(session, sql, params) for r in rows]


def _arrays(
    chunks: Iterable[list[tuple[Any, ...]]], codes: dict[str, int], groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(patient id, value, seconds) rows as unsorted (group, time, value) arrays, converted
    one chunk at a time so the peak is one chunk of tuples plus the arrays; new patients get
    the next codes in ``codes``."""
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for rows in chunks:
        pcode = np.fromiter((codes.setdefault(r[0], len(codes)) for r in rows), np.int64, len(rows))
        value = np.fromiter((r[1] for r in rows), np.int8, len(rows))
        time_ = np.fromiter((r[2] for r in rows), np.int64, len(rows))
        parts.append((pcode, value, time_))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8)
    pcode, value, time_ = (np.concatenate(x) for x in zip(*parts, strict=True))
    group = pcode * groups + (value.astype(np.int64) if groups > 1 else 0)
    return group, time_, value


# -- the stored snapshot ----------------------------------------------------------------------
class _UnusableError(ValueError):
    """A stored snapshot that cannot be used; the message says why (no PHI)."""


def pack(spec_name: str, s: Sorted, groups: int, bands: tuple[str, ...]) -> bytes:
    """The arrays as one blob: a JSON header, the patient ids in code order, the groups as
    runs (distinct group, count), the times (int32 while they fit) and the values."""
    ids = "\n".join(sorted(s.codes, key=s.codes.__getitem__)).encode()
    runs = np.flatnonzero(np.diff(s.group)) + 1 if s.group.size else np.zeros(0, np.int64)
    starts = np.concatenate(([0], runs)) if s.group.size else runs
    ug = s.group[starts]
    counts = np.diff(np.append(starts, s.group.size))
    small = s.time.size == 0 or (s.time.min() >= -(2**31) and s.time.max() < 2**31)
    tdt = "<i4" if small else "<i8"
    parts = [ids, ug.astype("<i8").tobytes(), counts.astype("<i4").tobytes(),
             s.time.astype(tdt).tobytes(), s.value.astype("i1").tobytes()]  # fmt: skip
    header = {
        "layout": LAYOUT, "name": spec_name, "groups": groups, "bands": list(bands),
        "token": s.token, "seq": s.seq, "token_id": s.token_id, "n": int(s.group.size),
        "patients": len(s.codes), "time": tdt, "sizes": [len(p) for p in parts],
        "zlib": COMPRESS,
    }  # fmt: skip
    body = b"".join(parts)
    if COMPRESS:
        body = zlib.compress(body, 1)
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + body


def unpack(blob: bytes, spec_name: str, groups: int, bands: tuple[str, ...]) -> Sorted:
    """`pack`'s blob back as arrays, checked (sizes, order); `_UnusableError` says what is wrong."""
    try:
        (hlen,) = struct.unpack_from("<I", blob)
        header = json.loads(bytes(blob[4 : 4 + hlen]))
        if header.get("layout") != LAYOUT:
            raise _UnusableError(f"layout {header.get('layout')}, this build reads {LAYOUT}")
        if (header["name"], header["groups"], tuple(header["bands"])) != (spec_name, groups, bands):
            raise _UnusableError("made for another array set")
        body = memoryview(blob)[4 + hlen :]
        if header["zlib"]:
            body = memoryview(zlib.decompress(body))
        sizes = header["sizes"]
        if sum(sizes) != len(body):
            raise _UnusableError("truncated")
        cuts = np.cumsum([0, *sizes])
        part = [body[cuts[i] : cuts[i + 1]] for i in range(len(sizes))]
        text_ = bytes(part[0]).decode()
        ids = text_.split("\n") if text_ else []
        ug = np.frombuffer(part[1], "<i8").astype(np.int64)
        counts = np.frombuffer(part[2], "<i4")
        group = np.repeat(ug, counts)
        time_ = np.frombuffer(part[3], header["time"]).astype(np.int64)
        value = np.frombuffer(part[4], "i1")
    except _UnusableError:
        raise
    except (ValueError, KeyError, TypeError, IndexError, struct.error, zlib.error) as exc:
        raise _UnusableError(f"unreadable ({type(exc).__name__})") from None
    n = int(header["n"])
    if not (group.size == time_.size == value.size == n) or len(ids) != header["patients"]:
        raise _UnusableError("sizes disagree")
    key = group * _SPAN + time_
    if n and (np.any(np.diff(key) < 0) or ug.min() < 0 or ug.max() >= len(ids) * groups):
        raise _UnusableError("out of order")
    codes = {pid: i for i, pid in enumerate(ids)}
    return Sorted(codes, group, time_, value, int(header["token"]), int(header["seq"]),
                  str(header["token_id"]))  # fmt: skip


def _load(session: Session, spec: _Spec, entry: _Entry, pruned: int, seq: int) -> Sorted | None:
    """The stored snapshot, if it can be caught up from here; why not is logged (no PHI)."""
    row = session.execute(
        text(
            "SELECT source_rowid, change_seq, layout, payload FROM dashboard_snapshots"
            " WHERE name = :n"
        ),
        {"n": spec.name},
    ).first()
    if row is None:
        return None
    try:
        if row.layout != LAYOUT:
            raise _UnusableError(f"layout {row.layout}, this build reads {LAYOUT}")
        if not pruned <= row.change_seq <= seq:
            raise _UnusableError("the change log no longer covers it")
        s = unpack(row.payload, spec.name, spec.groups, spec.bands)
        if (s.token, s.seq) != (row.source_rowid, row.change_seq):
            raise _UnusableError("its header disagrees with its row")
        if s.token and _id_at(session, spec, s.token) != s.token_id:
            raise _UnusableError("the table's rows were renumbered or its newest row deleted")
    except _UnusableError as why:
        log.warning("dashboard snapshot %s unusable (%s): reading it all again", spec.name, why)
        entry.force.add(spec.name)
        return None
    entry.stored[spec.name] = (s.seq, s.token)
    entry.since_stored[spec.name] = 0
    return s


def _store_later(ctx: AppContext, entry: _Entry, spec: _Spec, s: Sorted) -> None:
    """Write ``s`` as the stored snapshot on a background thread (once at a time per set); a
    failure is logged by class name and changes nothing the dashboard reads."""
    with _lock:
        if spec.name in entry.storing:
            return
        entry.storing.add(spec.name)

    def run() -> None:
        try:
            blob = pack(spec.name, s, spec.groups, spec.bands)
            force = spec.name in entry.force
            ctx.store.write(lambda uow: _save(uow, spec, s, blob, force=force))
            with _lock:
                entry.force.discard(spec.name)
                entry.stored[spec.name] = (s.seq, s.token)
                entry.since_stored[spec.name] = 0
                entry.stats["stored"] += 1
        except Exception as exc:  # noqa: BLE001 — the arrays in memory serve meanwhile
            log.warning("dashboard snapshot %s not stored: %s", spec.name, type(exc).__name__)
        finally:
            with _lock:
                entry.storing.discard(spec.name)

    _spawn(entry, "store-" + spec.name, run)


def _save(uow: UnitOfWork, spec: _Spec, s: Sorted, blob: bytes, *, force: bool) -> None:
    """Upsert the snapshot (never over a newer one, unless the stored one is unusable), then
    prune the table's change log up to the oldest snapshot that reads it."""
    session = uow.session
    session.execute(
        text(
            "INSERT INTO dashboard_snapshots (name, source_rowid, change_seq, layout, built_at,"
            " payload) VALUES (:n, :t, :s, :l, :b, :p) ON CONFLICT(name) DO UPDATE SET"
            " source_rowid = excluded.source_rowid, change_seq = excluded.change_seq,"
            " layout = excluded.layout, built_at = excluded.built_at, payload = excluded.payload"
            " WHERE :force OR dashboard_snapshots.layout != excluded.layout"
            " OR (excluded.change_seq, excluded.source_rowid)"
            " >= (dashboard_snapshots.change_seq, dashboard_snapshots.source_rowid)"
        ),
        {
            "n": spec.name,
            "t": s.token,
            "s": s.seq,
            "l": LAYOUT,
            "p": blob,
            "force": force,
            "b": datetime.now(UTC).isoformat(timespec="seconds"),
        },  # fmt: skip
    )
    like = "predictions:%" if spec.table == "predictions" else ASSESSMENTS.name
    oldest = session.execute(
        text("SELECT MIN(change_seq) FROM dashboard_snapshots WHERE name LIKE :like"),
        {"like": like},
    ).scalar()
    mark = PRUNED + spec.table
    done = session.execute(
        text("SELECT change_seq FROM dashboard_snapshots WHERE name = :n"), {"n": mark}
    ).scalar()
    if oldest is None or int(oldest) <= int(done or 0):
        return
    session.execute(
        text("DELETE FROM dashboard_changes WHERE name = :t AND seq <= :s"),
        {"t": spec.table, "s": int(oldest)},
    )
    session.execute(
        text(
            "INSERT INTO dashboard_snapshots (name, source_rowid, change_seq, layout, built_at,"
            " payload) VALUES (:n, 0, :s, :l, :b, x'') ON CONFLICT(name) DO UPDATE SET"
            " change_seq = excluded.change_seq, built_at = excluded.built_at"
        ),
        {
            "n": mark,
            "s": int(oldest),
            "l": LAYOUT,
            "b": datetime.now(UTC).isoformat(timespec="seconds"),
        },  # fmt: skip
    )


# -- the figures ------------------------------------------------------------------------------
def seconds(when: datetime) -> int:
    return int(when.timestamp())


def windows_and_last(
    a: Sorted, ids: Collection[str], start: datetime, end: datetime, asof: datetime, every: int
) -> tuple[list[tuple[str, str, int]], dict[tuple[str, str], int]]:
    """For the scope's (patient, instrument) pairs: the ``every``-day windows from ``start``
    with an administration in [start, end), and the last administration before ``asof``
    (seconds), as `dashboard_metrics.windows_done` / `last_administered` compute them."""
    pairs = [(pid, i, a.codes[pid] * 2 + i) for pid in ids if pid in a.codes for i in (0, 1)]
    if not pairs:
        return [], {}
    g = np.array([p[2] for p in pairs], dtype=np.int64)
    key = a.key()
    idx = np.searchsorted(key, g * _SPAN + seconds(asof), side="left") - 1
    ok = (idx >= 0) & (a.group[np.maximum(idx, 0)] == g)
    last_t = np.where(ok, a.time[np.maximum(idx, 0)], -1)
    top = int(a.group.max()) if a.group.size else 0
    in_scope = np.zeros(max(top, int(g.max())) + 1, dtype=bool)
    in_scope[g] = True
    s0, s1 = seconds(start), seconds(end)
    mask = (a.time >= s0) & (a.time < s1) & in_scope[a.group]
    grp = a.group[mask]
    win = (a.time[mask] - s0) // (every * 86400)
    comb = grp * 4096 + win
    first = np.ones(comb.size, dtype=bool)
    first[1:] = comb[1:] != comb[:-1]
    counts = np.bincount(grp[first], minlength=in_scope.size)
    done = [(pid, SCHEDULED[i], int(counts[c])) for pid, i, c in pairs if counts[c]]
    last = {(pid, SCHEDULED[i]): int(t) for (pid, i, _c), t in zip(pairs, last_t, strict=True)
            if t >= 0}  # fmt: skip
    return done, last


def bands_at(p: Sorted, ids: Collection[str], points: list[datetime], n_bands: int) -> np.ndarray:
    """Patients per (point, band; the last column: other bands) by their latest prediction
    strictly before each point."""
    counts = np.zeros((len(points), n_bands + 1), dtype=np.int64)
    codes = np.array([p.codes[i] for i in ids if i in p.codes], dtype=np.int64)
    if codes.size == 0 or p.group.size == 0:
        return counts
    key = p.key()
    for row, c in enumerate(points):
        idx = np.searchsorted(key, codes * _SPAN + seconds(c), side="left") - 1
        ok = (idx >= 0) & (p.group[np.maximum(idx, 0)] == codes)
        counts[row] = np.bincount(p.value[idx[ok]], minlength=n_bands + 1)[: n_bands + 1]
    return counts
