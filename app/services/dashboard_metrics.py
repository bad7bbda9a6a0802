"""The clinic dashboard's reads: one set-based query per metric over a scope of patients.

Assessments are read from the partial covering index of live administrations (patient,
instrument, time, total WHERE deleted_at IS NULL; migration 0011), as the prediction features
are, so an administration deleted in error no longer counts as done and costs no row reads.

Each function takes a session, the scope (patient ids, already permission-checked by
`clinic_dashboard`) and the period, and returns small per-patient or per-group rows; the
grouping, suppression and wording live in `clinic_dashboard`. Times are compared as the
store writes them (UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]``), so a range is an index-friendly
string comparison, and the JSON inside note analyses and actigraphy results is read by SQLite
(``json_each``) rather than row by row in Python.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

SCHEDULED = ("phq9", "gad7")  # the instruments every active patient is due on a schedule


def stamp(when: datetime) -> str:
    """A UTC instant in the store's text form (for comparisons inside SQL)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ids(ids: Collection[str]) -> str:
    return json.dumps(list(ids))


def scope_patients(
    session: Session, start: datetime, clinician_id: str | None
) -> list[tuple[str, str]]:
    """(patient id, status) of every patient counted in the period: not deleted, and active
    or discharged on or after the period's start; with ``clinician_id``, only that user's
    current care team."""
    sql = (
        "SELECT p.id, p.status FROM patients p WHERE p.deleted_at IS NULL"
        " AND (p.status = 'active' OR p.discharged_at >= :start)"
    )
    params: dict[str, object] = {"start": stamp(start)}
    if clinician_id is not None:
        sql += (
            " AND p.id IN (SELECT patient_id FROM care_team WHERE user_id = :uid"
            " AND active = 1 AND deleted_at IS NULL)"
        )
        params["uid"] = clinician_id
    return [(r[0], r[1]) for r in session.execute(text(sql), params)]


def care_teams(session: Session, ids: Collection[str]) -> list[tuple[str, str]]:
    """(patient id, user id) of every current care-team assignment of these patients."""
    sql = (
        "SELECT patient_id, user_id FROM care_team WHERE active = 1 AND deleted_at IS NULL"
        " AND patient_id IN (SELECT value FROM json_each(:ids))"
    )
    return [(r[0], r[1]) for r in session.execute(text(sql), {"ids": _ids(ids)})]


def clinicians(session: Session) -> list[tuple[str, str]]:
    """(user id, display name) of every active clinician and supervisor, by name."""
    sql = (
        "SELECT id, display_name FROM users WHERE deleted_at IS NULL AND active = 1"
        " AND role IN ('clinician', 'supervisor') ORDER BY display_name, id"
    )
    return [(r[0], r[1]) for r in session.execute(text(sql))]


def windows_done(
    session: Session, ids: Collection[str], start: datetime, end: datetime, every_days: int
) -> list[tuple[str, str, int]]:
    """(patient, instrument, windows with at least one administration) for the scheduled
    instruments: the period is cut into ``every_days`` windows from its start."""
    sql = (
        "SELECT patient_id, instrument, COUNT(DISTINCT CAST((julianday(administered_at)"
        " - julianday(:start)) / :every AS INTEGER)) FROM assessment_responses"
        " WHERE instrument IN ('phq9', 'gad7') AND deleted_at IS NULL"
        " AND administered_at >= :start AND administered_at < :end"
        " AND patient_id IN (SELECT value FROM json_each(:ids)) GROUP BY patient_id, instrument"
    )
    params = {"start": stamp(start), "end": stamp(end), "every": every_days, "ids": _ids(ids)}
    return [(r[0], r[1], int(r[2])) for r in session.execute(text(sql), params)]


def last_administered(
    session: Session, ids: Collection[str], asof: datetime
) -> dict[tuple[str, str], datetime]:
    """The latest administration before ``asof`` per (patient, scheduled instrument): one
    seek to the end of each pair's range in the covering index."""
    sql = (
        "SELECT p.value, i.inst, (SELECT MAX(a.administered_at) FROM assessment_responses a"
        "  WHERE a.patient_id = p.value AND a.instrument = i.inst AND a.deleted_at IS NULL"
        "  AND a.administered_at < :asof)"
        " FROM json_each(:ids) p, (SELECT 'phq9' AS inst UNION ALL SELECT 'gad7') i"
    )
    out: dict[tuple[str, str], datetime] = {}
    for pid, inst, last in session.execute(text(sql), {"asof": stamp(asof), "ids": _ids(ids)}):
        if last is not None:
            out[(pid, inst)] = _parse(last)
    return out


def _parse(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


@dataclass(frozen=True)
class AlertTimes:
    alert_id: str
    patient_id: str
    severity: str
    status: str
    triggered: datetime
    acknowledged: datetime | None  # the first acknowledgement, else the first closing step
    resolved: datetime | None  # resolved or dismissed


_ALERT_STEPS = (
    "SELECT record_id, action, MIN(at) FROM ("
    " SELECT record_id, action, at FROM audit_events WHERE record_type = 'alert'"
    "  AND action IN ('alert.acknowledged', 'alert.resolved', 'alert.dismissed')"
    "  AND record_id IN (SELECT value FROM json_each(:aids))"
    " UNION ALL"
    " SELECT record_id, action, at FROM remote_audit_events WHERE record_type = 'alert'"
    "  AND action IN ('alert.acknowledged', 'alert.resolved', 'alert.dismissed')"
    "  AND record_id IN (SELECT value FROM json_each(:aids))"
    ") GROUP BY record_id, action"
)


def alert_times(
    session: Session, ids: Collection[str], start: datetime, end: datetime
) -> list[AlertTimes]:
    """Every clinical alert of these patients triggered in the period, with when it was first
    acknowledged and closed (from the audit chain, this device's and the synced ones; an alert
    whose steps are not in the audit falls back to its last action time)."""
    sql = (
        "SELECT id, patient_id, severity, status, triggered_at, acted_at FROM alerts"
        " WHERE deleted_at IS NULL AND triggered_at >= :start AND triggered_at < :end"
        " AND patient_id IN (SELECT value FROM json_each(:ids))"
    )
    params = {"start": stamp(start), "end": stamp(end), "ids": _ids(ids)}
    rows = list(session.execute(text(sql), params))
    if not rows:
        return []
    steps: dict[tuple[str, str], datetime] = {}
    aids = _ids([r[0] for r in rows])
    for rid, action, at in session.execute(text(_ALERT_STEPS), {"aids": aids}):
        steps[(rid, action)] = _parse(at)
    out = []
    for aid, pid, severity, status, triggered, acted in rows:
        acted_at = _parse(acted) if acted is not None else None
        ack = steps.get((aid, "alert.acknowledged"))
        closed = [t for k in ("alert.resolved", "alert.dismissed") if (t := steps.get((aid, k)))]
        res = min(closed) if closed else None
        if res is None and status in ("resolved", "dismissed"):
            res = acted_at
        if ack is None and status == "acknowledged":
            ack = acted_at
        if ack is None:
            ack = res  # closing an alert acknowledges it
        out.append(AlertTimes(aid, pid, severity, status, _parse(triggered), ack, res))
    return out


def latest_bands(
    session: Session, ids: Collection[str], target: str, end: datetime
) -> list[tuple[str, str, str]]:
    """(patient, band, generated as stored text) of every stored risk prediction for
    ``target`` (no treatment option) generated before ``end``, in storage order (text, not
    datetimes: 100,000 rows are compared as strings, which order as the times do)."""
    sql = (
        "SELECT patient_id, band, generated_at FROM predictions WHERE deleted_at IS NULL"
        " AND target = :target AND option IS NULL AND generated_at < :end"
        " AND patient_id IN (SELECT value FROM json_each(:ids))"
    )
    params = {"target": target, "end": stamp(end), "ids": _ids(ids)}
    return [(r[0], r[1], str(r[2])) for r in session.execute(text(sql), params)]


def finding_reviews(
    session: Session, ids: Collection[str], start: datetime, end: datetime
) -> list[tuple[str, str, int, int, int]]:
    """(model, patient, findings, accepted, rejected) per note analysis made in the period."""
    sql = (
        "SELECT a.model_name, a.patient_id,"
        " COALESCE(json_array_length(a.result_json, '$.findings'), 0),"
        " (SELECT COUNT(*) FROM json_each(a.result_json, '$.decisions') d"
        "   WHERE json_extract(d.value, '$.accepted') = 1),"
        " (SELECT COUNT(*) FROM json_each(a.result_json, '$.decisions') d"
        "   WHERE json_extract(d.value, '$.accepted') = 0)"
        " FROM nlp_analyses a WHERE a.deleted_at IS NULL"
        " AND a.created_at >= :start AND a.created_at < :end"
        " AND a.patient_id IN (SELECT value FROM json_each(:ids))"
    )
    params = {"start": stamp(start), "end": stamp(end), "ids": _ids(ids)}
    return [
        (r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in session.execute(text(sql), params)
    ]


def wear_days(
    session: Session, ids: Collection[str], first: date, last: date, min_wear_minutes: int
) -> list[tuple[str, int, int]]:
    """(patient, days recorded, days with at least ``min_wear_minutes`` of wear) from the
    analysed recordings' daily summaries, each calendar day counted once per patient."""
    sql = (
        "SELECT patient_id, COUNT(*), SUM(worn >= :minutes) FROM ("
        " SELECT r.patient_id AS patient_id, json_extract(d.value, '$.day') AS day,"
        "  MAX(json_extract(d.value, '$.valid_minutes')"
        "      - json_extract(d.value, '$.nonwear_minutes')) AS worn"
        " FROM actigraphy_results r, json_each(r.data_json) d"
        " WHERE r.kind = 'daily' AND r.deleted_at IS NULL"
        " AND r.patient_id IN (SELECT value FROM json_each(:ids))"
        " AND json_extract(d.value, '$.day') BETWEEN :first AND :last"
        " GROUP BY r.patient_id, day) GROUP BY patient_id"
    )
    params = {
        "minutes": min_wear_minutes,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "ids": _ids(ids),
    }
    return [(r[0], int(r[1]), int(r[2] or 0)) for r in session.execute(text(sql), params)]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (the ceil(q·n)-th smallest), None for no values: a figure a
    reader can check by counting."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(round(q * 1000)) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float | None:
    """The middle value (the mean of the two middle ones for an even count)."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
