"""Short-lived access tokens: HS256 JWTs signed with a key kept in the OS keyring.

The key is generated on first use under the keyring entry ``gateway-jwt:<store id>`` (beside
the store key, never in a file). The audience names this gateway's store, so a token minted by
another gateway, or for another audience, is refused. Expiry, audience, issuer and signature
are all checked; a token is also refused once its client is gone or its scopes shrank.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from app.core.errors import AuthenticationError
from app.core.security import keys
from app.services.context import AppContext

ALGORITHM = "HS256"
LEEWAY_S = 5


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    scopes: frozenset[str]
    expires_at: int


def audience(ctx: AppContext) -> str:
    """This gateway's audience (and issuer) name."""
    return f"urn:novamind:gateway:{keys.store_id(ctx.settings.db_path)}"


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
    scope = claims.get("scope", "")
    if not isinstance(scope, str) or not isinstance(claims["sub"], str):
        raise AuthenticationError("invalid token")
    return TokenClaims(claims["sub"], frozenset(scope.split()), int(claims["exp"]))
