"""OAuth 2.0 clients of the gateway: registered by IT, each bound to an existing user account.

A client is stored in the encrypted store's `meta` table (key ``gwclient:<client id>``): name,
bound user id, role, scopes and an Argon2id hash of its secret (the secret itself is shown once
and kept nowhere). The store is already encrypted under the keyring key and backed up with the
rest, and no migration is needed. The client's principal is its bound user's, so care-team
scope and every RBAC check are that account's, and the audit chain names that account.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal, Role
from app.core.errors import AuthenticationError, NotFoundError, ValidationError
from app.core.security import rbac
from app.core.security.passwords import HashPolicy, hash_password, verify_password
from app.core.store.models import Meta
from app.core.store.store import UnitOfWork
from app.services import admin
from app.services.context import AppContext, actor_of, cli_actor

PREFIX = "gwclient:"
# SMART-style system scopes, one per kind of call the gateway serves
SCOPES = frozenset(
    {
        "system/Patient.read",
        "system/Observation.read",
        "system/Questionnaire.read",
        "system/QuestionnaireResponse.write",
        "system/QuestionnaireResponse.read",
        "system/RiskAssessment.read",
        "graphql/query",  # GraphQL queries over HTTP or WebSocket
        "graphql/subscribe",  # GraphQL subscriptions (graphql-transport-ws)
        "token-exchange",  # may act for a signed-in clinician (RFC 8693 token exchange)
    }
)


@dataclass(frozen=True)
class GatewayClient:
    """A registered client (never its secret)."""

    client_id: str
    name: str
    user_id: str
    role: Role
    scopes: frozenset[str]


@dataclass(frozen=True)
class NewClient:
    """What registration hands IT once: the id and the secret."""

    client: GatewayClient
    secret: str


def _check_scopes(scopes: list[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - SCOPES)
    if not scopes or unknown:
        raise ValidationError(
            f"scopes: choose from {', '.join(sorted(SCOPES))}"
            + (f" (unknown: {', '.join(unknown)})" if unknown else "")
        )
    return frozenset(scopes)


def register(
    ctx: AppContext,
    it: Principal,
    name: str,
    *,
    role: Role,
    scopes: list[str],
    acts_as: str,
) -> NewClient:
    """Register a client acting as the existing account `acts_as` (whose role must be `role`).

    IT only (OPERATE_SYSTEM); audited as ``gateway.client.add``."""
    name = name.strip()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("client name: use 1-64 letters, digits, '-' or '_'")
    wanted = _check_scopes(scopes)
    ctx.store.read(lambda s: rbac.require(s, it, Action.OPERATE_SYSTEM))
    user = next((u for u in admin.list_users(ctx, cli_actor()) if u.username == acts_as), None)
    if user is None or not user.active:
        raise NotFoundError(f"no active user named '{acts_as}' for the client to act as")
    if user.role != role:
        raise ValidationError(
            f"--role {role.value} does not match the role of '{acts_as}' ({user.role.value})"
        )
    if user.role in (Role.ADMIN, Role.IT):
        raise ValidationError("a gateway client may not act as an admin or IT account")
    secret = secrets.token_urlsafe(32)
    client = GatewayClient(uuid.uuid4().hex, name, user.id, user.role, wanted)
    digest = hash_password(secret, HashPolicy.of(ctx.settings))

    def do(uow: UnitOfWork) -> None:
        if any(c.name == name for c in _all(uow.session)):
            raise ValidationError(f"a gateway client named '{name}' already exists")
        value = {
            "name": name,
            "user_id": user.id,
            "role": user.role.value,
            "scopes": sorted(wanted),
            "secret_hash": digest,
        }
        uow.session.add(Meta(key=PREFIX + client.client_id, value=json.dumps(value)))
        uow.audit(
            actor_of(it),
            "gateway.client.add",
            record_type="user",
            record_id=user.id,
            detail={"client_id": client.client_id, "scopes": sorted(wanted)},
        )

    ctx.store.write(do)
    return NewClient(client, secret)


def _parse(key: str, value: str) -> tuple[GatewayClient, str]:
    doc = json.loads(value)
    client = GatewayClient(
        key[len(PREFIX) :], doc["name"], doc["user_id"], Role(doc["role"]), frozenset(doc["scopes"])
    )
    return client, str(doc["secret_hash"])


def _all(session: Session) -> list[GatewayClient]:
    rows = session.scalars(select(Meta).where(Meta.key.startswith(PREFIX)))
    return [_parse(r.key, r.value)[0] for r in rows]


def get(ctx: AppContext, client_id: str) -> GatewayClient | None:
    """A registered client by id, or None."""
    row = ctx.store.read(lambda s: s.get(Meta, PREFIX + client_id) if client_id else None)
    return None if row is None else _parse(row.key, row.value)[0]


def authenticate(ctx: AppContext, client_id: str, secret: str) -> GatewayClient:
    """The client if the secret matches; one refusal for unknown ids and wrong secrets (the
    same Argon2 work either way)."""
    row = ctx.store.read(lambda s: s.get(Meta, PREFIX + client_id) if client_id else None)
    policy = HashPolicy.of(ctx.settings)
    if row is None:
        verify_password(None, secret, policy)
        raise AuthenticationError("invalid client credentials")
    client, digest = _parse(row.key, row.value)
    if not verify_password(digest, secret, policy):
        raise AuthenticationError("invalid client credentials")
    return client


def principal_of(ctx: AppContext, client: GatewayClient) -> Principal:
    """The bound account as a Principal, re-read on each call: a deactivated account or a
    changed role stops the client at once."""
    user = admin.get_user(ctx, cli_actor(), client.user_id)
    if user is None or not user.active or user.locked or user.role != client.role:
        raise AuthenticationError("the client's account is inactive or has changed role")
    return Principal(user.id, user.username, user.display_name, user.role)
