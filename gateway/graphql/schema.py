"""The GraphQL schema: queries over the service layer, subscriptions over the hub, and limits.

Limits (module constants, checked before any resolver runs, refused with 400): selection depth
(introspection fields excluded), aliases and tokens per document. Lists are bounded by their
arguments (`first`, `days`). Introspection stays on: only authenticated clients reach the schema.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from datetime import date
from typing import TypeVar

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.types import ExecutionContext, Info

from app.core.domain import PatientSummary, Principal
from app.services import alerts as alert_service
from app.services import assessments as assessment_service
from app.services import overview, patients, twin_view
from app.services.context import AppContext
from gateway import hub
from gateway.graphql.context import (
    INTERNAL,
    SCOPE_QUERY,
    SCOPE_SUBSCRIBE,
    GraphQLContext,
    context_of,
    new_budget,
    quietly,
    refusal,
    require_scope,
    service,
    still_admitted,
)
from gateway.graphql.types import (
    Alert,
    Assessment,
    Patient,
    Prediction,
    Twin,
    TwinUpdate,
    fetch_assessments,
    fetch_patient,
    fetch_patient_alerts,
    fetch_predictions,
    fetch_twin,
)

log = logging.getLogger("gateway.graphql")
T = TypeVar("T")

MAX_DEPTH = 6  # selection depth below the root (introspection excluded)
MAX_ALIASES = 15  # aliases per document: one request may not repeat a field without bound
MAX_TOKENS = 2_000  # lexical tokens per document
MAX_PATIENTS = 200  # `patients(first:)` upper bound (the REST search's too)
DEFAULT_PATIENTS = 50
SEEN_PER_SUBSCRIPTION = 10_000  # record ids a subscription remembers to deliver each once


def _search(
    found: list[PatientSummary], identifier: str, name: str, born: date | None
) -> list[PatientSummary]:
    return [
        x
        for x in found
        if (not identifier or x.mrn == identifier)
        and (not name or name.lower() in x.display_name.lower())
        and (born is None or x.birth_date == born)
    ]


@strawberry.type
class Query:
    @strawberry.field(description="One patient (audited read; care-team scope applies).")
    async def patient(self, info: Info, id: strawberry.ID) -> Patient | None:
        return await fetch_patient(info, id)

    @strawberry.field(description="Search the patients this client may see (bounded by `first`).")
    async def patients(
        self,
        info: Info,
        identifier: str | None = None,
        name: str | None = None,
        birth_date: date | None = None,
        first: int = DEFAULT_PATIENTS,
    ) -> list[Patient] | None:
        ctx = context_of(info)
        require_scope(ctx, SCOPE_QUERY)
        if not 1 <= first <= MAX_PATIENTS:
            raise refusal(f"first must be 1-{MAX_PATIENTS}", "BAD_USER_INPUT")
        ident, text = (identifier or "").strip(), (name or "").strip()
        found = await service(ctx, patients.list_patients, ident or text)
        return [Patient.of(p) for p in _search(found, ident, text, birth_date)[:first]]

    @strawberry.field(description="The patient's latest twin (null before any observation).")
    async def twin(self, info: Info, patient_id: strawberry.ID) -> Twin | None:
        return await fetch_twin(info, patient_id)

    @strawberry.field(description="The newest prediction per target and option.")
    async def predictions(self, info: Info, patient_id: strawberry.ID) -> list[Prediction] | None:
        return await fetch_predictions(info, patient_id)

    @strawberry.field(
        description="One patient's alerts (all, newest first) or, without patientId, the open "
        "alerts of every patient this client may see (most severe first)."
    )
    async def alerts(
        self, info: Info, patient_id: strawberry.ID | None = None
    ) -> list[Alert] | None:
        if patient_id is not None:
            return await fetch_patient_alerts(info, patient_id)
        ctx = context_of(info)
        require_scope(ctx, SCOPE_QUERY)
        return [Alert.of(a) for a in await service(ctx, alert_service.list_open_alerts)]

    @strawberry.field(description="Scored administrations of one patient, oldest first.")
    async def assessments(
        self, info: Info, patient_id: strawberry.ID, instrument: str | None = None
    ) -> list[Assessment] | None:
        return await fetch_assessments(info, patient_id, instrument)


# --- subscriptions ---------------------------------------------------------------------------


def _find_alert(app: AppContext, principal: Principal, pid: str, rid: str) -> Alert | None:
    rows = overview.list_patient_alerts(app, principal, pid)
    hit = next((a for a in rows if a.id == rid and a.status in ("new", "acknowledged")), None)
    return None if hit is None else Alert.of(hit)


def _find_assessment(
    app: AppContext, principal: Principal, pid: str, rid: str
) -> Assessment | None:
    rows = assessment_service.history(app, principal, pid)
    hit = next((r for r in rows if r.id == rid), None)
    return None if hit is None else Assessment.of(pid, hit)


def _find_twin(app: AppContext, principal: Principal, pid: str, rid: str) -> TwinUpdate | None:
    t = twin_view.load_timeline(app, principal, pid)
    if t is None:
        return None
    return TwinUpdate(
        snapshot_id=strawberry.ID(rid), patient_id=strawberry.ID(pid), twin=Twin.of(t)
    )


async def _follow(
    info: Info,
    kind: str,
    patient_id: strawberry.ID | None,
    find: Callable[..., T | None],
) -> AsyncGenerator[T, None]:
    """Every hint of `kind` looked up again as this client; only what it may see is yielded,
    each record once. A hint for a patient outside its scope yields nothing at all."""
    ctx = context_of(info)
    require_scope(ctx, SCOPE_SUBSCRIBE)
    if ctx.transport != "ws":
        raise refusal("subscriptions are served over WebSocket (graphql-transport-ws)",
                      "BAD_REQUEST")  # fmt: skip
    wanted = str(patient_id) if patient_id else ""
    seen: OrderedDict[str, None] = OrderedDict()
    async with ctx.gw.hub.subscribe((kind,)) as sub:
        async for h in sub:
            if h.record_id in seen:
                continue
            pid = h.patient_id  # sync's merge events name it too
            if not pid or (wanted and pid != wanted):
                continue
            if not await run_in_threadpool(still_admitted, ctx):  # revoked since connecting
                if ctx.close is not None:
                    ctx.close("client revoked")
                    await asyncio.Event().wait()  # until the close cancels this operation
                return
            item = await quietly(ctx, find, pid, h.record_id)
            if item is None:
                continue
            seen[h.record_id] = None
            if len(seen) > SEEN_PER_SUBSCRIPTION:
                seen.popitem(last=False)
            new_budget()  # each delivered event may cost what one request may
            yield item


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Alerts raised on patients this client may see.")
    async def alert_triggered(
        self, info: Info, patient_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Alert, None]:
        async for item in _follow(info, hub.ALERT, patient_id, _find_alert):
            yield item

    @strawberry.subscription(description="Scored assessments of patients this client may see.")
    async def assessment_completed(
        self, info: Info, patient_id: strawberry.ID | None = None
    ) -> AsyncGenerator[Assessment, None]:
        async for item in _follow(info, hub.ASSESSMENT, patient_id, _find_assessment):
            yield item

    @strawberry.subscription(description="New twin snapshots of patients this client may see.")
    async def digital_twin_updated(
        self, info: Info, patient_id: strawberry.ID | None = None
    ) -> AsyncGenerator[TwinUpdate, None]:
        async for item in _follow(info, hub.TWIN, patient_id, _find_twin):
            yield item


def _unexpected(error: GraphQLError) -> bool:
    """A resolver's own bug (not a refusal raised on purpose): its message may hold anything."""
    original = error.original_error
    return (
        error.path is not None and original is not None and not isinstance(original, GraphQLError)
    )


class GatewaySchema(strawberry.Schema):
    """Logs errors as counts and classes only: messages may quote the client's query."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [
            type(e.original_error).__name__
            for e in errors
            if e.original_error is not None and not isinstance(e.original_error, GraphQLError)
        ]
        if unexpected:
            log.error("graphql: %d unexpected error(s): %s", len(unexpected), ", ".join(unexpected))


def build_schema() -> strawberry.Schema:
    """The schema with its limits."""
    return GatewaySchema(
        query=Query,
        subscription=Subscription,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaskErrors(should_mask_error=_unexpected, error_message=INTERNAL),
        ],
    )


__all__ = ["GraphQLContext", "build_schema"]
