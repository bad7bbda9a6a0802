"""Which tables travel, which of their columns merge, and how values become JSON and back.

Tables are listed parents first, so rows can be inserted in this order without breaking a
foreign key. Columns that only make sense on one workstation (failed sign-in counters, the
row version of the local ORM) never travel.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, Float, Integer, LargeBinary, RowMapping, Table, select
from sqlalchemy.orm import Session

from app.core.store import models as m

SYNCED_MODELS: tuple[type[m.Base], ...] = (
    m.User,
    m.Patient,
    m.CareTeamAssignment,
    m.BreakGlassGrant,
    m.Encounter,
    m.ClinicalNote,
    m.AssessmentResponse,
    m.ActigraphySeries,
    m.ActigraphyResult,
    m.Medication,
    m.TreatmentPlan,
    m.Prediction,
    m.NlpAnalysis,
    m.TwinSnapshot,
    m.Alert,
)
TABLES: dict[str, Table] = {
    model.__tablename__: m.Base.metadata.tables[model.__tablename__] for model in SYNCED_MODELS
}
ORDER: dict[str, int] = {name: i for i, name in enumerate(TABLES)}
NEVER_SYNCED = {"id", "version", "updated_at"}
LOCAL_ONLY: dict[str, set[str]] = {
    "users": {"failed_attempts", "locked_at", "last_login_at", "totp_last_step"}
}

# Outbox events name the records they concern; this maps them to (table, id) hints.
RECORD_TYPE_TABLE = {
    "patient": "patients",
    "note": "clinical_notes",
    "alert": "alerts",
    "actigraphy": "actigraphy_series",
    "break_glass": "break_glass",
    "assessment": "assessment_responses",
    "prediction": "predictions",
    "twin": "twin_snapshots",
    "medication": "medications",
    "treatment_plan": "treatment_plans",
    "encounter": "encounters",
    "nlp": "nlp_analyses",
    "care_team": "care_team",
    "user": "users",
}
EVENT_ID_FIELDS = {
    "AssessmentCompleted": ("assessment_responses", "assessment_id"),
    "PredictionGenerated": ("predictions", "prediction_id"),
    "DigitalTwinUpdated": ("twin_snapshots", "snapshot_id"),
    "NLPAnalysisCompleted": ("nlp_analyses", "analysis_id"),
    "AlertTriggered": ("alerts", "alert_id"),
}


def compact_json(value: object) -> str:
    """JSON without spaces: how a record's values and clocks are kept in its sync state."""
    return json.dumps(value, separators=(",", ":"))


def state_row(
    table: str, rid: str, values: dict[str, Any], clocks: dict[str, Any], *, pending: bool
) -> dict[str, Any]:
    """A new SyncRecordState row (for a bulk insert) of one record's values and clocks."""
    return {
        "table_name": table,
        "record_id": rid,
        "values_json": compact_json(values),
        "clocks_json": compact_json(clocks),
        "pending": pending,
    }


def merge_columns(table: str) -> list[str]:
    """Columns of `table` that travel and merge per field."""
    skip = NEVER_SYNCED | LOCAL_ONLY.get(table, set())
    return [c.name for c in TABLES[table].columns if c.name not in skip]


_COLUMNS: dict[str, list[str]] = {t: merge_columns(t) for t in TABLES}


def columns(table: str) -> list[str]:
    return _COLUMNS[table]


def to_json(value: Any) -> Any:  # noqa: ANN401 — any column value
    """A column value as a JSON value (datetimes and dates as ISO text, bytes as base64)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def from_json(table: str, column: str, value: Any) -> Any:  # noqa: ANN401
    """A JSON value back to the column's Python type; raises ValueError if it cannot be."""
    if value is None:
        return None
    col_type = TABLES[table].columns[column].type
    if isinstance(col_type, m.UTCDateTime):
        out = datetime.fromisoformat(value)
        if out.tzinfo is None:
            raise ValueError("naive datetime")
        return out
    if isinstance(col_type, Date):
        return date.fromisoformat(value)
    if isinstance(col_type, LargeBinary):
        return base64.b64decode(value, validate=True)
    if isinstance(col_type, Boolean):
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if isinstance(col_type, Integer):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("not an integer")
        return value
    if isinstance(col_type, Float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("not a number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("not text")
    return value


def row_values(table: str, row: RowMapping) -> dict[str, Any]:
    """The travelling columns of a Core row as JSON values."""
    return {c: to_json(row[c]) for c in _COLUMNS[table]}


def rows_and_states(
    session: Session, name: str, ids: list[str]
) -> tuple[dict[str, RowMapping], dict[str, m.SyncRecordState]]:
    """The local rows of table ``name`` with these ids, and their sync bookkeeping, by id."""
    table = TABLES[name]
    rows = {
        r["id"]: r for r in session.execute(select(table).where(table.c.id.in_(ids))).mappings()
    }
    states = {
        st.record_id: st
        for st in session.scalars(
            select(m.SyncRecordState).where(
                m.SyncRecordState.table_name == name, m.SyncRecordState.record_id.in_(ids)
            )
        )
    }
    return rows, states
