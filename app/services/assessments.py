"""Administering instruments: validate and score with engines.scoring, store the response and
raise clinical alerts from the rule engine — all in one transaction, then publish events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NotFoundError, ValidationError
from app.core.security import rbac
from app.core.store.models import Alert, AssessmentResponse, Patient, Prediction
from app.core.store.store import Actor, UnitOfWork
from app.services import phi_audit
from app.services._engine_errors import translates_engine_errors
from app.services._records import add_audited
from app.services.context import AppContext, actor_of
from app.services.engine_events import alert_triggered_event, assessment_completed_event
from app.services.site_rules import active_rules
from engines.scoring.alerts import AlertCandidate, evaluate_rules
from engines.scoring.definitions import get_instrument
from engines.scoring.engine import (
    ScoreResult,
    observations_from_result,
    score,
)
from engines.scoring.fhir import AssessmentRecord
from engines.scoring.observations import Observation, prediction_observation

RULE_WINDOW = timedelta(days=56)  # the longest built-in rule window (PHQ-9 rise over 8 weeks)
MAX_RESPONSES = 1000  # one read re-scores every response it returns: bounded


@dataclass(frozen=True)
class AssessmentOutcome:
    assessment_id: str
    result: ScoreResult
    alert_ids: tuple[str, ...]


@dataclass(frozen=True)
class AssessmentRow:
    """One administration as lists, trends and the overview show it."""

    id: str
    instrument: str
    administered_at: datetime
    total: float | None
    band: str
    critical: bool
    scoring_rule: str
    mode: str  # clinician-rated or self-report


def assessment_rows(
    session: Session, patient_id: str, instrument_id: str | None = None, *, newest_first: bool
) -> list[AssessmentRow]:
    """A patient's administrations (deleted ones left out), optionally of one instrument."""
    q = select(AssessmentResponse).where(
        AssessmentResponse.patient_id == patient_id, AssessmentResponse.deleted_at.is_(None)
    )
    if instrument_id:
        q = q.where(AssessmentResponse.instrument == instrument_id)
    when = AssessmentResponse.administered_at
    q = q.order_by(when.desc() if newest_first else when)
    return [
        AssessmentRow(
            r.id, r.instrument, r.administered_at, r.total, r.band, r.critical, r.scoring_rule,
            r.mode,
        )
        for r in session.scalars(q)
    ]  # fmt: skip


def _stored_result(row: AssessmentResponse) -> ScoreResult:
    """Re-score a stored response (its answers are the source of truth)."""
    data = json.loads(row.answers_json)
    answers = (
        data["answers"] if isinstance(data, dict) else {f"q{i + 1}": v for i, v in enumerate(data)}
    )
    params = data.get("parameters") if isinstance(data, dict) else None
    return score(get_instrument(row.instrument), answers, params)


@translates_engine_errors
def patient_observations(session: Session, patient_id: str, since: datetime) -> list[Observation]:
    """Scores and risk predictions of one patient since `since`, as rule-engine observations;
    predictions of a model withheld as a risk score are left out."""
    obs: list[Observation] = []
    rows = session.scalars(
        select(AssessmentResponse).where(
            AssessmentResponse.patient_id == patient_id, AssessmentResponse.administered_at >= since
        )
    )
    for row in rows:
        obs += observations_from_result(
            _stored_result(row), patient_id=patient_id, assessment_id=row.id, at=row.administered_at
        )
    preds = session.scalars(
        select(Prediction).where(
            Prediction.patient_id == patient_id, Prediction.generated_at >= since
        )
    )
    obs += [
        prediction_observation(
            prediction_id=p.id,
            patient_id=patient_id,
            target=p.target,
            probability=p.probability,
            at=p.generated_at,
        )
        for p in preds
        if not _withheld(p.provenance)
    ]
    return obs


def _withheld(provenance: str) -> bool:
    """Whether a stored prediction's model was withheld as a risk score (no better than the
    base rate): its probability must not raise alerts either. Older rows predate the field."""
    if not provenance.startswith("{"):
        return False
    return bool(json.loads(provenance).get("withheld"))


@translates_engine_errors
def raise_alerts(uow: UnitOfWork, actor: Actor, patient_id: str, now: datetime) -> list[str]:
    """Evaluate the rules for one patient; store each new candidate once (by its dedup key)."""
    obs = patient_observations(uow.session, patient_id, now - RULE_WINDOW)
    candidates: tuple[AlertCandidate, ...] = evaluate_rules(active_rules(), obs, now)
    stored = uow.session.execute(
        select(Alert.rule, Alert.status, Alert.evidence_json).where(Alert.patient_id == patient_id)
    ).all()
    known = {json.loads(e).get("dedup") for _, _, e in stored if e.startswith("{")}
    # Alert fatigue: while a warning of a rule is still open, new evidence does not repeat it.
    # Critical rules always fire again.
    open_rules = {rule for rule, status, _ in stored if status in ("new", "acknowledged")}
    created = []
    for c in candidates:
        if c.dedup_key in known or (c.severity != "critical" and c.rule_id in open_rules):
            continue
        alert = Alert(
            patient_id=patient_id,
            rule=c.rule_id,
            severity=c.severity,
            triggered_at=c.evidence_at,
            evidence_json=json.dumps(
                {
                    "dedup": c.dedup_key,
                    "evidence": list(c.evidence_ids),
                    "rule_text": c.rule_text,
                    "rule_name": c.rule_name,
                }
            ),
            author_id=actor.id,
        )
        detail = {"rule": c.rule_id, "severity": c.severity}
        add_audited(
            uow, actor, "alert.trigger", alert, patient_id=patient_id, record_type="alert",
            detail=detail,
        )  # fmt: skip
        uow.emit(alert_triggered_event(c, alert_id=alert.id))
        created.append(alert.id)
    return created


@translates_engine_errors
def record_assessment(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: str,
    instrument_id: str,
    answers: dict[str, Any],
    *,
    administered_at: datetime,
    mode: str,
    params: dict[str, float] | None = None,
    evaluate_alerts: bool = True,
) -> AssessmentOutcome:
    """Score and store inside the caller's transaction (used by the service and the demo).

    Batch writers (the demo, imports) pass evaluate_alerts=False and call raise_alerts once.
    """
    instrument = get_instrument(instrument_id)
    result = score(instrument, answers, params)  # ValidationError → nothing is written
    row = AssessmentResponse(
        patient_id=patient_id,
        instrument=instrument.id,
        instrument_version=instrument.version,
        administered_at=administered_at,
        mode=mode,
        answers_json=json.dumps(
            {"answers": dict(result.answers), "parameters": dict(result.parameters)}
        ),
        total=result.total,
        band=result.band.code,
        critical=result.has_critical,
        scoring_rule=f"{result.rule_text} Band: {result.band.rule_text}",
        author_id=actor.id,
    )
    detail = {"instrument": instrument.id}
    add_audited(
        uow, actor, "assessment.record", row, patient_id=patient_id, record_type="assessment",
        detail=detail,
    )  # fmt: skip
    uow.emit(
        assessment_completed_event(
            result, patient_id=patient_id, assessment_id=row.id, occurred_at=administered_at
        )
    )
    alerts = (
        raise_alerts(uow, actor, patient_id, max(administered_at, datetime.now(UTC)))
        if evaluate_alerts
        else []
    )
    return AssessmentOutcome(row.id, result, tuple(alerts))


@translates_engine_errors
def submit(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    instrument_id: str,
    answers: dict[str, Any],
    *,
    mode: str = "self-report",
    administered_at: datetime | None = None,
    params: dict[str, float] | None = None,
) -> AssessmentOutcome:
    """Administer an instrument for a patient (clinician entry or patient self-report)."""

    def do(uow: UnitOfWork) -> AssessmentOutcome:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        if uow.session.get(Patient, patient_id) is None:
            raise NotFoundError("That patient record does not exist.")
        return record_assessment(
            uow,
            actor_of(principal),
            patient_id,
            instrument_id,
            answers,
            administered_at=administered_at or datetime.now(UTC),
            mode=mode,
            params=params,
        )

    return ctx.store.write(do)


def history(
    ctx: AppContext, principal: Principal, patient_id: str, instrument_id: str | None = None
) -> list[AssessmentRow]:
    """A patient's administrations, oldest first (audited read)."""

    def read(session: Session) -> list[AssessmentRow]:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        return assessment_rows(session, patient_id, instrument_id, newest_first=False)

    rows = ctx.store.read(read)
    phi_audit.audit_read(ctx, principal, **phi_audit.listed("assessment", patient_id, len(rows)))
    return rows


@dataclass(frozen=True)
class StoredResponses:
    """The newest matching administrations (at most the limit asked) and how many matched."""

    records: list[AssessmentRecord]
    matched: int


def _utc_start(when: date | datetime, name: str) -> datetime:
    """A datetime as given (it must carry a zone); a date as the start of that UTC day."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValidationError(f"Give '{name}' with a time zone.")
        return when
    return datetime.combine(when, time(), UTC)


@translates_engine_errors
def responses(
    ctx: AppContext,
    principal: Principal,
    patient_id: str,
    *,
    instrument: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    limit: int = 50,
) -> StoredResponses:
    """A patient's stored responses with their answers, newest first (live ones: deleted ones
    left out), optionally of one instrument and administered in [since, until) — a date is
    the start of that UTC day. Each is re-scored from its stored answers (the source of
    truth), so callers get sub-scores and scoring parameters `history` does not carry. One
    audited list read, naming the patient and how many were returned."""
    if not 1 <= limit <= MAX_RESPONSES:
        raise ValidationError(f"Ask for 1 to {MAX_RESPONSES} responses.")
    low = _utc_start(since, "since") if since is not None else None
    high = _utc_start(until, "until") if until is not None else None

    def read(session: Session) -> StoredResponses:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        where = [
            AssessmentResponse.patient_id == patient_id,
            AssessmentResponse.deleted_at.is_(None),
        ]
        if instrument:
            where.append(AssessmentResponse.instrument == instrument)
        if low is not None:
            where.append(AssessmentResponse.administered_at >= low)
        if high is not None:
            where.append(AssessmentResponse.administered_at < high)
        matched = session.scalar(select(func.count()).where(*where)) or 0
        rows = session.scalars(
            select(AssessmentResponse)
            .where(*where)
            .order_by(AssessmentResponse.administered_at.desc())
            .limit(limit)
        )
        records = [
            AssessmentRecord(r.id, patient_id, r.administered_at, _stored_result(r)) for r in rows
        ]
        return StoredResponses(records, matched)

    found = ctx.store.read(read)
    listed = phi_audit.listed("assessment", patient_id, len(found.records))
    phi_audit.audit_read(ctx, principal, **listed)
    return found
