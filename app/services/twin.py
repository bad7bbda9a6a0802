"""The digital twin service: observations from the store → engines.twin estimate → an immutable,
versioned TwinSnapshot, published as DigitalTwinUpdated."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.events import AssessmentCompleted, NLPAnalysisCompleted
from app.core.security import rbac
from app.core.store.models import (
    ActigraphyResult,
    ActigraphySeries,
    AssessmentResponse,
    TwinSnapshot,
)
from app.core.store.store import SYSTEM, Actor, UnitOfWork
from app.services._engine_errors import translates_engine_errors
from app.services._records import add_audited
from app.services.context import AppContext, actor_of
from app.services.engine_events import twin_updated_event
from app.services.pat import twin_observations as pat_observations
from app.services.twin_notes import accepted_finding_observations
from engines.twin.observations import Observation, cssrs_screen_level
from engines.twin.state import TwinState, estimate_twin

# instrument id → [(observation-model source, how to read it from the stored answers)]
Reader = Callable[[dict[str, int], float | None], float | None]
MAPPINGS: dict[str, list[tuple[str, Reader]]] = {
    "phq9": [
        ("phq9.total", lambda a, t: t),
        ("phq9.item3", lambda a, t: a.get("q3")),
        ("phq9.item9", lambda a, t: a.get("q9")),
    ],
    "gad7": [("gad7.total", lambda a, t: t)],
    "madrs": [("madrs.total", lambda a, t: t)],
    "hamd17": [("hamd17.total", lambda a, t: t)],
    # C-SSRS: the highest of ideation questions 1-5 answered yes (0 = none), raised by suicidal
    # behaviour (q6 lifetime → 3, q6_recent → 5; docs/twin.md)
    "cssrs_screener": [("cssrs.ideation_severity", lambda a, t: cssrs_screen_level(a))],
}
# instruments whose twin sources read item answers (the rest map only the stored total)
_READS_ANSWERS = frozenset({"phq9", "cssrs_screener"})


@translates_engine_errors
def observations_for(session: Session, patient_id: str) -> list[Observation]:
    """Every observation that feeds the twin (docs/twin.md §2): assessments, actigraphy results
    and clinician-accepted note findings. Predictions are not among them."""
    out: list[Observation] = []
    r = AssessmentResponse
    rows = session.execute(
        select(r.id, r.instrument, r.administered_at, r.total, r.answers_json).where(
            r.patient_id == patient_id, r.instrument.in_(MAPPINGS), r.deleted_at.is_(None)
        )
    )  # columns, not entities: five years of fortnightly scores are ~500 rows a patient
    for rid, instrument, at, total, answers_json in rows:
        answers: dict[str, int] = {}
        if instrument in _READS_ANSWERS:  # the others map only the stored total
            data = json.loads(answers_json)
            answers = data.get("answers", {}) if isinstance(data, dict) else {}
        for source, read in MAPPINGS[instrument]:
            value = read(answers, total)
            if value is not None:
                out.append(Observation(f"{rid}/{source}", source, at, float(value)))
    spans = {
        sid: (start, n)
        for sid, start, n in session.execute(
            select(ActigraphySeries.id, ActigraphySeries.start, ActigraphySeries.n_epochs).where(
                ActigraphySeries.patient_id == patient_id, ActigraphySeries.deleted_at.is_(None)
            )
        )
    }
    results = session.scalars(
        select(ActigraphyResult).where(
            ActigraphyResult.patient_id == patient_id, ActigraphyResult.deleted_at.is_(None)
        )
    )
    live = [row for row in results if row.series_id in spans]  # not of a deleted recording
    out += [Observation(*obs) for obs in pat_observations(live, spans)]
    out += accepted_finding_observations(session, patient_id)
    return out


@translates_engine_errors
def update_in(uow: UnitOfWork, actor: Actor, patient_id: str, as_of: datetime) -> str | None:
    """Estimate and store the next snapshot inside the caller's transaction."""
    obs = observations_for(uow.session, patient_id)
    if not obs:
        return None
    current = (
        uow.session.scalar(
            select(func.max(TwinSnapshot.snapshot_version)).where(
                TwinSnapshot.patient_id == patient_id
            )
        )
        or 0
    )
    state = estimate_twin(obs, as_of=as_of, version=current + 1)
    snap = TwinSnapshot(
        patient_id=patient_id,
        snapshot_version=state.version,
        as_of=as_of,
        model_version=state.observation_model_version,
        state_json=state.to_json(),
        author_id=actor.id,
    )
    detail = {"version": state.version}
    add_audited(
        uow, actor, "twin.update", snap, patient_id=patient_id, record_type="twin", detail=detail
    )
    uow.emit(twin_updated_event(state, patient_id=patient_id, snapshot_id=snap.id))
    return snap.id


@translates_engine_errors
def update(ctx: AppContext, principal: Principal, patient_id: str) -> str | None:
    def do(uow: UnitOfWork) -> str | None:
        rbac.require(uow.session, principal, Action.WRITE_CLINICAL, patient_id)
        return update_in(uow, actor_of(principal), patient_id, datetime.now(UTC))

    return ctx.store.write(do)


@translates_engine_errors
def latest_state(ctx: AppContext, principal: Principal, patient_id: str) -> TwinState | None:
    """The newest snapshot of a patient's twin, or None before the first observation."""

    def read(session: Session) -> str | None:
        rbac.require(session, principal, Action.READ_PHI, patient_id)
        return session.scalar(
            select(TwinSnapshot.state_json)
            .where(TwinSnapshot.patient_id == patient_id)
            .order_by(TwinSnapshot.snapshot_version.desc())
            .limit(1)
        )

    text = ctx.store.read(read)
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal), "twin.read", patient_id=patient_id, record_type="twin"
        )
    )
    return TwinState.from_json(text) if text else None


def install_auto_update(ctx: AppContext) -> Callable[[], None]:
    """Refresh a patient's twin after each new assessment or note analysis; returns unsubscribe."""

    def on_event(event: AssessmentCompleted | NLPAnalysisCompleted) -> None:
        ctx.store.submit_write(
            lambda uow: update_in(uow, SYSTEM, event.patient_id, datetime.now(UTC))
        )

    unsubs = [
        ctx.bus.subscribe(AssessmentCompleted, on_event),
        ctx.bus.subscribe(NLPAnalysisCompleted, on_event),
    ]

    def unsubscribe() -> None:
        for u in unsubs:
            u()

    return unsubscribe
