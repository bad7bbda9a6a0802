"""A prediction history written straight into the store with bulk SQL, for the model-monitoring
tests and benchmark: patients, stored predictions (inputs in the contributions as the service
stores them), later PHQ-9 scores and admissions. Scoring thousands of patients through the
service would take minutes and test nothing more about monitoring."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from app.core.store.engine import connect_raw
from app.services.context import AppContext

_PATIENT = (
    "INSERT INTO patients (id, created_at, updated_at, version, mrn, given_name,"
    " family_name, birth_date, sex, status, is_synthetic) VALUES (?,?,?,1,?,'Mon','Itor',"
    " '1980-01-01','other','active',1)"
)
_PREDICTION = (
    "INSERT INTO predictions (id, created_at, updated_at, version, patient_id, target, option,"
    " probability, interval_low, interval_high, band, model_name, model_version, provenance,"
    " contributions_json, generated_at) VALUES (?,?,?,1,?,?,?,?,?,?,'moderate','bench',?,'{}',?,?)"
)
_ASSESSMENT = (
    "INSERT INTO assessment_responses (id, created_at, updated_at, version, patient_id,"
    " instrument, instrument_version, administered_at, mode, answers_json, total, band,"
    " critical, scoring_rule) VALUES (?,?,?,1,?,?,'1.0',?,'self-report','{}',?,'',0,'')"
)
_ENCOUNTER = (
    'INSERT INTO encounters (id, created_at, updated_at, version, patient_id, kind, start, "end")'
    " VALUES (?,?,?,1,?,'admission',?,NULL)"
)

_NOTE = (
    "INSERT INTO clinical_notes (id, created_at, updated_at, version, patient_id, title, body,"
    " status, signed_at) VALUES (?,?,?,1,?,'Visit','Synthetic note.','signed',?)"
)
_ANALYSIS = (
    "INSERT INTO nlp_analyses (id, created_at, updated_at, version, patient_id, note_id,"
    " model_name, model_sha256, params_json, result_json, review_status)"
    " VALUES (?,?,?,1,?,?,?,'00','{}',?,'reviewed')"
)
_SERIES = (
    "INSERT INTO actigraphy_series (id, created_at, updated_at, version, patient_id, start,"
    " epoch_s, n_epochs, chunk_epochs, source, content_sha256)"
    " VALUES (?,?,?,1,?,?,60,?,1440,'test','00')"
)
_RESULT = (
    "INSERT INTO actigraphy_results (id, created_at, updated_at, version, series_id, patient_id,"
    " kind, engine_version, data_json) VALUES (?,?,?,1,?,?,'screen','test',?)"
)
_MEDICATION = (
    "INSERT INTO medications (id, created_at, updated_at, version, patient_id, name, drug_class,"
    ' dose, unit, frequency, start, "end", adherence, stop_reason)'
    " VALUES (?,?,?,1,?,'drug',?,10,'mg','once daily',?,NULL,NULL,NULL)"
)


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None)


def contributions(feature_names: Sequence[str], values: Mapping[str, Any]) -> str:
    """A contributions document as predictions._store writes it (value None = missing)."""
    items = [
        {"feature": f, "label": f, "unit": "", "value": values.get(f), "contribution": 0.0}
        for f in feature_names
    ]
    return json.dumps({"bias": 0.0, "margin": 0.0, "items": items})


class HistoryWriter:
    """Collects rows, then writes them in one transaction (`write`)."""

    def __init__(self) -> None:
        self.patients: list[str] = []
        self.predictions: list[tuple[Any, ...]] = []
        self.assessments: list[tuple[Any, ...]] = []
        self.admissions: list[tuple[Any, ...]] = []
        self.medications: list[tuple[Any, ...]] = []
        self.notes: list[tuple[Any, ...]] = []
        self.analyses: list[tuple[Any, ...]] = []
        self.series: list[tuple[Any, ...]] = []
        self.results: list[tuple[Any, ...]] = []

    def patient(self) -> str:
        pid = str(uuid.uuid4())
        self.patients.append(pid)
        return pid

    def prediction(
        self,
        pid: str,
        target: str,
        option: str | None,
        when: datetime,
        p: float,
        model_version: str,
        contributions_json: str = '{"items": []}',
    ) -> None:
        w = _naive(when)
        self.predictions.append(
            (str(uuid.uuid4()), w, w, pid, target, option, p, max(0.0, p - 0.1),
             min(1.0, p + 0.1), model_version, contributions_json, w)
        )  # fmt: skip

    def score(self, pid: str, instrument: str, when: datetime, total: float) -> None:
        w = _naive(when)
        self.assessments.append((str(uuid.uuid4()), w, w, pid, instrument, w, total))

    def admission(self, pid: str, when: datetime) -> None:
        w = _naive(when)
        self.admissions.append((str(uuid.uuid4()), w, w, pid, w))

    def medication(self, pid: str, drug_class: str, start: datetime) -> None:
        now = _naive(datetime.now(UTC))
        self.medications.append(
            (str(uuid.uuid4()), now, now, pid, drug_class, start.date().isoformat())
        )

    def analysis(
        self, pid: str, when: datetime, model: str, findings: Sequence[tuple[bool, bool | None]]
    ) -> None:
        """A note analysis whose findings each have one quote, (verified, accepted) per finding
        (accepted None = not yet decided)."""
        w = _naive(when)
        note_id = str(uuid.uuid4())
        self.notes.append((note_id, w, w, pid, w))
        result = {
            "findings": [
                {"kind": "risk_factor", "label": f"finding {i}",
                 "evidence": [{"quote": "quoted words here", "verified": verified}]}
                for i, (verified, _) in enumerate(findings)
            ],
            "decisions": {
                str(i): {"accepted": accepted}
                for i, (_, accepted) in enumerate(findings)
                if accepted is not None
            },
        }  # fmt: skip
        self.analyses.append((str(uuid.uuid4()), w, w, pid, note_id, model, json.dumps(result)))

    def screen(self, pid: str, start: datetime, days: int, probability: float) -> None:
        """An analysed recording of `days` whole days with the depression screen's result."""
        w = _naive(start)
        sid = str(uuid.uuid4())
        self.series.append((sid, w, w, pid, w, days * 1440))
        data = json.dumps({"probability": probability, "positive": probability >= 0.5})
        self.results.append((str(uuid.uuid4()), w, w, sid, pid, data))

    def write(self, ctx: AppContext) -> int:
        """Insert everything collected; returns the rows written."""
        key = ctx.store._key  # noqa: SLF001 - a test fixture may fill the file directly
        conn = connect_raw(ctx.settings.db_path, key)
        now = _naive(datetime.now(UTC))
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                _PATIENT, [(pid, now, now, f"MON-{pid[:12]}") for pid in self.patients]
            )
            conn.executemany(_PREDICTION, self.predictions)
            conn.executemany(_ASSESSMENT, self.assessments)
            conn.executemany(_ENCOUNTER, self.admissions)
            conn.executemany(_MEDICATION, self.medications)
            conn.executemany(_NOTE, self.notes)
            conn.executemany(_ANALYSIS, self.analyses)
            conn.executemany(_SERIES, self.series)
            conn.executemany(_RESULT, self.results)
            conn.execute("COMMIT")
        finally:
            conn.close()
        n = len(self.patients) + len(self.predictions) + len(self.assessments)
        return n + len(self.admissions) + len(self.medications)


def relapse_predictions(
    ctx: AppContext, now: datetime, *, shift: float = 0.0, n: int = 300
) -> None:
    """`n` relapse predictions over the 80 days before `now` whose inputs are a fresh draw from
    the training generator (another seed than training), the PHQ-9 raised by `shift`."""
    from datetime import timedelta

    from app.services import predictions
    from engines.xgb.synthetic import generate_cohort

    card = predictions.active_model("relapse_6m", ctx.settings).card
    names = [f.name for f in card.features]
    w = HistoryWriter()
    for i, rec in enumerate(generate_cohort(n, 99)):
        values = {f: rec.get(f) for f in names}
        if shift and values["phq9_current"] is not None:
            values["phq9_current"] = min(27.0, float(values["phq9_current"]) + shift)
        w.prediction(
            w.patient(),
            "relapse_6m",
            None,
            now - timedelta(days=1 + i % 80),
            0.25,
            card.model_version,
            contributions(names, values),
        )
    w.write(ctx)
