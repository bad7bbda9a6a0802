"""Wearable actigraphy: import a file, store the minute series as compressed chunks, compute
the PAT engine's sleep / circadian / daily metrics and the research depression screen, store
them, and publish AssessmentCompleted (source "pat") so the twin can use them.

Recording times are the device's local wall-clock; they are stored as UTC-tagged values with
the same wall-clock reading (the twin works in calendar days).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError
from app.core.security import rbac
from app.core.store.models import ActigraphyResult, ActigraphySeries, Patient
from app.core.store.store import Actor, UnitOfWork
from app.services import phi_audit
from app.services._engine_errors import translates_engine_errors
from app.services.actigraphy import add_series
from app.services.context import AppContext, actor_of
from app.services.engine_events import screen_completed_event
from engines.pat.circadian import recording_circadian, rolling_circadian
from engines.pat.daily import daily_summaries
from engines.pat.importer import DEPRESJON, ColumnMapping, import_csv
from engines.pat.recording import ActigraphyRecording, runs
from engines.pat.screen import load_bundled_model, screen
from engines.pat.sleep import nightly_sleep

ENGINE_VERSION = "pat-engine-1"
WEEK = 7


@dataclass(frozen=True)
class ImportOutcome:
    series_id: str
    minutes: int
    nights: int
    gap_minutes: int
    nonwear_minutes: int
    screen_probability: float
    screen_positive: bool
    screen_label: str


def _json_safe(value: Any) -> Any:  # noqa: ANN401 — recursive JSON conversion
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, float | np.floating):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


@translates_engine_errors
def analyse(rec: ActigraphyRecording) -> dict[str, Any]:
    """Every metric the app shows and the twin uses, as JSON-safe dicts per result kind."""
    starts, lengths = runs(rec.nonwear)
    result = screen(load_bundled_model(), rec)
    return {
        "nightly": [_json_safe(asdict(n)) for n in nightly_sleep(rec)],
        "circadian": {
            "binarized": _json_safe(asdict(recording_circadian(rec, binarized=True))),
            "raw": _json_safe(asdict(recording_circadian(rec, binarized=False))),
            "weekly": [
                {"first_day": w.first_day, "days": w.days, **_json_safe(asdict(w.metrics))}
                for w in rolling_circadian(rec, window_days=WEEK, step_days=WEEK)
            ],
            # M10 / L5 in counts/min (the binarised ones above are fractions of active minutes)
            "weekly_raw": [
                {
                    "first_day": w.first_day,
                    "days": w.days,
                    "M10": _json_safe(w.metrics.M10),
                    "L5": _json_safe(w.metrics.L5),
                }
                for w in rolling_circadian(rec, window_days=WEEK, step_days=WEEK, binarized=False)
            ],
        },
        "daily": [_json_safe(asdict(d)) for d in daily_summaries(rec)],
        "nonwear": {
            "runs": [[int(s), int(n)] for s, n in zip(starts, lengths, strict=True)],
            "import_notes": list(rec.notes),  # what the importer adjusted (DST repeated hour)
        },
        "screen": _json_safe(asdict(result)),
    }


@translates_engine_errors
def add_recording(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    rec: ActigraphyRecording,
    results: dict[str, Any],
) -> str:
    """Store the series and its results in the caller's transaction; publish the screen."""
    start = rec.start.replace(tzinfo=UTC) if rec.start.tzinfo is None else rec.start
    series_id = add_series(uow, actor, patient_id, start, rec.counts, source=rec.source[:64])
    for kind, data in results.items():
        uow.session.add(
            ActigraphyResult(
                series_id=series_id,
                patient_id=patient_id,
                kind=kind,
                engine_version=ENGINE_VERSION,
                data_json=json.dumps(data),
                author_id=actor.id,
            )
        )
    uow.session.flush()
    from engines.pat.screen import ScreenResult

    s = results["screen"]
    screen_result = ScreenResult(
        **{
            **s,
            "cv_ci95": {k: tuple(v) for k, v in s["cv_ci95"].items()},
            "notes": tuple(s.get("notes", ())),
        }
    )
    uow.emit(screen_completed_event(screen_result, patient_id, series_id))
    return series_id


@translates_engine_errors
def import_file(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    path: Path,
    mapping: ColumnMapping = DEPRESJON,
) -> ImportOutcome:
    """Validate and import a file (nothing is stored if any line is bad), then analyse it."""
    ctx.store.read(lambda s: rbac.require(s, principal, Action.WRITE_CLINICAL, patient_id))
    rec = import_csv(path, mapping)
    return store_analysed(ctx, principal, patient_id, rec, analyse(rec))


@translates_engine_errors
def store_analysed(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    rec: ActigraphyRecording,
    results: dict[str, Any],
) -> ImportOutcome:
    """Store an analysed recording in one transaction (series, results, AssessmentCompleted)."""

    def do(uow: UnitOfWork) -> str:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        if uow.session.get(Patient, patient_id) is None:
            raise NotFoundError("That patient record does not exist.")
        return add_recording(uow, actor_of(principal), patient_id, rec, results)

    series_id = ctx.store.write(do)
    s = results["screen"]
    return ImportOutcome(
        series_id,
        rec.n_minutes,
        len(results["nightly"]),
        int(np.isnan(rec.counts).sum()),
        int(rec.nonwear.sum()),
        s["probability"],
        s["positive"],
        s["provenance"],
    )


@translates_engine_errors
def latest_results(ctx: AppContext, principal: Principal, patient_id: str) -> dict[str, Any] | None:
    """The newest recording's series id, start and every result kind (audited read)."""

    def read(session: Session) -> dict[str, Any] | None:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        series = session.scalars(
            select(ActigraphySeries)
            .where(ActigraphySeries.patient_id == patient_id)
            .order_by(ActigraphySeries.start.desc())
            .limit(1)
        ).first()
        if series is None:
            return None
        rows = session.scalars(
            select(ActigraphyResult).where(ActigraphyResult.series_id == series.id)
        )
        return {
            "series_id": series.id,
            "start": series.start,
            "minutes": series.n_epochs,
            **{r.kind: json.loads(r.data_json) for r in rows},
        }

    out = ctx.store.read(read)
    phi_audit.audit_read(
        ctx, principal, "actigraphy.results_read", patient_id=patient_id, record_type="actigraphy"
    )
    return out


@translates_engine_errors
def _m10_l5(
    result_id: str, data: dict[str, Any], start: datetime, minutes: int
) -> list[tuple[str, str, datetime, float]]:
    """Weekly raw-count M10 / L5 (``pat.m10`` → activity, ``pat.l5`` → circadian stability);
    a result stored before weekly raw metrics existed gives the whole recording's, dated at its
    end."""
    weekly = data.get("weekly_raw")
    if weekly is None:
        raw = data.get("raw") or {}
        weekly = [{**raw, "first_day": None}] if raw else []
    out: list[tuple[str, str, datetime, float]] = []
    for i, w in enumerate(weekly):
        if w["first_day"] is None:
            when = start + timedelta(minutes=minutes)
        else:
            when = start + timedelta(days=w["first_day"] + w["days"])
        for key, source in (("M10", "pat.m10"), ("L5", "pat.l5")):
            if w.get(key) is not None:
                out.append((f"{result_id}/{source}/{i}", source, when, float(w[key])))
    return out


def twin_observations(
    rows: Iterable[ActigraphyResult], span_of: dict[str, tuple[datetime, int]]
) -> list[tuple[str, str, datetime, float]]:
    """(obs id, twin source, when, value) from stored PAT results: weekly sleep means, weekly
    circadian metrics (IS, IV, RA; raw-count M10 and L5), weekly mean activity, and the screen
    probability at the recording's end."""
    out: list[tuple[str, str, datetime, float]] = []
    for row in rows:
        data = json.loads(row.data_json)
        start, minutes = span_of[row.series_id]
        if row.kind == "nightly" and data:
            for w in range(0, len(data), WEEK):
                week = data[w : w + WEEK]
                when = datetime.fromisoformat(week[-1]["night_of"]).replace(tzinfo=UTC) + timedelta(
                    days=1
                )
                for key, source in (
                    ("tst_min", "pat.tst_min"),
                    ("sleep_efficiency", "pat.sleep_efficiency"),
                    ("waso_min", "pat.waso_min"),
                ):
                    vals = [n[key] for n in week if n.get(key) is not None]
                    if vals:
                        out.append((f"{row.id}/{source}/{w}", source, when, float(np.mean(vals))))
        elif row.kind == "circadian":
            for i, w in enumerate(data.get("weekly", [])):
                when = start + timedelta(days=w["first_day"] + w["days"])
                for key, source in (("IS", "pat.is"), ("IV", "pat.iv"), ("RA", "pat.ra")):
                    if w.get(key) is not None:
                        value = float(w[key])
                        # IS can exceed 1 slightly (pyActigraphy's sample-size factors)
                        value = min(value, 1.0) if key == "IS" else value
                        out.append((f"{row.id}/{source}/{i}", source, when, value))
            out += _m10_l5(row.id, data, start, minutes)
        elif row.kind == "daily" and data:
            for w in range(0, len(data), WEEK):
                week = [d for d in data[w : w + WEEK] if d.get("mean_counts") is not None]
                if week:
                    when = datetime.fromisoformat(week[-1]["day"]).replace(tzinfo=UTC) + timedelta(
                        days=1
                    )
                    out.append(
                        (
                            f"{row.id}/pat.mean_activity/{w}",
                            "pat.mean_activity",
                            when,
                            float(np.mean([d["mean_counts"] for d in week])),
                        )
                    )
        elif row.kind == "screen":
            out.append(
                (
                    f"{row.id}/pat.depression_probability",
                    "pat.depression_probability",
                    start + timedelta(minutes=minutes),
                    float(data["probability"]),
                )
            )
    return out
