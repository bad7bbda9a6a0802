"""Model monitoring on a real store: drift of the inputs against the signed training
distribution, calibration as outcomes arrive, one system alert per crossing, "under review"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import PermissionDeniedError
from app.core.store.models import SystemAlert
from app.demo import DEMO_PASSWORD
from app.services import model_monitoring, predictions
from app.services.context import AppContext
from app.services.system_alerts import list_system_alerts, transition_system_alert
from engines.xgb import reference
from tests.conftest import cli_env
from tests.support.cli import run
from tests.support.model_history import HistoryWriter, relapse_predictions
from tests.support.records import row_count

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _relapse_inputs(ctx: AppContext, *, shift: float = 0.0, n: int = 300) -> None:
    relapse_predictions(ctx, NOW, shift=shift, n=n)


def _hosp_outcomes(
    ctx: AppContext, *, miscalibrated: bool, n: int = 2000, seed: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """`n` hospitalisation predictions 95-174 days ago, each on its own patient, with an
    admission 30 days later drawn from the true risk (the prediction itself when calibrated;
    2.5 x + 0.2 when not) and a follow-up PHQ-9 at day 70. Returns (p, y) as written."""
    version = predictions.active_model("hosp_90d", ctx.settings).card.model_version
    rng = np.random.default_rng(seed)
    w = HistoryWriter()
    ps, ys = [], []
    for i in range(n):
        pid = w.patient()
        when = NOW - timedelta(days=95 + i % 80)
        p = float(rng.uniform(0.02, 0.5))
        true = min(0.95, 2.5 * p + 0.2) if miscalibrated else p
        y = float(rng.uniform() < true)
        if y:
            w.admission(pid, when + timedelta(days=30))
        w.score(pid, "phq9", when + timedelta(days=70), 8.0)
        w.prediction(pid, "hosp_90d", None, when, p, version)
        ps.append(p)
        ys.append(y)
    # not judged: 50 without any follow-up, 50 whose 90 days have not passed
    for i in range(100):
        pid = w.patient()
        when = NOW - timedelta(days=(100 + i) if i < 50 else 10)
        w.prediction(pid, "hosp_90d", None, when, 0.3, version)
    w.write(ctx)
    return np.asarray(ps), np.asarray(ys)


def _report(result: model_monitoring.ModelCheckResult, name: str) -> model_monitoring.ModelReport:
    return next(r for r in result.reports if r.model == name)


def test_inputs_like_training_raise_nothing(ctx: AppContext) -> None:
    _relapse_inputs(ctx)
    result = model_monitoring.run_check(ctx, now=NOW)
    assert result.raised == ()
    relapse = _report(result, "relapse_6m")
    assert relapse.status == "ok" and relapse.drift_n == 300
    assert relapse.worst_psi is not None and relapse.worst_psi < 0.1
    assert "regenerated from the signed card" in relapse.reference
    # the 100,000-patient cohort was regenerated in a spawned child, never in this process
    assert reference._cohort.cache_info().currsize == 0
    assert relapse.volume == 300 and len(relapse.weekly_volume) == 13
    # models with no predictions at all have nothing to judge
    assert _report(result, "response_cbt").status == "insufficient data"


def test_an_injected_feature_shift_raises_exactly_one_alert(ctx: AppContext, clinic) -> None:
    _relapse_inputs(ctx, shift=10.0)
    first = model_monitoring.run_check(ctx, now=NOW)
    assert len(first.raised) == 1
    relapse = _report(first, "relapse_6m")
    assert relapse.status == "under review" and relapse.open_alerts == ("input_drift",)
    shifted = {d.feature: d for d in relapse.drift}["phq9_current"]
    assert shifted.psi is not None and shifted.psi >= 0.25 and shifted.level == "alert"
    assert all(d.level != "alert" for d in relapse.drift if d.feature != "phq9_current")
    supervisor = clinic["users"][Role.SUPERVISOR]
    (alert,) = list_system_alerts(ctx, supervisor, source="model")
    assert (alert.rule, alert.subject) == ("input_drift", "relapse_6m")
    assert alert.evidence[0]["feature"] == "phq9_current"
    assert alert.evidence[0]["psi"] == pytest.approx(shifted.psi, abs=1e-4)

    second = model_monitoring.run_check(ctx, now=NOW)
    assert second.raised == ()  # the condition is still open: no second alert
    assert row_count(ctx, SystemAlert) == 1
    assert model_monitoring.under_review(ctx, "relapse_6m")

    transition_system_alert(ctx, supervisor, alert.id, "resolved", "retrained and reviewed")
    assert not model_monitoring.under_review(ctx, "relapse_6m")
    [summary] = [s for s in model_monitoring.summary(ctx, supervisor) if s.model == "relapse_6m"]
    assert summary.status == "ok" and summary.volume == 300


def test_outcomes_drifting_out_of_calibration_put_the_model_under_review(
    ctx: AppContext,
) -> None:
    p, y = _hosp_outcomes(ctx, miscalibrated=True)
    result = model_monitoring.run_check(ctx, now=NOW)
    hosp = _report(result, "hosp_90d")
    assert hosp.status == "under review" and hosp.open_alerts == ("calibration",)
    latest = hosp.latest
    assert latest is not None
    assert latest.n == 2000  # the 100 not yet judgeable are left out
    assert latest.events == int(y.sum())
    assert latest.brier.value == pytest.approx(float(np.mean((p - y) ** 2)))
    assert latest.intercept.value > 0.5 and latest.ece.value > 0.1
    assert latest.ece.ci_low <= latest.ece.value <= latest.ece.ci_high
    assert len(result.raised) == 1


def test_a_well_calibrated_history_is_not_under_review(ctx: AppContext) -> None:
    p, y = _hosp_outcomes(ctx, miscalibrated=False)
    result = model_monitoring.run_check(ctx, now=NOW)
    hosp = _report(result, "hosp_90d")
    assert result.raised == ()
    assert hosp.status == "ok"
    latest = hosp.latest
    assert latest is not None and latest.n == 2000
    assert latest.brier.value == pytest.approx(float(np.mean((p - y) ** 2)))
    assert latest.ece.value < 0.1 and 0.7 <= latest.slope.value <= 1.4
    assert latest.slope.ci_low <= 1.0 <= latest.slope.ci_high
    # the rolling windows: older ones hold fewer of these predictions, the newest all of them
    assert [w.n_predictions for w in hosp.calibration][-1] == 2050


def test_only_monitoring_roles_see_the_summary(ctx: AppContext, clinic) -> None:
    with pytest.raises(PermissionDeniedError):
        model_monitoring.summary(ctx, clinic["users"][Role.CLINICIAN])
    for role in (Role.ADMIN, Role.RESEARCHER):
        with pytest.raises(PermissionDeniedError):
            model_monitoring.reports(ctx, clinic["users"][role])
    # a clinician sees a model's monitoring on its card (aggregates only)
    report = model_monitoring.model_report(ctx, clinic["users"][Role.CLINICIAN], "relapse_6m")
    assert report.status == "insufficient data"


def test_cli_monitor_models_json(env: dict, tmp_path: Path) -> None:
    cenv = cli_env(env, tmp_path / "keyring.json")
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    out = run(
        cenv,
        "monitor",
        "models",
        "--json",
        "--user",
        "sup.davis",
        "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    models = {m["model"]: m for m in doc["models"]}
    assert {"relapse_6m", "hosp_90d", "response_ssri", "pat_screen"} <= set(models)
    relapse = models["relapse_6m"]
    assert relapse["status"] in ("ok", "insufficient data")
    assert "regenerated" in relapse["reference"]
    assert {"weekly_volume", "drift", "calibration", "outcome_definition"} <= set(relapse)
    assert doc["raised"] == []
    checked = run(
        cenv,
        "monitor",
        "models",
        "--check",
        "--user",
        "it.ops",
        "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("model") and "relapse_6m" in checked.stdout
    refused = run(
        cenv,
        "monitor",
        "models",
        "--user",
        "dr.adams",
        "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )
    assert refused.returncode != 0 and "supervisor" in refused.stderr


@pytest.fixture
def small_policy_ctx(env: dict, tmp_path: Path):
    """A store whose policy judges calibration from a single outcome (the hand-made history
    below has only a few)."""
    Path(env["NOVAMIND_POLICY"]).write_text(
        "[policy.operations.models]\nmin_outcomes_for_calibration = 1\n", encoding="utf-8"
    )
    context = AppContext.open(load_settings(env))
    yield context
    context.close()


def test_outcome_definitions_on_a_hand_made_history(small_policy_ctx: AppContext) -> None:
    ctx = small_policy_ctx
    w = HistoryWriter()
    day = timedelta(days=1)

    def predict(target: str, option: str | None, when: datetime, p: float) -> str:
        pid = w.patient()
        name = f"response_{option}" if option else target
        version = predictions.active_model(name, ctx.settings).card.model_version
        w.prediction(pid, target, option, when, p, version)
        return pid

    # relapse (made 200 days ago): PHQ-9 16 at day 30 -> 1; MADRS 25 at day 100 -> 1; PHQ-9 10
    # at day 120 -> 0; PHQ-9 10 at day 60 only -> unknown (not seen after day 91); PHQ-9 16 at
    # day 190 (past the horizon) -> 0. Known 4, events 2.
    t = NOW - 200 * day
    w.score(predict("relapse_6m", None, t, 0.6), "phq9", t + 30 * day, 16)
    w.score(predict("relapse_6m", None, t, 0.5), "madrs", t + 100 * day, 25)
    w.score(predict("relapse_6m", None, t, 0.2), "phq9", t + 120 * day, 10)
    w.score(predict("relapse_6m", None, t, 0.3), "phq9", t + 60 * day, 10)
    w.score(predict("relapse_6m", None, t, 0.1), "phq9", t + 190 * day, 16)
    # hospitalisation (120 days ago): admitted at day 10 -> 1; admitted at day 100 but seen at
    # day 50 -> 0; nothing at all -> unknown. Known 2, events 1.
    t = NOW - 120 * day
    w.admission(predict("hosp_90d", None, t, 0.4), t + 10 * day)
    pid = predict("hosp_90d", None, t, 0.1)
    w.admission(pid, t + 100 * day)
    w.score(pid, "phq9", t + 50 * day, 5)
    predict("hosp_90d", None, t, 0.2)
    # SSRI response (100 days ago), PHQ-9 20 five days before: SSRI from day 3, PHQ-9 8 at day
    # 60 -> 1; SSRI from day 0, PHQ-9 12 at day 60 -> 0; no SSRI -> unknown; SSRI but the only
    # later PHQ-9 at day 90 (outside 8-12 weeks) -> unknown. Known 2, events 1.
    t = NOW - 100 * day
    for start, later, at in ((3, 8, 60), (0, 12, 60), (None, 8, 60), (0, 8, 90)):
        pid = predict("response_ssri", "ssri", t, 0.5)
        w.score(pid, "phq9", t - 5 * day, 20)
        w.score(pid, "phq9", t + at * day, later)
        if start is not None:
            w.medication(pid, "SSRI", t + start * day)
    w.write(ctx)

    result = model_monitoring.run_check(ctx, now=NOW)
    for name, known, events, probs, outcomes_ in (
        ("relapse_6m", 4, 2, [0.6, 0.5, 0.2, 0.1], [1, 1, 0, 0]),
        ("hosp_90d", 2, 1, [0.4, 0.1], [1, 0]),
        ("response_ssri", 2, 1, [0.5, 0.5], [1, 0]),
    ):
        latest = _report(result, name).latest
        assert latest is not None, name
        assert (latest.n, latest.events) == (known, events), name
        p, y = np.asarray(probs), np.asarray(outcomes_, dtype=float)
        assert latest.brier.value == pytest.approx(float(np.mean((p - y) ** 2))), name


def test_screen_outcome_is_the_nearest_phq9_within_two_weeks(
    small_policy_ctx: AppContext,
) -> None:
    ctx = small_policy_ctx
    w = HistoryWriter()
    start = NOW - timedelta(days=60)
    end = start + timedelta(days=7)
    # PHQ-9 12 two days after the recording -> 1 (a PHQ-9 of 3 ten days after is further away)
    pid = w.patient()
    w.screen(pid, start, 7, 0.8)
    w.score(pid, "phq9", end + timedelta(days=2), 12)
    w.score(pid, "phq9", end + timedelta(days=10), 3)
    # PHQ-9 5 three days before the end -> 0
    pid = w.patient()
    w.screen(pid, start, 7, 0.3)
    w.score(pid, "phq9", end - timedelta(days=3), 5)
    # nearest PHQ-9 twenty days away -> unknown
    pid = w.patient()
    w.screen(pid, start, 7, 0.6)
    w.score(pid, "phq9", end + timedelta(days=20), 15)
    w.write(ctx)
    screen = _report(model_monitoring.run_check(ctx, now=NOW), "pat_screen")
    assert screen.volume == 3  # recordings that ended 53 days ago, inside the 13 weeks
    latest = screen.latest
    assert latest is not None and (latest.n, latest.events) == (2, 1)
    assert latest.brier.value == pytest.approx(((0.8 - 1) ** 2 + 0.3**2) / 2)


def test_llm_acceptance_and_verified_quote_rates(ctx: AppContext, clinic) -> None:
    w = HistoryWriter()
    for i in range(60):  # 120 findings: half with a verified quote, all decided
        pid = w.patient()
        w.analysis(
            pid, NOW - timedelta(days=1 + i % 50), "tiny.gguf", [(True, True), (False, False)]
        )
    pid = w.patient()
    w.analysis(pid, NOW - timedelta(days=3), "tiny.gguf", [(True, None)])  # undecided
    w.write(ctx)
    result = model_monitoring.run_check(ctx, now=NOW)
    llm = _report(result, "llm:tiny.gguf")
    assert llm.llm is not None
    assert (llm.llm.analyses, llm.llm.findings, llm.llm.decided, llm.llm.accepted) == (
        61,
        121,
        120,
        60,
    )
    assert (llm.llm.quotes, llm.llm.verified_quotes) == (121, 61)
    assert llm.llm.acceptance_rate == pytest.approx(0.5)  # above the 30 % floor
    assert llm.llm.verified_quote_rate == pytest.approx(61 / 121)  # below 90 %
    assert llm.status == "under review" and llm.open_alerts == ("llm_verified_quotes",)
    assert len(result.raised) == 1
    (alert,) = list_system_alerts(ctx, clinic["users"][Role.IT], source="model")
    assert alert.subject == "llm:tiny.gguf" and alert.evidence == ({"quotes": 121, "verified": 61},)
    assert model_monitoring.run_check(ctx, now=NOW).raised == ()
