"""Password hashing with Argon2id (memory-hard) and TOTP second factors.

The Argon2 cost comes from the IT policy (``password_time_cost``, ``password_memory_kib``;
the default is OWASP's minimum profile). Hashes made under an older, cheaper policy are
re-made on the next successful sign-in (``needs_rehash``). Unknown user names are checked
against a dummy hash made with the same policy, so they cost the same Argon2 work.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
TOTP_DRIFT_STEPS = 1  # one 30-second step either side of the current one


class HashCostSettings(Protocol):
    """The two policy values HashPolicy reads (app.core.config.Settings has them)."""

    @property
    def password_time_cost(self) -> int: ...

    @property
    def password_memory_kib(self) -> int: ...


@dataclass(frozen=True)
class HashPolicy:
    """Argon2id cost; the defaults are OWASP's minimum (19 MiB, 2 iterations, 1 lane)."""

    time_cost: int = 2
    memory_kib: int = 19 * 1024

    @classmethod
    def of(cls, settings: HashCostSettings) -> HashPolicy:
        """The policy in force for these Settings (duck-typed: security does not import config)."""
        return cls(int(settings.password_time_cost), int(settings.password_memory_kib))


DEFAULT_POLICY = HashPolicy()


@lru_cache(maxsize=8)
def _hasher(policy: HashPolicy) -> PasswordHasher:
    return PasswordHasher(time_cost=policy.time_cost, memory_cost=policy.memory_kib, parallelism=1)


@lru_cache(maxsize=8)
def _dummy_hash(policy: HashPolicy) -> str:
    """A hash of a random secret nobody knows, made once per policy."""
    import secrets

    return _hasher(policy).hash(secrets.token_urlsafe(24))


def hash_password(password: str, policy: HashPolicy = DEFAULT_POLICY) -> str:
    return _hasher(policy).hash(password)


def verify_password(
    stored_hash: str | None, password: str, policy: HashPolicy = DEFAULT_POLICY
) -> bool:
    """Check a password; with no stored hash (unknown user) do the same work and say no."""
    if stored_hash is None:
        try:
            _hasher(policy).verify(_dummy_hash(policy), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            pass
        return False
    try:
        # Argon2 reads the cost from the stored hash itself; the policy only picks new hashes
        return _hasher(policy).verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str, policy: HashPolicy = DEFAULT_POLICY) -> bool:
    """True when the stored hash was made with other parameters than the policy's."""
    try:
        return _hasher(policy).check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def new_totp_secret() -> str:
    return pyotp.random_base32()


def accept_totp(
    secret: str, code: str, last_step: int | None, now: float | None = None
) -> int | None:
    """The time step the code belongs to, or None if it is wrong or was already used.

    A code is accepted for the current step or one either side (clock drift), and only for a
    step later than ``last_step`` — the last accepted one — so a seen code cannot be replayed.
    """
    code = (code or "").strip()
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // totp.interval)
    found = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Novamind")
