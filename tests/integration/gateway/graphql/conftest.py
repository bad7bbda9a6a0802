"""GraphQL test helpers over the parent folder's real TLS gateway: POST a document with a
token, read the `gateway.refused` audit events, and a charted patient (assessments, a twin,
predictions) written through the desktop's services."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.domain import Principal
from app.core.store.models import AuditEvent
from app.services import admin, assessments, predictions, twin
from app.services.context import AppContext, cli_actor
from tests.integration.gateway.conftest import Clinic, Server

PHQ9_MILD = {f"q{i}": v for i, v in enumerate([1, 1, 2, 0, 1, 1, 1, 0, 0], start=1)}
PHQ9_CRITICAL = {**PHQ9_MILD, "q9": 2}  # item 9 > 0: AlertTriggered (critical)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post(
    server: Server, token: str | None, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    """One GraphQL POST (JSON body) with the bearer token, if any."""
    body = {"query": query, **({"variables": variables} if variables else {})}
    headers = {"Content-Type": "application/json", **(bearer(token) if token else {})}
    with server.client() as http:
        return http.post("/graphql", content=json.dumps(body), headers=headers)


def refusals(ctx: AppContext) -> list[dict[str, Any]]:
    """The detail of every `gateway.refused` event, oldest first (route, status, client)."""
    rows = ctx.store.read(
        lambda s: list(
            s.scalars(
                select(AuditEvent.detail_json)
                .where(AuditEvent.action == "gateway.refused")
                .order_by(AuditEvent.seq)
            )
        )
    )
    return [json.loads(d) for d in rows]


@dataclass
class Charted:
    patient_id: str
    assessment_ids: list[str]
    alert_ids: list[str]


@pytest.fixture
def charted(ctx: AppContext, clinic: Clinic) -> Charted:
    """The clinician's patient with three PHQ-9s (the last one critical), a twin and scores."""
    now = datetime.now(UTC)
    ids: list[str] = []
    alerts: list[str] = []
    for days, answers in ((28, PHQ9_MILD), (14, PHQ9_MILD), (1, PHQ9_CRITICAL)):
        out = assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", dict(answers),
                                 administered_at=now - timedelta(days=days))  # fmt: skip
        ids.append(out.assessment_id)
        alerts.extend(out.alert_ids)
    twin.update(ctx, clinic.clinician, clinic.mine)
    predictions.predict(ctx, clinic.clinician, clinic.mine)
    return Charted(clinic.mine, ids, alerts)


def principal_named(ctx: AppContext, username: str) -> Principal:
    """An existing account as a Principal (the clinic fixture keeps only some of them)."""
    user = next(u for u in admin.list_users(ctx, cli_actor()) if u.username == username)
    return Principal(user.id, user.username, user.display_name, user.role)
