"""Token exchange (RFC 8693): a client acts for a signed-in clinician, audited as both.

Why the clinician's own password is the subject token: the gateway is a node of its own (its
store and its user accounts synced from the clinic), so it cannot see a desktop session, and a
code approved on a workstation would have to travel through the bucket first. The EHR already
knows which clinician signed in to it; what it must not be able to do alone is claim one. So it
passes on the credentials the clinician types (subject_token ``<username>:<password>``, and
``subject_totp`` when the account uses a second factor), and the gateway checks them with
``app.services.auth.login``, the desktop's own sign-in: the same Argon2 check, lockout count,
deactivation and MFA rules, and the same ``auth.*`` audit events. A forged or guessed subject
therefore costs the clinician's lockout budget exactly as at a workstation.

The client proves itself with its own access token (``actor_token``, which must carry the
``token-exchange`` scope and must not itself be an exchanged token), so no second secret
check runs. The new token's scopes are the client's minus ``token-exchange`` (or fewer, on
request); requests with it run as the clinician's principal, so their role and care team bound
what the client's scopes allow. Each issue is audited as ``gateway.token_exchange`` and each
use as ``gateway.on_behalf``: actor the clinician, detail naming the client and the token id.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from app.core.domain import Principal, Role
from app.core.errors import AuthenticationError
from app.core.store.models import User
from app.core.store.store import Actor
from app.services import auth
from app.services.context import AppContext, actor_of
from gateway import clients, tokens

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: Novamind's subject token type: a clinician's "<username>:<password>" (see the docstring)
CLINICIAN_CREDENTIALS = "urn:novamind:params:oauth:token-type:clinician-credentials"  # nosec B105
EXCHANGE_SCOPE = "token-exchange"
_NOT_ACTED_FOR = (Role.ADMIN, Role.IT)  # no clinical role: a client may not act as them


class ExchangeRefusedError(Exception):
    """An OAuth error answer (400): the error code, a PHI-free reason, who to audit it as."""

    def __init__(self, error: str, why: str, who: Actor | None = None, client_id: str = "") -> None:
        super().__init__(why)
        self.error, self.why, self.who, self.client_id = error, why, who, client_id


def _client_of(
    ctx: AppContext, key: bytes, form: dict[str, str]
) -> tuple[clients.GatewayClient, tokens.TokenClaims]:
    """The client presenting its own token as actor_token (RFC 8693 2.1)."""
    if form.get("actor_token_type") != tokens.ACCESS_TOKEN_TYPE or not form.get("actor_token"):
        raise ExchangeRefusedError("invalid_request", "actor_token: the client's access token")
    try:
        claims = tokens.verify(ctx, form["actor_token"], key)
    except AuthenticationError:
        raise ExchangeRefusedError("invalid_request", "actor_token invalid or expired") from None
    client = clients.get(ctx, claims.client_id)
    if client is None or not claims.scopes <= client.scopes:
        raise ExchangeRefusedError("invalid_request", "actor_token client not registered")
    who = Actor(client.user_id, client.role.value)
    if claims.on_behalf_of is not None:
        raise ExchangeRefusedError(
            "invalid_request", "an exchanged token cannot be exchanged again", who, client.client_id
        )
    if EXCHANGE_SCOPE not in claims.scopes:
        raise ExchangeRefusedError(
            "unauthorized_client", "client lacks scope token-exchange", who, client.client_id
        )
    try:
        clients.principal_of(ctx, client)  # the client's own account must still be active
    except AuthenticationError:
        raise ExchangeRefusedError(
            "invalid_request", "client account inactive", who, client.client_id
        ) from None
    return client, claims


def exchange(ctx: AppContext, key: bytes, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The client id and the token response for a valid exchange; ExchangeRefusedError if not.
    Everything about the client is checked before the clinician's password, so a bad client
    request never counts towards the clinician's lockout."""
    client, claims = _client_of(ctx, key, form)
    who, cid = Actor(client.user_id, client.role.value), client.client_id

    def refuse(error: str, why: str) -> ExchangeRefusedError:
        return ExchangeRefusedError(error, why, who, cid)

    if form.get("requested_token_type", tokens.ACCESS_TOKEN_TYPE) != tokens.ACCESS_TOKEN_TYPE:
        raise refuse("invalid_request", "requested_token_type: access tokens only")
    if form.get("subject_token_type") != CLINICIAN_CREDENTIALS:
        raise refuse("invalid_request", f"subject_token_type: {CLINICIAN_CREDENTIALS}")
    username, sep, password = form.get("subject_token", "").partition(":")
    if not sep or not username or not password:
        raise refuse("invalid_request", "subject_token: <username>:<password>")
    grantable = claims.scopes - {EXCHANGE_SCOPE}
    asked = frozenset(form.get("scope", "").split()) or grantable
    if not asked or not asked <= grantable:  # never a partial grant, never another exchange
        raise refuse("invalid_scope", "scope not granted")
    remaining = claims.expires_at - int(time.time())
    if remaining < 1:
        raise refuse("invalid_request", "actor_token expires now")
    try:
        clinician = auth.login(ctx, username, password, form.get("subject_totp") or None)
    except AuthenticationError:  # audited and counted by auth; one answer for every cause
        raise refuse("invalid_grant", "subject credentials refused") from None
    if clinician.role in _NOT_ACTED_FOR:
        raise refuse("invalid_grant", "the subject account has no clinical role")
    token, ttl, jti = tokens.issue_exchanged(ctx, cid, clinician, asked, key, claims.expires_at)
    detail = {"client_id": cid, "scopes": sorted(asked), "jti": jti}
    ctx.store.write(
        lambda uow: uow.audit(actor_of(clinician), "gateway.token_exchange", detail=detail)
    )
    return cid, {
        "access_token": token,
        "issued_token_type": tokens.ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",  # nosec B105 — the OAuth token type, not a secret
        "expires_in": ttl,
        "scope": " ".join(sorted(asked)),
    }


def acting_principal(ctx: AppContext, claims: tokens.TokenClaims) -> Principal:
    """The clinician an exchanged token acts for, re-read on every call: deactivated, locked
    or re-roled since the exchange ends the token at once."""
    user_id = claims.on_behalf_of

    def read(s: Session) -> Principal | None:
        user = s.get(User, user_id) if user_id else None
        if (
            user is None
            or not user.active
            or user.locked_at is not None
            or user.role != claims.subject_role
        ):
            return None
        return Principal(user.id, user.username, user.display_name, Role(user.role))

    principal = ctx.store.read(read)
    if principal is None:
        raise AuthenticationError("the clinician's account is inactive, locked or re-roled")
    return principal


def audit_use(ctx: AppContext, clinician: Principal, client_id: str, scope: str, jti: str) -> None:
    """One ``gateway.on_behalf`` event per call made with an exchanged token: the clinician as
    actor, the client and the token in the detail; the service's own events follow it."""
    detail = {"client_id": client_id, "scope": scope, "jti": jti}
    ctx.store.write(lambda uow: uow.audit(actor_of(clinician), "gateway.on_behalf", detail=detail))
