"""A large clinic written straight into the store with bulk SQL, for benchmarks: the ORM demo
generator would take an hour at 10,000 patients.

``fill(ctx, n)`` is what the backup benchmark has always used: per patient, ``visits`` PHQ-9 and
GAD-7 responses, encounters and signed notes ``every_days`` apart going back from now.
``inputs=True`` adds every other family the prediction models read, for a realistic share of
patients: an intake history (80 %), medications, some stopped for an inadequate response
(90 %), a psychiatric admission (10 %, one in ten of those still in hospital), a note analysis
with clinician-accepted findings (20 %) and an analysed actigraphy recording (10 %).
``assign_to`` puts every patient on that user's care team (a clinician who sees them all).
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from app.core.store.engine import connect_raw
from app.services import feature_rows
from app.services.context import AppContext

VISITS = 52  # fortnightly for two years

_PATIENT = (
    "INSERT INTO patients (id, created_at, updated_at, version, mrn, given_name,"
    " family_name, birth_date, sex, status, is_synthetic, history_json)"
    " VALUES (?,?,?,1,?,?,?,?,?,?,1,?)"
)
_ENCOUNTER = (
    'INSERT INTO encounters (id, created_at, updated_at, version, patient_id, kind, start, "end")'
    " VALUES (?,?,?,1,?,?,?,?)"
)
_ASSESSMENT = (
    "INSERT INTO assessment_responses (id, created_at, updated_at, version, patient_id,"
    " instrument, instrument_version, administered_at, mode, answers_json, total, band,"
    " critical, scoring_rule) VALUES (?,?,?,1,?,?,?,?,'self-report',?,?,?,0,'')"
)
_NOTE = (
    "INSERT INTO clinical_notes (id, created_at, updated_at, version, patient_id,"
    " encounter_id, title, body, status, signed_at) VALUES (?,?,?,1,?,?,?,?,?,?)"
)
_MEDICATION = (
    "INSERT INTO medications (id, created_at, updated_at, version, patient_id, name, drug_class,"
    ' dose, unit, frequency, start, "end", adherence, stop_reason)'
    " VALUES (?,?,?,1,?,?,?,?,'mg','once daily',?,?,?,?)"
)
_ANALYSIS = (
    "INSERT INTO nlp_analyses (id, created_at, updated_at, version, patient_id, note_id,"
    " model_name, model_sha256, params_json, result_json, review_status)"
    " VALUES (?,?,?,1,?,?,'bench','00','{}',?,'reviewed')"
)
_SERIES = (
    "INSERT INTO actigraphy_series (id, created_at, updated_at, version, patient_id, start,"
    " epoch_s, n_epochs, chunk_epochs, source, content_sha256)"
    " VALUES (?,?,?,1,?,?,60,?,1440,'bench','00')"
)
_RESULT = (
    "INSERT INTO actigraphy_results (id, created_at, updated_at, version, series_id, patient_id,"
    " kind, engine_version, data_json) VALUES (?,?,?,1,?,?,?,'bench',?)"
)
_CARE_TEAM = (
    "INSERT INTO care_team (id, created_at, updated_at, version, patient_id, user_id, team_role,"
    " active) VALUES (?,?,?,1,?,?,'treating clinician',1)"
)
_DRUGS = (("sertraline", "SSRI"), ("venlafaxine", "SNRI"), ("quetiapine", "SGA"),
          ("lithium", "mood stabiliser"), ("mirtazapine", "NaSSA"))  # fmt: skip
_FINDINGS = [
    {"kind": "risk_factor", "label": "hopelessness"},
    {"kind": "risk_factor", "label": "job loss and debt"},
    {"kind": "risk_factor", "label": "alcohol use"},
]


def fill(
    ctx: AppContext,
    n: int,
    *,
    visits: int = VISITS,
    every_days: int = 14,
    inputs: bool = False,
    assign_to: str | None = None,
    seed: int = 21,
) -> int:
    """Write ``n`` synthetic patients into the store in one transaction; the rows written."""
    key = ctx.store._key  # noqa: SLF001 — a benchmark may fill the file directly
    conn = connect_raw(ctx.settings.db_path, key)
    now = datetime.now(UTC).replace(tzinfo=None)
    rng = random.Random(seed)
    rows = 0
    conn.execute("BEGIN")
    for i in range(n):
        pid = str(uuid.uuid4())
        intake = _intake(rng, now) if inputs and rng.random() < 0.8 else None
        sex = ("female", "male", "other")[i % 3] if inputs else "other"
        born = f"{1950 + i % 50}-0{1 + i % 9}-1{i % 10}" if inputs else "1970-01-01"
        conn.execute(
            _PATIENT,
            (pid, now, now, f"B-{i:06d}", f"Given{i}", f"Family{i % 997}", born, sex, "active",
             intake),
        )  # fmt: skip
        a, e, notes = [], [], []
        for v in range(visits):
            when = now - timedelta(days=every_days * v)
            eid = str(uuid.uuid4())
            e.append((eid, now, now, pid, "follow-up", when, None))
            answers = json.dumps(
                {"answers": {f"q{k}": (v + k) % 4 for k in range(1, 10)}, "parameters": {}}
            )
            gad_answers = json.dumps(  # GAD-7 has seven items: a later rule check reads them
                {"answers": {f"q{k}": (v + k) % 4 for k in range(1, 8)}, "parameters": {}}
            )
            phq = float((i + v) % 27) if inputs else 12.0
            gad = float((i + 2 * v) % 22) if inputs else 8.0
            a.append((str(uuid.uuid4()), now, now, pid, "phq9", "1.0", when, answers, phq,
                      "moderate"))  # fmt: skip
            a.append((str(uuid.uuid4()), now, now, pid, "gad7", "1.0", when, gad_answers, gad,
                      "mild"))  # fmt: skip
            notes.append((str(uuid.uuid4()), now, now, pid, eid, f"Visit {v}",
                          "Synthetic benchmark note. " * 8, "signed", when))  # fmt: skip
        conn.executemany(_ENCOUNTER, e)
        conn.executemany(_ASSESSMENT, a)
        conn.executemany(_NOTE, notes)
        extra = _inputs(conn, rng, now, pid, notes[0][0] if notes else None) if inputs else 0
        if assign_to is not None:
            conn.execute(_CARE_TEAM, (str(uuid.uuid4()), now, now, pid, assign_to))
            extra += 1
        rows += 1 + len(a) + len(e) + len(notes) + extra
    conn.execute("COMMIT")
    conn.close()
    # the bulk SQL left the patients' feature rows stale (migration 0010's triggers): build
    # them now, as the migration of an existing store does, so no measured write pays for it
    ctx.store.write(lambda uow: feature_rows.rebuild(uow.session))
    return rows


def _intake(rng: random.Random, now: datetime) -> str:
    flags = {
        f: rng.random() < 0.3 for f in ("hopelessness", "substance_use") if rng.random() < 0.75
    }
    return json.dumps(
        {
            "prior_episodes": rng.randint(0, 6),
            "age_at_onset": float(rng.randint(14, 40)),
            "prior_admissions_before": rng.randint(0, 3),
            "last_discharge_before": (now - timedelta(days=rng.randint(400, 4000)))
            .date()
            .isoformat(),
            "failed_trials_before": rng.randint(0, 2),
            "flags": flags,
            "recorded_at": (now - timedelta(days=400)).replace(tzinfo=UTC).isoformat(),
            "recorded_by": "bench",
        }
    )


def _inputs(conn: object, rng: random.Random, now: datetime, pid: str, note_id: str | None) -> int:
    """Medications, an admission, accepted findings of one of the patient's notes and an
    analysed actigraphy recording, each for a share of patients; the rows written."""
    rows = 0
    execute = conn.execute  # type: ignore[attr-defined]
    if rng.random() < 0.9:
        for k in range(rng.randint(1, 3)):
            name, cls = _DRUGS[rng.randrange(len(_DRUGS))]
            start = (now - timedelta(days=rng.randint(60, 700))).date()
            stopped = k > 0 and rng.random() < 0.5
            end = start + timedelta(days=70) if stopped else None
            reason = rng.choice(("inadequate_response", "adverse_effects")) if stopped else None
            execute(_MEDICATION, (str(uuid.uuid4()), now, now, pid, name, cls, 10.0, start, end,
                                  round(rng.uniform(0.4, 1.0), 2), reason))  # fmt: skip
            rows += 1
    if rng.random() < 0.1:
        admitted = now - timedelta(days=rng.randint(3, 600))
        discharged = None if rng.random() < 0.1 else admitted + timedelta(days=rng.randint(1, 2))
        execute(_ENCOUNTER, (str(uuid.uuid4()), now, now, pid, "admission", admitted, discharged))
        rows += 1
    if rng.random() < 0.2 and note_id is not None:
        result = {
            "findings": _FINDINGS,
            "decisions": {str(k): {"accepted": rng.random() < 0.6} for k in range(3)},
        }
        execute(_ANALYSIS, (str(uuid.uuid4()), now, now, pid, note_id, json.dumps(result)))
        rows += 1
    if rng.random() < 0.1:
        sid = str(uuid.uuid4())
        execute(_SERIES, (sid, now, now, pid, now - timedelta(days=30), 14 * 1440))
        first_night = (now - timedelta(days=30)).date()
        nightly = [
            {"night_of": (first_night + timedelta(days=d)).isoformat(),
             "tst_min": rng.uniform(300, 480), "sleep_efficiency": rng.uniform(0.7, 0.95),
             "waso_min": rng.uniform(10, 90)}
            for d in range(14)
        ]  # fmt: skip
        circadian = {"binarized": {"IS": rng.uniform(0.3, 0.9), "IV": rng.uniform(0.3, 1.2),
                                   "RA": rng.uniform(0.5, 0.95)}}  # fmt: skip
        execute(_RESULT, (str(uuid.uuid4()), now, now, sid, pid, "nightly", json.dumps(nightly)))
        execute(_RESULT, (str(uuid.uuid4()), now, now, sid, pid, "circadian",
                          json.dumps(circadian)))  # fmt: skip
        rows += 3
    return rows
