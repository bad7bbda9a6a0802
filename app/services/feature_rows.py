"""Per-patient feature rows: a whole caseload's model inputs from one read of one table.

A row (store table ``patient_feature_rows``, migration 0010) holds what the feature assembly
gives for a patient when every record is in the past — the static inputs in key order — plus the
raw values of the inputs that move with the prediction time (birth day, first PHQ-9, the PHQ-9
points of the last 8 weeks, the last discharge) and the time from which it is valid (the newest
input time, and the day after the last medication end). ``features_from_rows`` finishes valid
rows for ``now`` with numpy; anything else is assembled from the records.

Never a wrong answer: the migration's triggers mark a patient's row stale in the same
transaction as any write to an input table (whatever writes: the ORM, Core statements, a sync
merge, bulk SQL); ``refresh_stale`` recomputes stale rows before a write session commits (the
``before_commit`` hook below), and a row that is stale, missing or not valid at ``now`` (a
past ``now`` in training, a record dated in the future) is never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, event, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.core.store.engine import WRITE_OPTION
from app.core.store.models import ActigraphySeries, AssessmentResponse, Patient, PatientFeatureRow
from app.services import _id_sets
from app.services import feature_assembly as fa
from app.services._id_sets import in_ids
from app.services.accepted_findings import accepted_findings_many
from app.services.history import intake_of
from engines.xgb.features import CATALOGUE

log = logging.getLogger(__name__)

#: a prediction time after every record: the assembly then gives the time-independent values
FAR = datetime(9000, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_US = 86_400_000_000
WINDOW_US = fa.SLOPE_WINDOW // timedelta(microseconds=1)
#: inputs finished at read time; every other key is stored, in one of four ordered segments
TIMED = frozenset({"phq9_slope", "episode_months", "age_years", "months_since_admission"})
SEGMENTS = (
    ("phq9_baseline", "phq9_current"),
    ("gad7_current", "anxious_depression", "n_psychotropics", "adherence_pdc", "on_maintenance_ad"),
    ("sex_female", "prior_episodes", "age_at_onset", "failed_trials", "prior_admissions"),
)
#: the static inputs in the packed row, as float32 (the model matrix's type; NaN = missing);
#: months_since_admission holds 0.0 for a patient in hospital, else NaN (finished at read time)
VECTOR_NAMES = tuple(s.name for s in CATALOGUE if s.name not in TIMED - {"months_since_admission"})
VECTOR_INDEX = {name: k for k, name in enumerate(VECTOR_NAMES)}
#: bump when what a row means changes (the assembly, the head): rows of another version or
#: catalogue are never used (assembled from the records) until ``rebuild`` recomputes them
ROW_VERSION = 2  # 2: deleted administrations skipped (migration 0011)
LAYOUT_TAG = int.from_bytes(
    hashlib.sha256(f"{ROW_VERSION}|{'|'.join(VECTOR_NAMES)}".encode()).digest()[:7]
)
#: head: layout tag, valid from (µs), valid from (day), birth day, first PHQ-9 (µs), last
#: discharge (day) when the months since it are finished at read time; then the inputs
HEAD = ("tag", "valid_us", "valid_day", "birth_day", "first_us", "discharge_day")
PACKED = np.dtype([("head", "<i8", len(HEAD)), ("vec", "<f4", len(VECTOR_NAMES))])
POINT = np.dtype([("at", "<i8"), ("total", "<f8")])  # one stored PHQ-9 point
NONE = -(2**62)  # a missing time or day in the head
#: rebuild this many patients per set-based pass (bounded memory for a whole clinic)
REBUILD_BATCH = 5000
#: a commit brings at most this many stale rows up to date (every write of a few patients, a
#: sync merge): after a bulk import the rest are caught up by later commits or ``rebuild``,
#: not all by one clinician's save; until then they are assembled from the records
REFRESH_LIMIT = 1000


def _us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def compute_rows(session: Session, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Column values of the rows of ``ids`` (existing patients), set-based: the assembly's
    queries at a time after every record plus one read per input family for the times."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    static = {f["patient_id"]: f for f in fa.assemble_many(session, ids, FAR)}
    newest: dict[str, int] = {}  # the newest input time (µs) per patient
    newest_day: dict[str, int] = {}  # the first day the stored values hold (ordinal)

    def later(pid: str, us: int) -> None:
        if us > newest.get(pid, -(2**62)):
            newest[pid] = us

    def later_day(pid: str, day: int) -> None:
        if day > newest_day.get(pid, -(2**31)):
            newest_day[pid] = day

    ar = AssessmentResponse
    points: dict[str, list[tuple[int, float]]] = {}
    for pid, inst, at, total in session.execute(
        select(ar.patient_id, ar.instrument, ar.administered_at, ar.total)
        .where(
            in_ids(ar.patient_id, ids),
            ar.instrument.in_(("phq9", "gad7")),
            ar.deleted_at.is_(None),  # an administration deleted in error is no input
        )
        .order_by(ar.patient_id, ar.administered_at)
    ):
        later(pid, _us(at))
        if inst == "phq9" and total is not None:
            points.setdefault(pid, []).append((_us(at), total))
    people = {
        pid: (born, history_json)
        for pid, born, history_json in session.execute(
            select(Patient.id, Patient.birth_date, Patient.history_json).where(
                in_ids(Patient.id, ids)
            )
        )
    }
    meds = fa._medications(session, ids)
    stays = fa._admissions(session, ids)
    for pid, taken in meds.items():
        for m in taken:
            if m.end is not None:  # active until its end day, a failed trial from it
                later_day(pid, m.end.toordinal() + 1)
    discharge: dict[str, int] = {}
    for pid, held in stays.items():
        for a in held:
            later(pid, _us(a.start))
            if a.end is not None:
                later(pid, _us(a.end))
                discharge[pid] = max(discharge.get(pid, 0), a.end.date().toordinal())
    for pid, found in accepted_findings_many(session, ids, None).items():
        for finding in found:
            later(pid, _us(finding.when))
    s = ActigraphySeries
    for pid, start, n, epoch in session.execute(
        select(s.patient_id, s.start, s.n_epochs, s.epoch_s).where(
            in_ids(s.patient_id, ids), s.deleted_at.is_(None)
        )
    ):
        later(pid, _us(start + timedelta(seconds=n * epoch)))
        later(pid, _us(start))
    out = []
    for pid in ids:
        born, history_json = people[pid]
        intake = intake_of(history_json)
        if intake.recorded_at is not None:
            later(pid, _us(intake.recorded_at))
        if intake.last_discharge_before is not None:
            later_day(pid, intake.last_discharge_before.toordinal())
            discharge[pid] = max(discharge.get(pid, 0), intake.last_discharge_before.toordinal())
        f = static[pid]
        admitted_now = any(a.end is None for a in stays.get(pid, ()))
        timed_ms = "months_since_admission" in f and not admitted_now
        segs: list[dict[str, Any]] = [{} for _ in range(4)]
        for key, value in f.items():
            if key == "months_since_admission" and not timed_ms:
                segs[2][key] = value  # admitted now: 0.0 whatever the time
                continue
            if key == "patient_id" or key in TIMED:
                continue
            seg = next((i for i, names in enumerate(SEGMENTS) if key in names), 3)
            segs[seg][key] = value
        mine_points = points.get(pid, [])
        recent = None
        if mine_points:
            last = mine_points[-1][0]
            kept = [(at, t) for at, t in mine_points if at >= last - WINDOW_US]
            recent = np.array(kept, dtype=POINT).tobytes()
        flat = {k: v for seg in segs for k, v in seg.items()}
        packed = np.zeros(1, dtype=PACKED)
        packed["vec"] = np.nan
        for name, k in VECTOR_INDEX.items():
            if flat.get(name) is not None:
                packed["vec"][0, k] = float(flat[name])
        head = (
            LAYOUT_TAG,
            newest.get(pid, NONE),
            newest_day.get(pid, NONE),
            born.toordinal() if isinstance(born, date) else NONE,
            mine_points[0][0] if mine_points else NONE,
            discharge[pid] if timed_ms and pid in discharge else NONE,
        )
        packed["head"][0] = head
        out.append(
            {
                "patient_id": pid,
                "stale": 0,
                "packed": packed.tobytes(),
                "recent": recent,
                "static_json": json.dumps(segs),
            }
        )
    return out


def _write(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(PatientFeatureRow).prefix_with("OR REPLACE"), rows)


def refresh_stale(session: Session, limit: int | None = None) -> int:
    """Recompute the stale rows (at most ``limit``) in this transaction; returns how many."""
    q = select(PatientFeatureRow.patient_id).where(PatientFeatureRow.stale == 1)
    stale = list(session.scalars(q if limit is None else q.limit(limit)))
    if not stale:
        return 0
    existing = set(session.scalars(select(Patient.id).where(in_ids(Patient.id, stale))))
    gone = [pid for pid in stale if pid not in existing]
    if gone:
        session.execute(delete(PatientFeatureRow).where(in_ids(PatientFeatureRow.patient_id, gone)))
    kept = [pid for pid in stale if pid in existing]
    for i in range(0, len(kept), REBUILD_BATCH):
        _write(session, compute_rows(session, kept[i : i + REBUILD_BATCH]))
    return len(kept)


def rebuild(session: Session) -> int:
    """Mark every patient's row stale (adding missing ones) and recompute them all."""
    session.execute(
        text(
            "INSERT OR REPLACE INTO patient_feature_rows (patient_id, stale) "
            "SELECT id, 1 FROM patients"
        )
    )
    return refresh_stale(session)


@event.listens_for(Session, "before_commit")
def _refresh_before_commit(session: Session) -> None:
    """Every write session's commit brings the rows its writes made stale up to date, in the
    same transaction (the triggers marked them; a store before 0010 has no table)."""
    if not session.in_transaction():
        return
    conn = session.connection()
    if not conn.get_execution_options().get(WRITE_OPTION):
        return
    session.flush()  # the triggers of pending ORM changes fire now
    try:
        probe = conn.exec_driver_sql("SELECT 1 FROM patient_feature_rows WHERE stale = 1 LIMIT 1")
    except OperationalError:
        return  # no table: a store not yet migrated to 0010
    if probe.first() is None:
        return
    try:
        with session.begin_nested():  # a failure leaves the rows stale, never the write undone
            refresh_stale(session, REFRESH_LIMIT)
    except Exception as exc:  # noqa: BLE001 — a derived cache must not fail a clinical write
        # stale rows are never used: reads assemble those patients from the records
        log.warning("feature rows left stale (%s)", type(exc).__name__)


_ALL = "SELECT patient_id, packed, recent FROM patient_feature_rows WHERE stale = 0"
_ALL_WITH_JSON = (
    "SELECT patient_id, packed, recent, static_json FROM patient_feature_rows WHERE stale = 0"
)


class _Rows:
    """The usable rows of a set of ids (current, this layout, valid at ``now``), finished for
    ``now`` with numpy; arrays are in the order of ``pids``."""

    def __init__(
        self, session: Session, ids: Sequence[str], now: datetime, with_json: bool
    ) -> None:
        c = PatientFeatureRow.__table__.c
        cols = [c.patient_id, c.packed, c.recent] + ([c.static_json] if with_json else [])
        conn = session.connection()
        rows: Sequence[Any]
        if (
            len(ids) >= _id_sets.SCAN_FROM
            and 2 * len(ids)
            >= conn.exec_driver_sql("SELECT count(*) FROM patient_feature_rows").scalar_one()
        ):
            # most of the clinic: read every row and pick in Python (the id filter costs more)
            wanted = set(ids)
            every = conn.exec_driver_sql(_ALL_WITH_JSON if with_json else _ALL).fetchall()
            rows = [r for r in every if r[0] in wanted]
        else:
            rows = session.execute(
                select(*cols).where(in_ids(c.patient_id, ids), c.stale == 0)
            ).all()
        size = PACKED.itemsize
        rows = [r for r in rows if r[1] is not None and len(r[1]) == size]
        got = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
        self.pids: list[str] = list(got[0])
        self.json: tuple[str, ...] = got[3] if with_json else ()
        packed = np.frombuffer(b"".join(got[1]), dtype=PACKED)
        head, self.vec = packed["head"], packed["vec"]
        now_us, today = _us(now), now.date().toordinal()
        tag, valid_us, valid_day, born, first, discharge = head.T
        self.ok = (tag == LAYOUT_TAG) & (valid_us <= now_us) & (valid_day <= today) & (born != NONE)
        self.age = (today - born) / 365.25
        self.has_first = first != NONE
        episode = np.maximum(0.0, ((now_us - first) // DAY_US) / fa.AVERAGE_MONTH_DAYS)
        self.episode = np.where(self.has_first, episode, np.nan)
        months = (today - discharge) / fa.AVERAGE_MONTH_DAYS
        self.months = np.where(discharge != NONE, months, np.nan)
        self.slope = _slopes(got[2], self.ok, now_us)


def features_from_rows(
    session: Session, ids: Sequence[str], now: datetime
) -> dict[str, dict[str, Any]]:
    """Feature dicts for the ids whose rows are current and valid at ``now``, finished for
    ``now``; ids left out need the assembly from the records."""
    if now.tzinfo is None:
        return {}
    r = _Rows(session, ids, now, with_json=True)
    age, episode, months, slope = (a.tolist() for a in (r.age, r.episode, r.months, r.slope))
    out: dict[str, dict[str, Any]] = {}
    for i in np.flatnonzero(r.ok).tolist():
        pid = r.pids[i]
        a, m, h, rest = json.loads(r.json[i])
        f: dict[str, Any] = {"patient_id": pid, **a}
        if slope[i] == slope[i]:  # not NaN
            f["phq9_slope"] = slope[i]
        if r.has_first[i]:
            f["episode_months"] = episode[i]
        f.update(m)
        f["age_years"] = age[i]
        f.update(h)
        if months[i] == months[i]:
            f["months_since_admission"] = months[i]
        f.update(rest)
        out[pid] = f
    return out


def matrix_from_rows(
    session: Session, ids: Sequence[str], now: datetime, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(x, served): the float32 model matrix of ``names`` for ``ids`` (in that order, NaN for
    missing) from the rows valid at ``now``, and which rows it filled; the others (all, for an
    input the rows do not hold) need the assembly from the records."""
    x = np.full((len(ids), len(names)), np.nan, dtype=np.float32)
    served = np.zeros(len(ids), dtype=bool)
    known = set(VECTOR_NAMES) | TIMED
    if now.tzinfo is None or not ids or not set(names) <= known:
        return x, served
    r = _Rows(session, ids, now, with_json=False)
    keep = np.flatnonzero(r.ok)
    vectors = r.vec[keep]
    pos = {pid: i for i, pid in enumerate(ids)}
    rows_at = np.fromiter((pos[r.pids[i]] for i in keep.tolist()), np.intp, len(keep))
    timed = {"age_years": r.age, "episode_months": r.episode, "phq9_slope": r.slope}
    for j, name in enumerate(names):
        if name in timed:
            col = timed[name][keep]
        elif name == "months_since_admission":
            static = vectors[:, VECTOR_INDEX[name]].astype(np.float64)
            col = np.where(np.isnan(static), r.months[keep], static)
        else:
            col = vectors[:, VECTOR_INDEX[name]]
        x[rows_at, j] = col
    served[rows_at] = True
    return x, served


def _slopes(recent: Sequence[bytes | None], ok: np.ndarray, now_us: int) -> np.ndarray:
    """Per row, the 8-week PHQ-9 slope (NaN without one), with the assembly's arithmetic
    (``feature_assembly._slopes``) on the stored points: days from each patient's first point
    in the window."""
    out = np.full(len(recent), np.nan)
    blobs = [b if b is not None and k else b"" for b, k in zip(recent, ok.tolist(), strict=True)]
    counts = np.fromiter(map(len, blobs), np.int64, len(blobs)) // POINT.itemsize
    points = np.frombuffer(b"".join(blobs), dtype=POINT)
    owner = np.repeat(np.arange(len(blobs)), counts)
    kept = points["at"] >= now_us - WINDOW_US
    own, at_us, total = owner[kept], points["at"][kept], points["total"][kept]
    if not len(own):
        return out
    starts = np.r_[True, own[1:] != own[:-1]]
    first = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    days = ((at_us - at_us[first][group]) / 1e6) / 86400
    x, y = days / 7.0, total
    n = np.bincount(group).astype(float)
    span = np.zeros(len(first))
    np.maximum.at(span, group, days)
    dx = x - (np.bincount(group, x) / n)[group]
    dy = y - (np.bincount(group, y) / n)[group]
    sxx, sxy = np.bincount(group, dx * dx), np.bincount(group, dx * dy)
    line = (n >= 2) & (span > 0)  # noqa: PLR2004 — a line needs two visits
    with np.errstate(invalid="ignore", divide="ignore"):
        out[own[first][line]] = (sxy / sxx)[line]
    return out
