"""Short-lived access tokens: HS256 JWTs signed with a key kept in the OS keyring.

The key is generated on first use under the keyring entry ``gateway-jwt:<store id>`` (beside
the store key, never in a file). The audience names this gateway's store, so a token minted by
another gateway, or for another audience, is refused. Expiry, audience, issuer and signature
are all checked; a token is also refused once its client is gone or its scopes shrank.

A token from a token exchange (RFC 8693) names two parties, as RFC 8693 section 4.1 and
RFC 9068 put them: ``sub`` is the clinician the client acts for (their user id), ``act.sub``
and ``client_id`` are the client, and ``novamind_role`` is the clinician's role when it was
issued (a changed role ends it). A plain client-credentials token has ``sub`` = ``client_id`` =
the client and no ``act``.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from app.core.domain import Principal
from app.core.errors import AuthenticationError
from app.core.security import keys
from app.services.context import AppContext

ALGORITHM = "HS256"
LEEWAY_S = 5


ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105  # nosec B105 — a URI


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    scopes: frozenset[str]
    expires_at: int
    on_behalf_of: str | None = None  # the clinician's user id (an exchanged token)
    subject_role: str | None = None  # their role when the token was issued
    jti: str = ""


def audience(ctx: AppContext) -> str:
    """This gateway's audience (and issuer) name."""
    return _audience_of(ctx.settings.db_path)


@functools.lru_cache(maxsize=64)
def _audience_of(db_path: Path) -> str:
    """Read once per store: every request's token check asks (the store id file was ~3 % of the
    gateway's time under load)."""
    return f"urn:novamind:gateway:{keys.store_id(db_path)}"


def signing_key(ctx: AppContext) -> bytes:
    """The token key from the keyring, created on first use."""
    service = ctx.settings.keyring_service
    entry = f"gateway-jwt:{keys.store_id(ctx.settings.db_path)}"
    text = keys.get_entry(service, entry)
    if text is None:
        text = secrets.token_bytes(keys.KEY_BYTES).hex()
        keys.set_entry(service, entry, text)
    return bytes.fromhex(text)


def issue(ctx: AppContext, client_id: str, scopes: frozenset[str], key: bytes) -> tuple[str, int]:
    """A signed token for `client_id` with `scopes`, and its lifetime in seconds."""
    now = int(time.time())
    ttl = ctx.settings.gateway_token_ttl_s
    claims = {
        "iss": audience(ctx),
        "aud": audience(ctx),
        "sub": client_id,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), ttl


def issue_exchanged(
    ctx: AppContext,
    client_id: str,
    clinician: Principal,
    scopes: frozenset[str],
    key: bytes,
    not_after: int,
) -> tuple[str, int, str]:
    """A token for `client_id` acting for `clinician` (RFC 8693), expiring no later than
    `not_after` (the client's own token's expiry) and never after the policy's lifetime;
    returns the token, its lifetime and its id (for the audit)."""
    now = int(time.time())
    ttl = min(ctx.settings.gateway_token_ttl_s, not_after - now)
    jti = secrets.token_hex(8)
    claims = {
        "iss": audience(ctx),
        "aud": audience(ctx),
        "sub": clinician.user_id,
        "act": {"sub": client_id},
        "client_id": client_id,
        "novamind_role": clinician.role.value,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": now + ttl,
        "jti": jti,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM), ttl, jti


def verify(ctx: AppContext, token: str, key: bytes) -> TokenClaims:
    """The token's claims if it is ours, unexpired and for this gateway; else one refusal."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience(ctx),
            issuer=audience(ctx),
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("token expired") from None
    except jwt.InvalidAudienceError:
        raise AuthenticationError("token not for this gateway") from None
    except jwt.PyJWTError:
        raise AuthenticationError("invalid token") from None
    scope, sub, jti = claims.get("scope", ""), claims["sub"], claims.get("jti", "")
    if not isinstance(scope, str) or not isinstance(sub, str) or not isinstance(jti, str):
        raise AuthenticationError("invalid token")
    act = claims.get("act")
    if act is None:
        return TokenClaims(sub, frozenset(scope.split()), int(claims["exp"]), jti=jti)
    client_id, role = claims.get("client_id"), claims.get("novamind_role")
    if (
        not isinstance(act, dict)
        or act.get("sub") != client_id
        or not isinstance(client_id, str)
        or not isinstance(role, str)
    ):
        raise AuthenticationError("invalid token")
    return TokenClaims(client_id, frozenset(scope.split()), int(claims["exp"]), sub, role, jti)
