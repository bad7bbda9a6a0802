"""The two large reads of the clinic dashboard (scheduled assessments, risk predictions) kept
as sorted NumPy arrays per open store, so a filter change is arithmetic, not a scan.

At 10,000 patients and two years these are about a million index entries and 130,000 rows:
each read costs a second or more on an encrypted store, while the figures a filter asks of
them (windows done per patient, last administration, latest band at a date) take
milliseconds on arrays sorted by (patient, time). An entry is rebuilt when the table's
newest row changes (``MAX(rowid)``: a new record, here or merged by sync) or when a
PatientDataUpdated event for either record type was published since it was built (a
tombstone or an edit). Times are whole seconds since the epoch, UTC.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.events import PatientDataUpdated
from app.core.store.store import Store
from app.services.context import AppContext

SCHEDULED = ("phq9", "gad7")
_SPAN = np.int64(1) << 40  # seconds per key block: patient code * _SPAN + time


@dataclass(frozen=True)
class Sorted:
    """Rows as parallel arrays sorted by (group, time); ``codes`` maps patient id → code."""

    codes: dict[str, int]
    group: np.ndarray  # int64: patient code (times the instruments, plus the instrument)
    time: np.ndarray  # int64 seconds
    value: np.ndarray  # int8: instrument code or band code
    token: int

    def key(self) -> np.ndarray:
        return self.group * _SPAN + self.time


@dataclass
class _Entry:
    assessments: Sorted | None = None
    predictions: dict[str, Sorted] | None = None
    dirty_assessments: bool = True
    dirty_predictions: bool = True
    unsubscribe: object = None
    building: set[str] = field(default_factory=set)
    # one build of each array set at a time: a caller that waits while the background build
    # runs gets its result instead of scanning the table a second time
    assessments_lock: threading.Lock = field(default_factory=threading.Lock)
    predictions_lock: threading.Lock = field(default_factory=threading.Lock)


log = logging.getLogger(__name__)
_entries: weakref.WeakKeyDictionary[Store, _Entry] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _entry(ctx: AppContext) -> _Entry:
    with _lock:
        entry = _entries.get(ctx.store)
        if entry is None:
            entry = _Entry()

            def changed(event: PatientDataUpdated, e: _Entry = entry) -> None:
                kind = str(event.record_type)
                if kind in ("assessment", "assessment_responses"):
                    e.dirty_assessments = True
                if kind in ("prediction", "predictions"):
                    e.dirty_predictions = True

            entry.unsubscribe = ctx.bus.subscribe(PatientDataUpdated, changed)
            _entries[ctx.store] = entry
        return entry


def _newest(session: Session, table: str) -> int:
    sql = f"SELECT COALESCE(MAX(rowid), 0) FROM {table}"  # noqa: S608  # nosec B608 — a fixed table name
    return int(session.execute(text(sql)).scalar_one())


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

    threading.Thread(target=run, name=f"dashboard-cache-{name}", daemon=True).start()


def assessments(ctx: AppContext, *, wait: bool = True) -> Sorted | None:
    """Every scheduled administration (from the covering index), sorted by (patient ×
    instrument, time); group = patient code * 2 + instrument code. With ``wait=False``: None
    unless current, and a build starts in the background."""
    entry = _entry(ctx)

    def current(session: Session) -> tuple[int, Sorted | None]:
        token = _newest(session, "assessment_responses")
        cached = entry.assessments
        ok = cached is not None and not entry.dirty_assessments and cached.token == token
        return token, cached if ok else None

    token, cached = ctx.store.read(current)
    if cached is not None:
        return cached
    if not wait:
        _background(entry, "assessments", lambda: assessments(ctx))
        return None

    def build(session: Session) -> Sorted:
        token, cached = current(session)  # built meanwhile by the holder of the lock?
        if cached is not None:
            return cached
        entry.dirty_assessments = False
        sql = (
            "SELECT patient_id, instrument = 'gad7',"
            " CAST(ROUND((julianday(administered_at) - 2440587.5) * 86400) AS INTEGER)"
            " FROM assessment_responses WHERE instrument IN ('phq9', 'gad7')"
            " AND deleted_at IS NULL"
        )
        built = _sorted(_chunks(session, sql, ()), token, groups=2)
        entry.assessments = built
        return built

    with entry.assessments_lock:
        return ctx.store.read(build)


def predictions(
    ctx: AppContext, target: str, bands: tuple[str, ...], *, wait: bool = True
) -> Sorted | None:
    """Every stored prediction for ``target`` without a treatment option and not deleted,
    sorted by (patient, time); value = the band's index in ``bands`` (len(bands) if other).
    ``wait`` as for `assessments`."""
    entry = _entry(ctx)

    def current(session: Session) -> tuple[int, Sorted | None]:
        token = _newest(session, "predictions")
        cache = entry.predictions or {}
        if entry.dirty_predictions or any(s.token != token for s in cache.values()):
            cache = {}
        entry.predictions, entry.dirty_predictions = cache, False
        return token, cache.get(target)

    token, cached = ctx.store.read(current)
    if cached is not None:
        return cached
    if not wait:
        _background(entry, f"predictions:{target}", lambda: predictions(ctx, target, bands))
        return None

    def build(session: Session) -> Sorted:
        token, cached = current(session)  # built meanwhile by the holder of the lock?
        if cached is not None:
            return cached
        sql = (
            "SELECT patient_id, band,"
            " CAST(ROUND((julianday(generated_at) - 2440587.5) * 86400) AS INTEGER)"
            " FROM predictions WHERE deleted_at IS NULL AND target = ? AND option IS NULL"
        )
        code = {b: i for i, b in enumerate(bands)}
        chunks = (
            [(pid, code.get(band, len(bands)), t) for pid, band, t in rows]
            for rows in _chunks(session, sql, (target,))
        )
        built = _sorted(chunks, token, groups=1)
        if entry.predictions is not None:
            entry.predictions[target] = built
        return built

    with entry.predictions_lock:
        return ctx.store.read(build)


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


def _sorted(chunks: Iterable[list[tuple[Any, ...]]], token: int, *, groups: int) -> Sorted:
    """(patient id, value, seconds) rows as arrays sorted by (group, time), converted one
    chunk at a time so the peak is one chunk of tuples plus the arrays."""
    codes: dict[str, int] = {}
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for rows in chunks:
        pcode = np.fromiter((codes.setdefault(r[0], len(codes)) for r in rows), np.int64, len(rows))
        value = np.fromiter((r[1] for r in rows), np.int8, len(rows))
        time_ = np.fromiter((r[2] for r in rows), np.int64, len(rows))
        parts.append((pcode, value, time_))
    if not parts:
        empty = np.zeros(0, np.int64)
        return Sorted({}, empty, empty, np.zeros(0, np.int8), token)
    pcode, value, time_ = (np.concatenate(x) for x in zip(*parts, strict=True))
    group = pcode * groups + (value.astype(np.int64) if groups > 1 else 0)
    order = np.lexsort((time_, group))
    return Sorted(codes, group[order], time_[order], value[order], token)


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
    in_scope = np.zeros(int(max(a.group.max(), g.max())) + 1, dtype=bool)
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
    if codes.size == 0:
        return counts
    key = p.key()
    for row, c in enumerate(points):
        idx = np.searchsorted(key, codes * _SPAN + seconds(c), side="left") - 1
        ok = (idx >= 0) & (p.group[np.maximum(idx, 0)] == codes)
        counts[row] = np.bincount(p.value[idx[ok]], minlength=n_bands + 1)[: n_bands + 1]
    return counts
