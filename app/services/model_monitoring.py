"""Model monitoring: for every active model, prediction volume, input drift against the training
distribution, calibration as outcomes arrive, and (for the note-analysis LLM) how often
clinicians accept its findings and how many of its quotes verify.

`run_check` computes it all and raises one system alert (source "model", subject = the model)
per policy threshold crossed; system alerts keep at most one open per (rule, model), so a check
that keeps finding the same condition raises nothing new. A model is "under review" exactly while
it has an open model alert: the status is derived, not stored, so it clears when a supervisor or
IT resolves the alert (after retraining or review) and cannot disagree with the alert list.

Everything here is aggregate (counts, rates, PSI): no patient identifier leaves this module.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, PermissionDeniedError
from app.core.security import rbac
from app.core.store.models import SystemAlert
from app.core.store.store import SYSTEM, UnitOfWork
from app.services import cpu_pool, ops_policy, outcomes, predictions
from app.services.context import AppContext
from app.services.system_alerts import OPEN, raise_system_alert
from engines.xgb import monitoring as m
from engines.xgb.reference import (
    TrainingReference,
    needs_regeneration,
    regenerate_references,
    remember,
    training_reference,
)

Progress = Callable[[float, str], object]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_STEP_DAYS = 30  # rolling calibration windows start this far apart
_N_WINDOWS = 6
_N_BOOT = 200
PAT_SCREEN = "pat_screen"
LLM_PREFIX = "llm:"
XGB_MODELS = (*predictions.TARGETS, *(f"response_{o}" for o in predictions.OPTIONS))
#: Who may read model monitoring: supervisors and IT, and clinicians (whose patients the models
#: score) on the model card. Not admin (no clinical content) and not researchers (weekly counts
#: can be small cells, and they have the de-identified dashboard).
READERS = frozenset({Action.MONITOR_OPERATIONS, Action.READ_PHI})


@dataclass(frozen=True)
class FeatureDriftView:
    feature: str
    label: str
    psi: float | None
    missing_rate: float
    reference_missing_rate: float
    level: str  # ok | warning | alert | no data


@dataclass(frozen=True)
class CalibrationWindow:
    start: date  # predictions made from this day ...
    end: date  # ... up to (not including) this day, all with their horizon passed
    n_predictions: int
    calibration: m.Calibration | None  # None: fewer outcomes than the policy minimum


@dataclass(frozen=True)
class LlmQuality:
    analyses: int
    findings: int
    decided: int
    accepted: int
    quotes: int
    verified_quotes: int

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.decided if self.decided else None

    @property
    def verified_quote_rate(self) -> float | None:
        return self.verified_quotes / self.quotes if self.quotes else None


@dataclass(frozen=True)
class Crossing:
    """A policy threshold this check found crossed (raised as a system alert)."""

    rule: str
    severity: str
    summary: str
    evidence: tuple[Any, ...]


@dataclass(frozen=True)
class ModelReport:
    model: str  # the alert subject: registry name, "pat_screen" or "llm:<model file>"
    title: str
    kind: str  # xgboost | screen | llm
    version: str
    week_starts: tuple[date, ...]
    weekly_volume: tuple[int, ...]
    reference: str  # where the training distribution came from, or why there is none
    drift: tuple[FeatureDriftView, ...]
    drift_n: int  # predictions in the drift window
    outcome_definition: str
    calibration: tuple[CalibrationWindow, ...]  # oldest first; the last is the latest
    llm: LlmQuality | None
    crossings: tuple[Crossing, ...]
    status: str = "ok"  # ok | under review | insufficient data
    open_alerts: tuple[str, ...] = ()  # rules of the model's open system alerts
    judged: bool = False  # enough predictions, outcomes or reviews to hold against policy
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def volume(self) -> int:
        """Predictions in the monitoring window."""
        return sum(self.weekly_volume)

    @property
    def worst_psi(self) -> float | None:
        values = [d.psi for d in self.drift if d.psi is not None]
        return max(values) if values else None

    @property
    def latest(self) -> m.Calibration | None:
        return self.calibration[-1].calibration if self.calibration else None


@dataclass(frozen=True)
class ModelCheckResult:
    checked_at: datetime
    reports: tuple[ModelReport, ...]
    raised: tuple[str, ...]  # ids of the system alerts this check raised


@dataclass(frozen=True)
class ModelMonitoringSummary:
    model: str
    title: str
    volume: int
    status: str
    worst_psi: float | None
    ece: float | None


def _day(t: datetime) -> float:
    return (t - _EPOCH).total_seconds() / 86400.0


def _date(day: float) -> date:
    return (_EPOCH + timedelta(days=day)).date()


# --- reading -------------------------------------------------------------------------------

_N_INPUTS = 16  # stored input values read per prediction (every model has fewer features)
#: One scan of the predictions: day, probability, version; the stored inputs of those in the
#: drift window (one JSON array of values, and one of feature names, per row: SQLite parses the
#: document once for both); the observed outcome of those whose
#: horizon has passed (outcomes.py). Times are compared as the stored text (one julianday per
#: row): comparing computed days in every CASE cost a second per 100,000 rows.
_VALUES, _FEATURES = (
    "json_extract(p.contributions_json, "
    + ", ".join(f"'$.items[{j}].{key}'" for j in range(_N_INPUTS))
    + ")"
    for key in ("value", "feature")
)
_XGB_SQL = text(
    "SELECT p.target, p.option, julianday(p.generated_at) - 2440587.5, p.probability,"  # noqa: S608  # nosec B608 - constants
    f" p.model_version, CASE WHEN p.generated_at >= :drift THEN {_VALUES} END,"
    f" CASE WHEN p.generated_at >= :drift THEN {_FEATURES} END,"
    " CASE WHEN CASE p.target"
    "  WHEN 'relapse_6m' THEN p.generated_at BETWEEN :from_relapse AND :judged_relapse"
    "  WHEN 'hosp_90d' THEN p.generated_at BETWEEN :from_hosp AND :judged_hosp"
    "  ELSE p.generated_at BETWEEN :from_response AND :judged_response END"
    f" THEN {outcomes.XGB_OUTCOME_SQL} END"
    " FROM predictions p WHERE p.deleted_at IS NULL AND p.generated_at >= :since"
)


def _stamp(day: float) -> str:
    """A day (since the epoch) as the store writes times, for comparing with stored text."""
    return (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class _Rows:
    day: np.ndarray
    p: np.ndarray
    version: np.ndarray
    outcome: np.ndarray  # 1 / 0, NaN unknown or not yet judgeable
    inputs: np.ndarray  # (n, _N_INPUTS), NaN missing or outside the drift window
    in_drift: np.ndarray  # bool
    orders: dict[str, set[tuple[str, ...]]]  # version -> input orders stored in the window


def _xgb_rows(session: Session, now_day: float, window: float, since: float) -> dict[str, _Rows]:
    """Every XGBoost prediction since `since` (days), grouped by model name, in one scan."""
    params = {"since": _stamp(since), "drift": _stamp(now_day - window)}
    for key, horizon in (("relapse", "relapse_6m"), ("hosp", "hosp_90d"), ("response", "response")):
        judged = now_day - outcomes.HORIZON_DAYS[horizon]  # the calibration windows' span
        params[f"judged_{key}"] = _stamp(judged)
        params[f"from_{key}"] = _stamp(judged - window - _STEP_DAYS * (_N_WINDOWS - 1) - 1)
    rows = session.execute(_XGB_SQL, params).all()
    if not rows:
        return {}
    target, option, days, probs, versions, values_, features, ys = zip(*rows, strict=True)
    names = np.asarray(
        [f"response_{o}" if o else t for t, o in zip(target, option, strict=True)], dtype=str
    )
    day = np.asarray(days, dtype=np.float64)
    prob = np.asarray(probs, dtype=np.float64)
    ver = np.asarray(versions, dtype=str)
    y = np.asarray([np.nan if v is None else v for v in ys], dtype=np.float64)
    drift = np.asarray([v is not None for v in values_], dtype=bool)
    x = np.full((len(rows), _N_INPUTS), np.nan)
    in_drift = np.flatnonzero(drift)
    if in_drift.size:
        parsed = json.loads("[" + ",".join(values_[i] for i in in_drift) + "]")
        x[in_drift] = np.array(parsed, dtype=np.float64)  # JSON null -> NaN
    seen: dict[tuple[str, str], set[str]] = {}
    for i in in_drift:
        seen.setdefault((str(names[i]), str(ver[i])), set()).add(features[i])
    orders = {
        key: {tuple(str(f) for f in json.loads(doc) if f is not None) for doc in docs}
        for key, docs in seen.items()
    }
    out = {}
    for name in np.unique(names):
        sel = names == name
        out[str(name)] = _Rows(
            day[sel],
            prob[sel],
            ver[sel],
            y[sel],
            x[sel],
            drift[sel],
            {v: o for (n, v), o in orders.items() if n == name},
        )
    return out


_SCREEN_SQL = text(
    "SELECT p.d, json_extract(p.data_json, '$.probability'),"  # noqa: S608  # nosec B608 - constants
    f" CASE WHEN p.d <= :judged THEN {outcomes.SCREEN_OUTCOME_SQL} END"
    " FROM (SELECT r.patient_id, r.data_json,"
    "  datetime(s.start, '+' || (s.n_epochs * s.epoch_s) || ' seconds') AS generated_at,"
    "  julianday(s.start) - 2440587.5 + s.n_epochs * s.epoch_s / 86400.0 AS d"
    "  FROM actigraphy_results r JOIN actigraphy_series s ON s.id = r.series_id"
    "  WHERE r.kind = 'screen' AND r.deleted_at IS NULL AND s.deleted_at IS NULL) p"
    " WHERE p.d >= :since"
)


def _screen_rows(
    session: Session, since: float, judged: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recording-end days, screen probabilities, outcomes) of analysed recordings."""
    rows = [
        r
        for r in session.execute(_SCREEN_SQL, {"since": since, "judged": judged}).all()
        if r[1] is not None
    ]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    day, p, y = zip(*rows, strict=True)
    outcome = np.asarray([np.nan if v is None else float(v) for v in y], dtype=np.float64)
    return np.asarray(day, np.float64), np.asarray(p, np.float64), outcome


_LLM_SQL = text(
    "SELECT model_name, julianday(created_at) - 2440587.5,"
    " COALESCE(json_array_length(result_json, '$.findings'), 0),"
    " (SELECT count(*) FROM json_each(result_json, '$.decisions')),"
    " (SELECT count(*) FROM json_each(result_json, '$.decisions') d"
    "   WHERE json_extract(d.value, '$.accepted') = 1),"
    " (SELECT count(*) FROM json_each(result_json, '$.findings') f,"
    "   json_each(f.value, '$.evidence') e),"
    " (SELECT count(*) FROM json_each(result_json, '$.findings') f,"
    "   json_each(f.value, '$.evidence') e WHERE json_extract(e.value, '$.verified') = 1)"
    " FROM nlp_analyses WHERE deleted_at IS NULL AND json_valid(result_json)"
    " AND julianday(created_at) - 2440587.5 >= :since"
)


# --- computing -----------------------------------------------------------------------------


def _weeks(
    days: np.ndarray, now_day: float, window: float
) -> tuple[tuple[date, ...], tuple[int, ...]]:
    n_weeks = max(1, int(np.ceil(window / 7.0)))
    start = now_day - 7.0 * n_weeks
    counts = m.weekly_counts(days, start, n_weeks)
    return tuple(_date(start + 7.0 * i) for i in range(n_weeks)), tuple(counts)


def _calibration(
    pol: dict[str, float],
    p: np.ndarray,
    y: np.ndarray,
    day: np.ndarray,
    last_end: float,
    name: str,
) -> tuple[CalibrationWindow, ...]:
    """Rolling windows of `window_days`, `_STEP_DAYS` apart, the newest ending at `last_end`
    (the last prediction day whose horizon has passed), where outcomes suffice. Bootstrap CIs
    for the newest window (the one judged against policy); the older ones show the trend as
    point estimates, which keeps a check over 100,000 predictions within its time budget."""
    width, minimum = float(pol["window_days"]), int(pol["min_outcomes_for_calibration"])
    out = []
    for k in range(_N_WINDOWS - 1, -1, -1):
        end = last_end - k * _STEP_DAYS
        start = end - width
        sel = (day >= start) & (day < end)
        known = sel & ~np.isnan(y)
        n_known = int(known.sum())
        cal = None
        if n_known >= minimum and 0 < y[known].sum() < n_known:
            seed = zlib.crc32(name.encode())  # the same CIs for the same data, run after run
            cal = m.calibration(p[known], y[known], n_boot=_N_BOOT if k == 0 else 0, seed=seed)
        out.append(CalibrationWindow(_date(start), _date(end), int(sel.sum()), cal))
    return tuple(out)


def _calibration_crossings(pol: dict[str, float], latest: m.Calibration | None) -> list[Crossing]:
    if latest is None:
        return []
    reasons = []
    if latest.ece.value > pol["ece_alert"]:
        reasons.append(f"ECE {latest.ece.value:.3f} above {pol['ece_alert']:g}")
    if not pol["calibration_slope_low"] <= latest.slope.value <= pol["calibration_slope_high"]:
        reasons.append(
            f"calibration slope {latest.slope.value:.2f} outside "
            f"{pol['calibration_slope_low']:g}-{pol['calibration_slope_high']:g}"
        )
    if abs(latest.intercept.value) > pol["calibration_intercept_abs"]:
        reasons.append(
            f"calibration intercept {latest.intercept.value:+.2f} beyond "
            f"±{pol['calibration_intercept_abs']:g}"
        )
    if not reasons:
        return []
    evidence = (
        {"n": latest.n, "events": latest.events},
        {"ece": round(latest.ece.value, 4)},
        {"slope": round(latest.slope.value, 4)},
        {"intercept": round(latest.intercept.value, 4)},
        {"brier": round(latest.brier.value, 4)},
    )
    summary = "Calibration drifted on recent outcomes: " + "; ".join(reasons)
    return [Crossing("calibration", "warning", summary, evidence)]


def _drift(
    pol: dict[str, float], ref: TrainingReference, x: np.ndarray, labels: dict[str, str]
) -> tuple[tuple[FeatureDriftView, ...], list[Crossing]]:
    views: list[FeatureDriftView] = []
    psi_hits: list[dict[str, Any]] = []
    missing_hits: list[dict[str, Any]] = []
    enough = x.shape[0] >= pol["min_predictions_for_drift"]
    for j, fr in enumerate(ref.features):
        d = m.feature_drift(fr, x[:, j])
        level = "no data" if d.psi is None or not enough else "ok"
        if enough and d.psi is not None:
            if d.psi >= pol["psi_alert"]:
                level = "alert"
                psi_hits.append({"feature": fr.feature, "psi": round(d.psi, 4)})
            elif d.psi >= pol["psi_warning"]:
                level = "warning"
        if enough and abs(d.missing_delta) > pol["missing_rate_alert_delta"]:
            level = "alert"
            missing_hits.append(
                {
                    "feature": fr.feature,
                    "missing_rate": round(d.missing_rate, 4),
                    "training_missing_rate": round(d.reference_missing_rate, 4),
                }
            )
        views.append(
            FeatureDriftView(
                fr.feature,
                labels.get(fr.feature, fr.feature),
                d.psi,
                d.missing_rate,
                d.reference_missing_rate,
                level,
            )
        )
    crossings = []
    if psi_hits:
        names = ", ".join(h["feature"] for h in psi_hits)
        crossings.append(
            Crossing(
                "input_drift",
                "warning",
                f"Input drift: PSI at or above {pol['psi_alert']:g} for {names} "
                f"({x.shape[0]} predictions against the training distribution)",
                tuple(psi_hits),
            )
        )
    if missing_hits:
        names = ", ".join(h["feature"] for h in missing_hits)
        crossings.append(
            Crossing(
                "missing_inputs",
                "warning",
                f"Missing-input rate differs from training by more than "
                f"{pol['missing_rate_alert_delta']:g} for {names}",
                tuple(missing_hits),
            )
        )
    return tuple(views), crossings


def _xgb_report(
    ctx: AppContext,
    session: Session,
    name: str,
    rows: _Rows | None,
    pol: dict[str, float],
    now_day: float,
) -> ModelReport | None:
    try:
        model = predictions.active_model(name, ctx.settings)
    except NotFoundError:
        return None
    card = model.card
    window = float(pol["window_days"])
    z = np.zeros(0)
    r = rows or _Rows(z, z, np.zeros(0, str), z, np.zeros((0, _N_INPUTS)), z.astype(bool), {})
    weeks, volume = _weeks(r.day, now_day, window)
    notes: list[str] = []
    ref = training_reference(card)
    labels = {f.name: f.label for f in card.features}
    drift: tuple[FeatureDriftView, ...] = ()
    crossings: list[Crossing] = []
    active = r.version == card.model_version
    in_window = active & r.in_drift
    drift_n = int(in_window.sum())
    names = [f.name for f in card.features]
    if ref is None:
        reference = "no training distribution: the card stores no reference bins and its data "
        reference += "cannot be regenerated (drift not computed)"
    elif len(names) > _N_INPUTS:
        reference = f"{ref.source}; more inputs than monitoring reads (drift not computed)"
    else:
        reference = ref.source
        if r.orders.get(card.model_version, {tuple(names)}) != {tuple(names)}:
            notes.append("stored inputs are not in the card's feature order; drift not computed")
        else:
            drift, crossings = _drift(pol, ref, r.inputs[in_window][:, : len(names)], labels)
            if drift_n < pol["min_predictions_for_drift"]:
                notes.append(
                    f"{drift_n} predictions in the window, fewer than "
                    f"{pol['min_predictions_for_drift']:g}: drift shown, not judged"
                )
    horizon = outcomes.horizon_days(name)
    calibration = _calibration(
        pol, r.p[active], r.outcome[active], r.day[active], now_day - horizon, name
    )
    crossings += _calibration_crossings(pol, calibration[-1].calibration)
    return ModelReport(
        model=name,
        title=str(card.raw.get("title", name)),
        kind="xgboost",
        version=card.model_version,
        week_starts=weeks,
        weekly_volume=volume,
        reference=reference,
        drift=drift,
        drift_n=drift_n,
        outcome_definition=outcomes.definition(name),
        calibration=calibration,
        llm=None,
        crossings=tuple(crossings),
        notes=tuple(notes),
        judged=bool(drift and drift_n >= pol["min_predictions_for_drift"])
        or calibration[-1].calibration is not None,
    )


def _screen_report(
    session: Session, pol: dict[str, float], now_day: float, since: float
) -> ModelReport:
    horizon = outcomes.horizon_days(PAT_SCREEN)
    day, p, y = _screen_rows(session, since, now_day - horizon)
    weeks, volume = _weeks(day, now_day, float(pol["window_days"]))
    calibration = _calibration(pol, p, y, day, now_day - horizon, PAT_SCREEN)
    return ModelReport(
        model=PAT_SCREEN,
        title="Actigraphy depression screen (PAT)",
        kind="screen",
        version="bundled",
        week_starts=weeks,
        weekly_volume=volume,
        reference="the screen's training inputs are not shipped with a reference distribution: "
        "drift not computed",
        drift=(),
        drift_n=0,
        outcome_definition=outcomes.definition(PAT_SCREEN),
        calibration=calibration,
        llm=None,
        crossings=tuple(_calibration_crossings(pol, calibration[-1].calibration)),
        judged=calibration[-1].calibration is not None,
    )


def _llm_reports(session: Session, pol: dict[str, float], now_day: float) -> list[ModelReport]:
    window = float(pol["window_days"])
    rows = session.execute(_LLM_SQL, {"since": now_day - window}).all()
    by_model: dict[str, list[Any]] = {}
    for r in rows:
        by_model.setdefault(str(r[0]), []).append(r)
    out = []
    for name, rs in sorted(by_model.items()):
        days = np.asarray([r[1] for r in rs], dtype=np.float64)
        weeks, volume = _weeks(days, now_day, window)
        q = LlmQuality(
            analyses=len(rs),
            findings=sum(int(r[2]) for r in rs),
            decided=sum(int(r[3]) for r in rs),
            accepted=sum(int(r[4]) for r in rs),
            quotes=sum(int(r[5]) for r in rs),
            verified_quotes=sum(int(r[6]) for r in rs),
        )
        crossings = []
        minimum = pol["min_outcomes_for_calibration"]  # reviewed findings, like outcomes
        acc, ver = q.acceptance_rate, q.verified_quote_rate
        if acc is not None and q.decided >= minimum and acc < pol["llm_acceptance_rate_low"]:
            crossings.append(
                Crossing(
                    "llm_acceptance",
                    "warning",
                    f"Clinicians accepted {acc:.0%} of reviewed findings "
                    f"(policy minimum {pol['llm_acceptance_rate_low']:.0%})",
                    ({"decided": q.decided, "accepted": q.accepted},),
                )
            )
        if ver is not None and q.quotes >= minimum and ver < pol["llm_verified_quote_rate_low"]:
            crossings.append(
                Crossing(
                    "llm_verified_quotes",
                    "warning",
                    f"{ver:.0%} of quotes verified in the note "
                    f"(policy minimum {pol['llm_verified_quote_rate_low']:.0%})",
                    ({"quotes": q.quotes, "verified": q.verified_quotes},),
                )
            )
        out.append(
            ModelReport(
                model=f"{LLM_PREFIX}{name}"[:128],
                title=f"Note analysis ({name})",
                kind="llm",
                version=name,
                week_starts=weeks,
                weekly_volume=volume,
                reference="not applicable (language model)",
                drift=(),
                drift_n=0,
                outcome_definition="clinician review of each finding; quotes checked verbatim",
                calibration=(),
                llm=q,
                crossings=tuple(crossings),
                judged=q.decided >= minimum or q.quotes >= minimum,
            )
        )
    return out


def _prepare_references(ctx: AppContext, names: tuple[str, ...]) -> None:
    """Regenerate the synthetic training references not yet cached, in a spawned child: the
    100,000-patient cohort costs ~285 MB of heap that would otherwise stay with the desktop
    process after the first check (app.services.cpu_pool.call_in_child)."""
    docs = []
    for name in names:
        if name not in XGB_MODELS:
            continue
        try:
            card = predictions.active_model(name, ctx.settings).card
        except NotFoundError:
            continue
        if needs_regeneration(card):
            docs.append(card.to_json())
    if docs:
        remember(cpu_pool.call_in_child(regenerate_references, docs))


def compute(
    ctx: AppContext,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    only: str | None = None,
) -> list[ModelReport]:
    """Every active model's monitoring figures, or just model `only`'s (no alerts raised,
    status not yet set)."""
    now = now or datetime.now(UTC)
    pol = ops_policy.section(ctx.settings, "models")
    now_day = _day(now)
    window = float(pol["window_days"])
    longest = max(outcomes.HORIZON_DAYS.values())
    since = now_day - window - longest - _STEP_DAYS * (_N_WINDOWS - 1) - 1
    tick = progress or (lambda _pct, _msg: None)

    def read(session: Session) -> list[ModelReport]:
        tick(5, "reading predictions and their outcomes")
        rows = (
            _xgb_rows(session, now_day, window, since) if only is None or only in XGB_MODELS else {}
        )
        reports: list[ModelReport] = []
        for i, name in enumerate(XGB_MODELS):
            if only is not None and name != only:
                continue
            tick(35 + 45 * i / len(XGB_MODELS), f"checking {name}")
            rep = _xgb_report(ctx, session, name, rows.get(name), pol, now_day)
            if rep is not None:
                reports.append(rep)
        if only is None or only == PAT_SCREEN:
            tick(85, "checking the actigraphy screen")
            reports.append(_screen_report(session, pol, now_day, since))
        if only is None or only.startswith(LLM_PREFIX):
            tick(90, "checking note analysis")
            reports.extend(_llm_reports(session, pol, now_day))
        return reports

    tick(2, "preparing the training references")
    _prepare_references(ctx, XGB_MODELS if only is None else (only,))
    return ctx.store.read(read)


def _open_model_alerts(session: Session) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for subject, rule in session.execute(
        select(SystemAlert.subject, SystemAlert.rule).where(
            SystemAlert.source == "model", SystemAlert.status.in_(OPEN)
        )
    ):
        out.setdefault(subject, []).append(rule)
    return out


def _with_status(
    reports: list[ModelReport], open_alerts: dict[str, list[str]]
) -> list[ModelReport]:
    out = []
    for r in reports:
        rules = tuple(sorted(open_alerts.get(r.model, [])))
        if rules:
            status = "under review"
        elif not r.judged:
            status = "insufficient data"
        else:
            status = "ok"
        out.append(replace(r, status=status, open_alerts=rules))
    return out


def run_check(
    ctx: AppContext, *, now: datetime | None = None, progress: Progress | None = None
) -> ModelCheckResult:
    """Compute every model's monitoring and raise a system alert for each threshold crossed
    (one per rule and model while it stays open: running again raises nothing new)."""
    now = now or datetime.now(UTC)
    reports = compute(ctx, now=now, progress=progress)
    if progress is not None:
        progress(95, "raising alerts")

    def write(uow: UnitOfWork) -> tuple[list[str], dict[str, list[str]]]:
        raised = []
        for r in reports:
            for c in r.crossings:
                alert_id = raise_system_alert(
                    uow,
                    SYSTEM,
                    source="model",
                    rule=c.rule,
                    severity=c.severity,
                    subject=r.model,
                    summary=f"{r.title} ({r.version}): {c.summary}",
                    evidence=list(c.evidence),
                )
                if alert_id is not None:
                    raised.append(alert_id)
        return raised, _open_model_alerts(uow.session)

    raised, open_alerts = ctx.store.write(write)
    if progress is not None:
        progress(100, "done")
    return ModelCheckResult(now, tuple(_with_status(reports, open_alerts)), tuple(raised))


def _require_reader(principal: Principal) -> None:
    if not READERS & rbac.capabilities(principal):
        raise PermissionDeniedError("Your role does not see model monitoring.")


def reports(
    ctx: AppContext,
    principal: Principal,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
    only: str | None = None,
) -> list[ModelReport]:
    """Every model's monitoring (or model `only`'s) with its status (aggregates only; no alert
    is raised)."""
    _require_reader(principal)
    computed = compute(ctx, now=now, progress=progress, only=only)
    return _with_status(computed, ctx.store.read(_open_model_alerts))


def model_report(
    ctx: AppContext,
    principal: Principal,
    name: str,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ModelReport:
    """One model's monitoring (the model card's Monitoring tab)."""
    for r in reports(ctx, principal, now=now, only=name, progress=progress):
        if r.model == name:
            return r
    raise NotFoundError(f"No monitoring for model {name}.")


def summary(ctx: AppContext, principal: Principal) -> list[ModelMonitoringSummary]:
    """One line per model for the clinic dashboard (supervisors and IT)."""
    if Action.MONITOR_OPERATIONS not in rbac.capabilities(principal):
        raise PermissionDeniedError("Only supervisors and IT see model monitoring.")
    return [
        ModelMonitoringSummary(
            r.model,
            r.title,
            r.volume,
            r.status,
            r.worst_psi,
            None if r.latest is None else r.latest.ece.value,
        )
        for r in reports(ctx, principal)
    ]


def under_review(ctx: AppContext, name: str) -> bool:
    """Whether a model has an open model alert (cheap: no figures computed)."""

    def read(session: Session) -> bool:
        q = select(func.count()).where(
            SystemAlert.source == "model",
            SystemAlert.subject == name,
            SystemAlert.status.in_(OPEN),
        )
        return bool(session.scalar(q))

    return ctx.store.read(read)


def _estimate(e: m.Estimate) -> dict[str, float]:
    return {
        "value": round(e.value, 4),
        "ci_low": round(e.ci_low, 4),
        "ci_high": round(e.ci_high, 4),
    }


def report_json(r: ModelReport) -> dict[str, Any]:
    """One report as plain JSON (for `novamind monitor models --json`)."""
    cal = []
    for w in r.calibration:
        c = w.calibration
        cal.append(
            {
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
                "predictions": w.n_predictions,
                "outcomes": None if c is None else c.n,
                "events": None if c is None else c.events,
                "brier": None if c is None else _estimate(c.brier),
                "ece": None if c is None else _estimate(c.ece),
                "slope": None if c is None else _estimate(c.slope),
                "intercept": None if c is None else _estimate(c.intercept),
            }
        )
    llm = None
    if r.llm is not None:
        llm = {
            "analyses": r.llm.analyses,
            "findings": r.llm.findings,
            "decided": r.llm.decided,
            "accepted": r.llm.accepted,
            "acceptance_rate": r.llm.acceptance_rate,
            "quotes": r.llm.quotes,
            "verified_quotes": r.llm.verified_quotes,
            "verified_quote_rate": r.llm.verified_quote_rate,
        }
    return {
        "model": r.model,
        "title": r.title,
        "kind": r.kind,
        "version": r.version,
        "status": r.status,
        "open_alerts": list(r.open_alerts),
        "volume": r.volume,
        "weekly_volume": [
            {"week_of": d.isoformat(), "predictions": n}
            for d, n in zip(r.week_starts, r.weekly_volume, strict=True)
        ],
        "reference": r.reference,
        "drift_predictions": r.drift_n,
        "drift": [
            {
                "feature": d.feature,
                "psi": None if d.psi is None else round(d.psi, 4),
                "missing_rate": round(d.missing_rate, 4),
                "training_missing_rate": round(d.reference_missing_rate, 4),
                "level": d.level,
            }
            for d in r.drift
        ],
        "outcome_definition": r.outcome_definition,
        "calibration": cal,
        "llm": llm,
        "crossings": [
            {"rule": c.rule, "severity": c.severity, "summary": c.summary} for c in r.crossings
        ],
        "notes": list(r.notes),
        "judged": r.judged,
    }
