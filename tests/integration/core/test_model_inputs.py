"""Every model input the clinical history feeds is filled from the records a clinician keeps
(issue 20 item 1), on a real store through the real services: intake history, medications with
their stop reason, admissions, clinician-accepted note findings, sex and actigraphy WASO. Nothing
recorded after the prediction time is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from app.core.domain import Principal, Role
from app.core.errors import PermissionDeniedError
from app.core.store.models import AuditEvent, Patient
from app.services import history, model_inputs, nlp, notes, pat
from app.services.context import AppContext
from app.services.history import IntakeHistory
from app.services.model_inputs import AVERAGE_MONTH_DAYS, build_features
from app.services.note_flags import FLAG_INPUTS, load_note_flag_rules, note_flag_rules
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance
from engines.pat.recording import ActigraphyRecording
from engines.xgb.features import CATALOGUE_BY_NAME

HISTORY_INPUTS = (
    "prior_episodes",
    "age_at_onset",
    "prior_admissions",
    "months_since_admission",
    "failed_trials",
)
TODAY = datetime.now(UTC).date()
PROV = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)
NOTE = (
    "She says she feels completely hopeless about the future. She lost her job in March and "
    "the bills are piling up. She drinks a bottle of wine every night to get to sleep."
)


def _features(ctx: AppContext, pid: str, now: datetime | None = None) -> dict[str, Any]:
    when = now or datetime.now(UTC)
    return ctx.store.read(lambda s: build_features(s, pid, when))


def _months(since: date) -> float:
    return (TODAY - since).days / AVERAGE_MONTH_DAYS


def _med(ctx: AppContext, me: Principal, pid: str, start: date, drug_class: str = "SSRI") -> str:
    return history.add_medication(
        ctx, me, pid, name="drug", drug_class=drug_class, dose=10.0, unit="mg",
        frequency="once daily", start=start, adherence=0.9,
    )  # fmt: skip


def _analysis(
    ctx: AppContext, me: Principal, pid: str, findings: list[tuple[str, str, str]]
) -> str:
    """A note of the patient and a stored analysis with these (kind, label, quote) findings."""
    note = notes.create_draft(ctx, me, pid, "Review", NOTE)
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [
            {"name": label, "confidence": "moderate", "evidence": [quote]}
            for kind, label, quote in findings
            if kind == "condition"
        ],
        "risk_factors": [
            {"factor": label, "evidence": [quote]}
            for kind, label, quote in findings
            if kind == "risk_factor"
        ],
        "protective_factors": [
            {"factor": label, "evidence": [quote]}
            for kind, label, quote in findings
            if kind == "protective_factor"
        ],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    return nlp.store_analysis(ctx, me, pid, parse_note_analysis(note.id, NOTE, result, PROV))


# ---- table: records → the inputs they fill ---------------------------------------------------

Setup = Callable[[AppContext, Principal, str], None]


def _nothing(ctx: AppContext, me: Principal, pid: str) -> None:
    return None


def _full_intake(ctx: AppContext, me: Principal, pid: str) -> None:
    history.record_intake(
        ctx, me, pid,
        IntakeHistory(
            prior_episodes=3, age_at_onset=19.0, prior_admissions_before=2,
            last_discharge_before=date(2021, 5, 1), failed_trials_before=1,
            flags={"hopelessness": True, "substance_use": False},
        ),
    )  # fmt: skip


def _never_admitted(ctx: AppContext, me: Principal, pid: str) -> None:
    history.record_intake(
        ctx, me, pid, IntakeHistory(prior_admissions_before=0, failed_trials_before=0)
    )


def _admitted_here(ctx: AppContext, me: Principal, pid: str) -> None:
    _full_intake(ctx, me, pid)
    history.record_admission(ctx, me, pid, admitted=date(2023, 1, 5), discharged=date(2023, 2, 1))
    history.record_admission(ctx, me, pid, admitted=date(2024, 7, 1), discharged=date(2024, 7, 9))


def _in_hospital(ctx: AppContext, me: Principal, pid: str) -> None:
    _full_intake(ctx, me, pid)
    history.record_admission(ctx, me, pid, admitted=TODAY - timedelta(days=3))


def _admitted_without_intake(ctx: AppContext, me: Principal, pid: str) -> None:
    history.record_admission(ctx, me, pid, admitted=date(2024, 7, 1), discharged=date(2024, 7, 9))


def _failed_trials(ctx: AppContext, me: Principal, pid: str) -> None:
    _full_intake(ctx, me, pid)
    for start, reason in (
        (date(2023, 1, 1), "inadequate_response"),
        (date(2023, 5, 1), "inadequate_response"),
        (date(2023, 9, 1), "adverse_effects"),  # not a failed trial
    ):
        mid = _med(ctx, me, pid, start)
        history.stop_medication(ctx, me, mid, end=start + timedelta(days=70), reason=reason)
    _med(ctx, me, pid, date(2024, 1, 1), "SNRI")  # current: not a failed trial


def _accepted_findings(ctx: AppContext, me: Principal, pid: str) -> None:
    """Hopelessness (recorded absent on the intake) and a stressor accepted; substance use
    only pending; psychotic features not recorded at all."""
    history.record_intake(
        ctx, me, pid, IntakeHistory(flags={"hopelessness": False, "substance_use": False})
    )
    aid = _analysis(
        ctx, me, pid,
        [
            ("risk_factor", "hopelessness", "feels completely hopeless about the future"),
            ("risk_factor", "job loss and debt", "lost her job in March"),
            ("risk_factor", "alcohol use", "drinks a bottle of wine every night"),
        ],
    )  # fmt: skip
    nlp.review_finding(ctx, me, aid, 0, accept=True)
    nlp.review_finding(ctx, me, aid, 1, accept=True)


def _rejected_findings(ctx: AppContext, me: Principal, pid: str) -> None:
    """Unreviewed and rejected model output sets nothing (no intake flags recorded)."""
    aid = _analysis(
        ctx, me, pid,
        [
            ("risk_factor", "hopelessness", "feels completely hopeless about the future"),
            ("risk_factor", "alcohol use", "drinks a bottle of wine every night"),
            ("protective_factor", "no longer hopeless", "feels completely hopeless about"),
        ],
    )  # fmt: skip
    nlp.review_finding(ctx, me, aid, 0, accept=False, reason="not what she meant")
    nlp.review_finding(ctx, me, aid, 2, accept=True)  # protective factors set no flag


MISSING = None
CASES: list[tuple[str, Setup, dict[str, Any]]] = [
    (
        "no intake recorded",
        _nothing,
        dict.fromkeys((*HISTORY_INPUTS, *FLAG_INPUTS), MISSING),
    ),
    (
        "intake history",
        _full_intake,
        {
            "prior_episodes": 3,
            "age_at_onset": 19.0,
            "prior_admissions": 2,
            "months_since_admission": _months(date(2021, 5, 1)),
            "failed_trials": 1,
            "nlp_hopelessness": 1,
            "nlp_substance_use": 0,
            "nlp_psychotic_features": MISSING,
            "nlp_psychosocial_stressor": MISSING,
        },
    ),
    (
        "never admitted",
        _never_admitted,
        {
            "prior_admissions": 0,
            "months_since_admission": MISSING,
            "failed_trials": 0,
            "prior_episodes": MISSING,
        },
    ),
    (
        "admissions recorded here",
        _admitted_here,
        {"prior_admissions": 4, "months_since_admission": _months(date(2024, 7, 9))},
    ),
    ("in hospital now", _in_hospital, {"prior_admissions": 3, "months_since_admission": 0.0}),
    (
        "admissions but no intake",
        _admitted_without_intake,
        {"prior_admissions": MISSING, "months_since_admission": MISSING},
    ),
    (
        "medications stopped for inadequate response",
        _failed_trials,
        {"failed_trials": 3, "n_psychotropics": 1, "on_maintenance_ad": 1, "adherence_pdc": 0.9},
    ),
    (
        "accepted note findings",
        _accepted_findings,
        {
            "nlp_hopelessness": 1,
            "nlp_psychosocial_stressor": 1,
            "nlp_substance_use": 0,
            "nlp_psychotic_features": MISSING,
        },
    ),
    (
        "unreviewed or rejected findings",
        _rejected_findings,
        dict.fromkeys(FLAG_INPUTS, MISSING),
    ),
]


@pytest.mark.parametrize(("setup", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_input_is_filled_from_the_records(
    ctx: AppContext, clinic: dict, setup: Setup, expected: dict[str, Any]
) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    setup(ctx, me, pid)
    got = _features(ctx, pid)
    for name, value in expected.items():
        if value is MISSING:
            assert got.get(name) is None, name
        else:
            assert got.get(name) == pytest.approx(value, abs=0.05), name
        spec = CATALOGUE_BY_NAME[name]
        if value is not None:
            assert spec.minimum <= got[name] <= spec.maximum


@pytest.mark.parametrize(("sex", "expected"), [("female", 1), ("male", 0), ("other", None)])
def test_sex_female_from_the_patient_record(
    ctx: AppContext, clinic: dict, sex: str, expected: int | None
) -> None:
    pid = clinic["mine"]

    def set_sex(uow: Any) -> None:  # noqa: ANN401
        uow.session.get(Patient, pid).sex = sex

    ctx.store.write(set_sex)
    assert _features(ctx, pid).get("sex_female") == expected


def test_waso_is_the_mean_of_the_newest_recordings_nights(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    assert "sleep_waso_min" not in _features(ctx, pid)
    rng = np.random.default_rng(3)
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    minute = np.arange(7 * 1440) % 1440
    awake = (minute >= 7 * 60) & (minute < 23 * 60)
    counts = np.where(awake, rng.poisson(300, minute.size), 0).astype(float)
    for hour in (1, 3, 5):  # three 5-minute wakings a night
        counts[(minute >= hour * 60) & (minute < hour * 60 + 5)] = 300.0
    rec = ActigraphyRecording(
        start=(midnight - timedelta(days=7)).replace(tzinfo=None),
        counts=counts,
        nonwear=np.zeros(counts.size, bool),
        source="synthetic",
    )
    results = pat.analyse(rec)
    pat.store_analysed(ctx, me, pid, rec, results)
    nights = [n["waso_min"] for n in results["nightly"] if n.get("waso_min") is not None]
    got = _features(ctx, pid)
    assert got["sleep_waso_min"] == pytest.approx(float(np.mean(nights)))
    assert got["sleep_waso_min"] > 10  # the waking minutes each night show
    # a recording that had not ended at the prediction time is not read
    assert "sleep_waso_min" not in _features(ctx, pid, midnight - timedelta(days=1))


def _backdate_intake(ctx: AppContext, pid: str, when: datetime) -> None:
    """As if the intake had been recorded on `when` (the service stamps the real time)."""

    def do(uow: Any) -> None:  # noqa: ANN401
        p = uow.session.get(Patient, pid)
        doc = json.loads(p.history_json)
        doc["recorded_at"] = when.isoformat()
        p.history_json = json.dumps(doc)

    ctx.store.write(do)


def test_nothing_recorded_after_now_is_read(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    history.record_intake(
        ctx, me, pid,
        IntakeHistory(
            prior_episodes=1, prior_admissions_before=1, last_discharge_before=date(2020, 1, 1),
            failed_trials_before=0, flags={"psychotic_features": False},
        ),
    )  # fmt: skip
    _backdate_intake(ctx, pid, datetime(2023, 1, 1, tzinfo=UTC))
    history.record_admission(ctx, me, pid, admitted=date(2023, 6, 1), discharged=date(2023, 6, 20))
    history.record_admission(ctx, me, pid, admitted=date(2024, 5, 1), discharged=date(2024, 5, 10))
    mid = _med(ctx, me, pid, date(2024, 1, 1))
    history.stop_medication(ctx, me, mid, end=date(2024, 4, 1), reason="inadequate_response")

    def at(day: date) -> dict[str, Any]:
        return _features(ctx, pid, datetime.combine(day, datetime.min.time(), tzinfo=UTC))

    before_intake = at(date(2022, 12, 31))
    assert all(before_intake.get(n) is None for n in HISTORY_INPUTS)
    assert before_intake.get("nlp_psychotic_features") is None
    march = at(date(2024, 3, 1))
    assert (march["prior_admissions"], march["failed_trials"]) == (2, 0)
    assert march["months_since_admission"] == pytest.approx(
        (date(2024, 3, 1) - date(2023, 6, 20)).days / AVERAGE_MONTH_DAYS
    )
    assert march["nlp_psychotic_features"] == 0
    in_may = at(date(2024, 5, 5))  # in hospital then
    assert (in_may["prior_admissions"], in_may["failed_trials"]) == (3, 1)
    assert in_may["months_since_admission"] == 0.0
    assert not math.isnan(at(TODAY)["months_since_admission"])
    # a finding accepted today is not read for a prediction dated yesterday
    aid = _analysis(
        ctx, me, pid, [("condition", "psychotic depression", "hopeless about the future")]
    )
    nlp.review_finding(ctx, me, aid, 0, accept=True)
    assert at(TODAY - timedelta(days=1))["nlp_psychotic_features"] == 0
    assert _features(ctx, pid)["nlp_psychotic_features"] == 1


def test_the_shipped_flag_rules_cover_every_flag_input() -> None:
    rules = note_flag_rules()
    assert {r.source for r in rules} == set(FLAG_INPUTS)
    assert {f"nlp_{f}" for f in history.FLAG_NAMES} == set(FLAG_INPUTS)
    matches = {r.source for r in rules if r.matches("risk_factor", "Hearing voices")}
    assert matches == {"nlp_psychotic_features"}
    assert not any(r.matches("protective_factor", "hopelessness") for r in rules)


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"format": "other"}, "format"),
        ({"format": "novamind.model_inputs.note_flags", "rules": []}, "rules"),
        (
            {
                "format": "novamind.model_inputs.note_flags",
                "rules": [{"input": "nlp_mood", "kinds": ["condition"], "keywords": ["x"]}],
            },
            "input",
        ),
        (
            {
                "format": "novamind.model_inputs.note_flags",
                "rules": [{"input": "nlp_hopelessness", "kinds": ["diagnosis"], "keywords": ["x"]}],
            },
            "kinds",
        ),
        (
            {
                "format": "novamind.model_inputs.note_flags",
                "rules": [{"input": "nlp_hopelessness", "kinds": ["condition"], "keywords": [" "]}],
            },
            "keywords",
        ),
    ],
)
def test_a_bad_flag_rules_file_is_a_clear_error(tmp_path: Any, doc: dict, words: str) -> None:  # noqa: ANN401
    from app.core.errors import ConfigError

    path = tmp_path / "flags.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=words):
        load_note_flag_rules(path)


def test_every_input_says_where_in_the_app_it_comes_from(settings: Any) -> None:  # noqa: ANN401
    from app.services import predictions
    from engines.xgb.features import CATALOGUE, FeatureSpec

    assert all(spec.source for spec in CATALOGUE)
    for spec in CATALOGUE:
        card = spec.to_card()
        assert FeatureSpec.from_card(card) == spec
        old = {k: v for k, v in card.items() if k != "source"}  # a card from before sources
        assert FeatureSpec.from_card(old).source == ""
    names = [*predictions.TARGETS, *(f"response_{o}" for o in predictions.OPTIONS)]
    for name in names:  # the active models' cards list the source of each of their inputs
        for spec in predictions.active_model(name, settings).card.features:
            assert spec.source == CATALOGUE_BY_NAME[spec.name].source, (name, spec.name)


@pytest.mark.parametrize("setup", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_history_inputs_are_what_build_features_gives_the_models(
    ctx: AppContext, clinic: dict, setup: Setup
) -> None:
    """The Clinical history tab shows these totals: one source, never recomputed."""
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    setup(ctx, me, pid)
    shown = model_inputs.history_inputs(ctx, me, pid)
    got = _features(ctx, pid)
    assert [v.name for v in shown] == list(model_inputs.HISTORY_INPUTS)
    assert set(model_inputs.HISTORY_INPUTS) == {*HISTORY_INPUTS, *FLAG_INPUTS}
    for v in shown:
        assert v.label == CATALOGUE_BY_NAME[v.name].label
        if v.name in got:
            assert v.value == pytest.approx(got[v.name], abs=1e-6), v.name
        else:
            assert v.value is None, v.name


def test_history_inputs_are_an_audited_care_team_read(ctx: AppContext, clinic: dict) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    _failed_trials(ctx, me, pid)
    with pytest.raises(PermissionDeniedError):
        model_inputs.history_inputs(ctx, clinic["other"], pid)
    values = {v.name: v.value for v in model_inputs.history_inputs(ctx, me, pid)}
    assert values["failed_trials"] == 3  # intake 1 + two stopped for inadequate response
    audits = ctx.store.read(
        lambda s: list(
            s.scalars(select(AuditEvent).where(AuditEvent.action == "model_inputs.read"))
        )
    )
    assert [(a.patient_id, a.actor_id) for a in audits] == [(pid, me.user_id)]
