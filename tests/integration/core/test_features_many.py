"""Set-based feature assembly (issue 21 item 1): ``build_features_many`` gives exactly what the
per-patient path gave before it (the old implementation is kept here as the oracle, copied from
app/services/model_inputs.py as of da71419), on a varied clinic at several prediction times,
with a number of queries that does not grow with the number of patients.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import keyring
import numpy as np
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import NotFoundError
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    AssessmentResponse,
    ClinicalNote,
    Medication,
    NlpAnalysis,
    Patient,
)
from app.demo import create_demo_clinic
from app.services import _id_sets, caseload, pat
from app.services.accepted_findings import AcceptedFinding
from app.services.context import AppContext
from app.services.history import FLAG_NAMES, IntakeHistory, admissions_of, intake_of
from app.services.model_inputs import (
    ANTIDEPRESSANT_CLASSES,
    AVERAGE_MONTH_DAYS,
    FAILED_TRIAL,
    MAX_COUNT,
    SEX_FEMALE,
    build_features,
    build_features_many,
)
from app.services.note_flags import note_flag_rules
from engines.pat.recording import ActigraphyRecording
from tests.integration.core.test_model_inputs import CASES, TODAY
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import add_patient, make_user

# ---- the oracle: the per-patient implementation before issue 21, unchanged ------------------


def _old_accepted_flags(session: Session, patient_id: str, now: datetime) -> set[str]:
    rules = note_flag_rules()
    return {
        r.source
        for f in _old_accepted_findings(session, patient_id, now)
        for r in rules
        if r.matches(f.kind, f.label)
    }


def _old_accepted_findings(
    session: Session, patient_id: str, now: datetime | None = None
) -> list[AcceptedFinding]:
    """The patient's accepted findings, oldest analysis first (then by finding); with ``now``,
    only those of notes dated on or before it (no look-ahead when training on the past)."""
    rows = session.execute(
        select(
            NlpAnalysis.id,
            NlpAnalysis.result_json,
            ClinicalNote.id,
            ClinicalNote.signed_at,
            ClinicalNote.created_at,
        )
        .join(ClinicalNote, ClinicalNote.id == NlpAnalysis.note_id)
        .where(
            NlpAnalysis.patient_id == patient_id,
            NlpAnalysis.deleted_at.is_(None),
            ClinicalNote.deleted_at.is_(None),
        )
        .order_by(NlpAnalysis.created_at, NlpAnalysis.id)
    )
    out: list[AcceptedFinding] = []
    for analysis_id, result_json, note_id, signed_at, created_at in rows:
        when = signed_at or created_at
        if now is not None and when > now:
            continue
        data = json.loads(result_json)
        if not isinstance(data, dict):
            continue
        decisions = data.get("decisions") or {}
        for i, finding in enumerate(data.get("findings") or []):
            decision = decisions.get(str(i))
            if not isinstance(decision, dict) or decision.get("accepted") is not True:
                continue
            if not isinstance(finding, dict):
                continue
            kind, label = str(finding.get("kind", "")), str(finding.get("label", ""))
            out.append(AcceptedFinding(analysis_id, note_id, i, kind, label, when))
    return out


def old_build_features(session: Session, patient_id: str, now: datetime) -> dict[str, Any]:
    """One patient's feature dict; anything the store does not know stays absent (NaN)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFoundError("That patient record does not exist.")
    phq_rows = session.execute(
        select(AssessmentResponse.administered_at, AssessmentResponse.total)
        .where(
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.instrument == "phq9",
            AssessmentResponse.administered_at <= now,  # no look-ahead (training uses a cutoff)
            AssessmentResponse.deleted_at.is_(None),
        )
        .order_by(AssessmentResponse.administered_at)
    ).all()
    phq = [(t, v) for t, v in phq_rows if v is not None]  # PHQ-9 always has a total
    gad = session.execute(
        select(AssessmentResponse.total)
        .where(
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.instrument == "gad7",
            AssessmentResponse.administered_at <= now,
            AssessmentResponse.deleted_at.is_(None),
        )
        .order_by(AssessmentResponse.administered_at.desc())
        .limit(1)
    ).scalar()
    f: dict[str, Any] = {"patient_id": patient_id}
    if phq:
        f["phq9_baseline"] = phq[0][1]
        f["phq9_current"] = phq[-1][1]
        recent = [(t, v) for t, v in phq if t >= now - timedelta(weeks=8)]
        if len(recent) >= 2:
            days = np.array([(t - recent[0][0]).total_seconds() / 86400 for t, _ in recent])
            if days[-1] > 0:
                f["phq9_slope"] = float(np.polyfit(days / 7.0, [v for _, v in recent], 1)[0])
        f["episode_months"] = max(0.0, (now - phq[0][0]).days / 30.44)
    if gad is not None:
        f["gad7_current"] = gad
        # proxy for anxious depression (Fava 2008 used HAM-D's anxiety/somatisation factor)
        f["anxious_depression"] = 1 if gad >= 10 else 0
    meds = session.scalars(
        select(Medication).where(
            Medication.patient_id == patient_id, Medication.deleted_at.is_(None)
        )
    ).all()
    active = [m for m in meds if m.end is None or m.end >= now.date()]
    f["n_psychotropics"] = len(active)
    adherence = [m.adherence for m in active if m.adherence is not None]
    if adherence:
        f["adherence_pdc"] = float(np.mean(adherence))
    f["on_maintenance_ad"] = 1 if any(m.drug_class in ANTIDEPRESSANT_CLASSES for m in active) else 0
    f["age_years"] = (now.date() - patient.birth_date).days / 365.25
    if patient.sex in SEX_FEMALE:
        f["sex_female"] = SEX_FEMALE[patient.sex]
    intake = intake_of(patient.history_json)
    if intake.recorded_at is None or intake.recorded_at > now:
        intake = IntakeHistory()  # none recorded by then: the whole history block is missing
    f.update(_history_features(session, patient_id, intake, meds, now))
    f.update(_flag_features(session, patient_id, intake, now))
    f.update(_actigraphy_features(session, patient_id, now))
    return f


def _history_features(
    session: Session,
    patient_id: str,
    intake: IntakeHistory,
    meds: Sequence[Medication],
    now: datetime,
) -> dict[str, float]:
    """Episodes, onset, admissions and failed trials: the intake's counts from before this
    clinic plus what the app's own records show up to ``now``; all missing without an intake."""
    if intake.recorded_at is None:
        return {}
    out: dict[str, float] = {}
    if intake.prior_episodes is not None:
        out["prior_episodes"] = intake.prior_episodes
    if intake.age_at_onset is not None:
        out["age_at_onset"] = intake.age_at_onset
    if intake.failed_trials_before is not None:
        failed = sum(
            1
            for m in meds
            if m.stop_reason == FAILED_TRIAL and m.end is not None and m.end <= now.date()
        )
        out["failed_trials"] = min(intake.failed_trials_before + failed, MAX_COUNT["failed_trials"])
    admissions = [a for a in admissions_of(session, patient_id) if a.start <= now]
    if intake.prior_admissions_before is not None:
        total = intake.prior_admissions_before + len(admissions)
        out["prior_admissions"] = min(total, MAX_COUNT["prior_admissions"])
    if any(a.end is None or a.end > now for a in admissions):
        out["months_since_admission"] = 0.0  # admitted now
        return out
    discharges = [a.end.date() for a in admissions if a.end is not None]
    if intake.last_discharge_before is not None:
        discharges.append(intake.last_discharge_before)
    discharges = [d for d in discharges if d <= now.date()]
    if discharges:  # none: never admitted (as in training, structurally missing)
        days = (now.date() - max(discharges)).days
        out["months_since_admission"] = days / AVERAGE_MONTH_DAYS
    return out


def _flag_features(
    session: Session, patient_id: str, intake: IntakeHistory, now: datetime
) -> dict[str, int]:
    """nlp_<flag>: 1 if recorded present on the intake or set by a clinician-accepted note
    finding, 0 if recorded absent and no accepted finding sets it, else missing."""
    found = _old_accepted_flags(session, patient_id, now)
    out: dict[str, int] = {}
    for flag in FLAG_NAMES:
        name = f"nlp_{flag}"
        recorded = intake.flags.get(flag)
        if recorded is True or name in found:
            out[name] = 1
        elif recorded is False:
            out[name] = 0
    return out


def _actigraphy_features(session: Session, patient_id: str, now: datetime) -> dict[str, float]:
    """Sleep and circadian features from the newest recording that ended by ``now`` (absent if
    none)."""
    series = session.execute(
        select(ActigraphySeries.id, ActigraphySeries.start, ActigraphySeries.n_epochs,
               ActigraphySeries.epoch_s)
        .where(ActigraphySeries.patient_id == patient_id, ActigraphySeries.start <= now,
               ActigraphySeries.deleted_at.is_(None))
        .order_by(ActigraphySeries.start.desc())
    ).all()  # fmt: skip
    series_id = next(
        (sid for sid, start, n, epoch in series if start + timedelta(seconds=n * epoch) <= now),
        None,
    )
    if series_id is None:
        return {}
    rows = {
        r.kind: json.loads(r.data_json)
        for r in session.scalars(
            select(ActigraphyResult).where(
                ActigraphyResult.series_id == series_id,
                ActigraphyResult.kind.in_(("nightly", "circadian")),
            )
        )
    }
    out: dict[str, float] = {}
    nights = rows.get("nightly") or []
    tst = [n["tst_min"] for n in nights if n.get("tst_min") is not None]
    se = [n["sleep_efficiency"] for n in nights if n.get("sleep_efficiency") is not None]
    waso = [n["waso_min"] for n in nights if n.get("waso_min") is not None]
    if tst:
        out["sleep_tst_h"] = float(np.mean(tst)) / 60.0
    if se:
        out["sleep_efficiency"] = 100.0 * float(np.mean(se))
    if waso:
        out["sleep_waso_min"] = float(np.mean(waso))
    circ = (rows.get("circadian") or {}).get("binarized") or {}
    for key, name in (("IS", "circ_is"), ("IV", "circ_iv"), ("RA", "circ_ra")):
        if circ.get(key) is not None:
            out[name] = float(circ[key])
    if "circ_is" in out:
        # pyActigraphy's IS estimator can exceed 1 slightly for a near-perfect rhythm (its
        # sample-size factors); the models' feature range is the textbook 0-1
        out["circ_is"] = min(out["circ_is"], 1.0)
    return out


# ---- the tests -------------------------------------------------------------------------------


def _same(many: list[dict], oracle: list[dict]) -> bool:
    """Equal, except the 8-week slope to rounding: the set-based path computes the least-squares
    line in closed form for all patients at once, the old one called np.polyfit per patient."""
    for a, b in zip(many, oracle, strict=True):
        if a.keys() != b.keys():
            return False
        if "phq9_slope" in a and a["phq9_slope"] != pytest.approx(
            b["phq9_slope"], rel=1e-9, abs=1e-12
        ):
            return False
        if {k: v for k, v in a.items() if k != "phq9_slope"} != {
            k: v for k, v in b.items() if k != "phq9_slope"
        }:
            return False
    return True


def _both(ctx: AppContext, ids: Sequence[str], now: datetime) -> tuple[list[dict], list[dict]]:
    def read(session: Session) -> tuple[list[dict], list[dict]]:
        return (
            build_features_many(session, ids, now),
            [old_build_features(session, pid, now) for pid in ids],
        )

    return ctx.store.read(read)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppContext, list[str]]]:
    """The demo clinic (assessments, medications, intakes, actigraphy) of 50 patients."""
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    root: Path = tmp_path_factory.mktemp("features-many")
    ctx = AppContext.open(
        load_settings({"NOVAMIND_DATA_DIR": str(root), "NOVAMIND_POLICY": str(root / "p.toml")})
    )
    create_demo_clinic(ctx, patients=50, actigraphy_days=14)
    ids = ctx.store.read(lambda s: list(s.scalars(select(Patient.id).order_by(Patient.mrn))))
    yield ctx, ids
    ctx.close()
    keyring.set_keyring(previous)


NOW = datetime.now(UTC)
TIMES = {
    "now": NOW,
    "a week ago": NOW - timedelta(days=7, hours=5),
    "two months ago": NOW - timedelta(days=61),
    "half a year ago": NOW - timedelta(days=178),
    "before any record": NOW - timedelta(days=3 * 365),
    "in a year": NOW + timedelta(days=365),
}


@pytest.mark.parametrize("scan", [False, True], ids=["by index", "by table scan"])
@pytest.mark.parametrize("now", TIMES.values(), ids=TIMES.keys())
def test_set_based_equals_the_per_patient_path_on_the_demo_clinic(
    demo: tuple[AppContext, list[str]], now: datetime, scan: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read plans (a large id set scans the tables) give the oracle's values."""
    if scan:
        monkeypatch.setattr(_id_sets, "SCAN_FROM", 1)
    ctx, ids = demo
    shuffled = random.Random(5).sample(ids, len(ids))
    many, oracle = _both(ctx, shuffled, now)
    assert _same(many, oracle)
    assert [f["patient_id"] for f in many] == shuffled  # in the order asked for
    if now == NOW:  # the demo clinic fills these for some patients, so the test compares them
        filled = {k for f in many for k in f}
        assert {"phq9_slope", "gad7_current", "adherence_pdc", "sleep_tst_h", "circ_is"} <= filled
        assert {"prior_episodes", "nlp_hopelessness"} <= filled


def test_one_patient_is_the_same_call(demo: tuple[AppContext, list[str]]) -> None:
    ctx, ids = demo
    one = ctx.store.read(lambda s: build_features(s, ids[3], NOW))
    assert _same([one], [_both(ctx, [ids[3]], NOW)[1][0]])
    assert ctx.store.read(lambda s: build_features_many(s, [], NOW)) == []


def test_an_unknown_patient_is_not_found_and_nothing_is_returned(
    demo: tuple[AppContext, list[str]],
) -> None:
    ctx, ids = demo
    with pytest.raises(NotFoundError):
        ctx.store.read(lambda s: build_features_many(s, [ids[0], "no-such-patient"], NOW))


def _queries(ctx: AppContext, ids: Sequence[str]) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:  # noqa: ANN401 — SQLAlchemy's event signature
        seen.append(args[2])

    def read(session: Session) -> None:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            build_features_many(session, ids, NOW)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    ctx.store.read(read)
    return len([s for s in seen if s.lstrip().upper().startswith("SELECT")])


def test_the_number_of_queries_does_not_grow_with_the_patients(
    demo: tuple[AppContext, list[str]],
) -> None:
    ctx, ids = demo
    five, fifty = _queries(ctx, ids[:5]), _queries(ctx, ids[:50])
    assert five == fifty
    assert five <= 12  # one per input family (the old path made about 10 per patient)


def test_the_caseload_scores_the_features_of_the_set_based_path(
    demo: tuple[AppContext, list[str]],
) -> None:
    ctx, ids = demo
    view = caseload.score_visible(ctx, make_user(ctx, "sup.features", Role.SUPERVISOR))
    assert {r.patient_id for r in view.rows} == set(ids)
    assert all(r.probability is not None for r in view.rows) or view.withheld


def _actigraphy(ctx: AppContext, me: Any, pid: str, ended_days_ago: int) -> None:  # noqa: ANN401
    rng = np.random.default_rng(ended_days_ago)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    minute = np.arange(7 * 1440) % 1440
    awake = (minute >= 7 * 60) & (minute < 23 * 60)
    counts = np.where(awake, rng.poisson(300, minute.size), 0).astype(float)
    rec = ActigraphyRecording(
        start=(midnight - timedelta(days=7 + ended_days_ago)).replace(tzinfo=None),
        counts=counts,
        nonwear=np.zeros(counts.size, bool),
        source="synthetic",
    )
    pat.store_analysed(ctx, me, pid, rec, pat.analyse(rec))


def test_set_based_equals_the_per_patient_path_for_every_kind_of_record(
    ctx: AppContext, clinic: dict
) -> None:
    """Each record setup of the model-inputs table on its own patient (no intake, full intake,
    never admitted, admissions, in hospital now, stopped medications, accepted, pending and
    rejected findings), two recordings for one, and the clinic fixture's two patients."""

    me = clinic["users"][Role.CLINICIAN]
    ids = [clinic["mine"], clinic["theirs"]]
    for i, (_, setup, _) in enumerate(CASES):
        pid = add_patient(
            ctx, me, f"K-{i}", family_name=f"Case{i}", birth_date=date(1990, 1, i + 1)
        )
        setup(ctx, me, pid)
        ids.append(pid)
    _actigraphy(ctx, me, ids[2], 30)
    _actigraphy(ctx, me, ids[2], 2)  # the newest ended by the prediction time is read
    times = [
        datetime.now(UTC),
        datetime.now(UTC) - timedelta(days=10),
        datetime.combine(date(2024, 7, 5), datetime.min.time(), UTC),  # during an admission
        datetime.combine(TODAY - timedelta(days=2), datetime.min.time(), UTC),  # admitted now?
    ]
    for now in times:
        many, oracle = _both(ctx, ids, now)
        assert _same(many, oracle), now
    got = _both(ctx, ids, times[0])[0]
    assert any(f.get("nlp_psychosocial_stressor") == 1 for f in got)
    assert any(f.get("months_since_admission") == 0.0 for f in got)
    assert any(f.get("failed_trials") == 3 for f in got)
    assert "sleep_tst_h" in got[2]
