"""IT's offline keystore: the clinic's IT signing key and every clinic-key version.

A passphrase-sealed file (sync.sealed_file) that only `novamind it ...` opens. Rotation
rewrites it atomically; it is never overwritten by `it init`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.errors import ValidationError
from sync import sealed_file
from sync.identity import fingerprint, raw_private, raw_public
from sync.sealed_file import SealedFileError

KEYSTORE_FORMAT = "novamind-it-keystore"
KEYSTORE_VERSION = 1


@dataclass
class ITKeystore:
    """IT's secrets for one clinic: the signing key and every clinic-key version."""

    clinic_id: str
    event_bus: str
    signing_key: Ed25519PrivateKey
    clinic_keys: dict[int, bytes] = field(default_factory=dict)

    @property
    def public(self) -> bytes:
        return raw_public(self.signing_key)

    @property
    def current_version(self) -> int:
        return max(self.clinic_keys)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)


def new_it_keystore(clinic_id: str = "", event_bus: str = "") -> ITKeystore:
    """A new clinic: a fresh id (unless given), IT signing key and clinic key version 1."""
    clinic_id = clinic_id or str(uuid.uuid4())
    try:
        clinic_id = str(uuid.UUID(clinic_id))
    except ValueError:
        raise ValidationError(f"clinic id '{clinic_id}': not a UUID") from None
    return ITKeystore(
        clinic_id, event_bus, Ed25519PrivateKey.generate(), {1: secrets.token_bytes(32)}
    )


def write_it_keystore(
    path: Path, passphrase: str, ks: ITKeystore, *, replace: bool = False
) -> None:
    """Seal the keystore under IT's passphrase and write it (0600; atomic on replace)."""
    doc = sealed_file.seal(
        "IT keystore",
        passphrase,
        {"format": KEYSTORE_FORMAT, "version": KEYSTORE_VERSION, "fingerprint": ks.fingerprint},
        ks.clinic_id,
        ks.public,
        {
            "signing_key": raw_private(ks.signing_key).hex(),
            "clinic_keys": {str(v): k.hex() for v, k in ks.clinic_keys.items()},
            "event_bus": ks.event_bus,
        },
    )
    sealed_file.write_new(path, doc, replace=replace)


MAX_KEY_VERSIONS = 10_000


def read_it_keystore(path: Path, passphrase: str) -> ITKeystore:
    """Open IT's keystore, its whole schema checked; SealedFileError naming the file."""
    doc = sealed_file.read(
        path, "IT keystore", KEYSTORE_FORMAT, KEYSTORE_VERSION, extra={"fingerprint": str}
    )
    clinic_id, public, secret = sealed_file.open_secret(path, doc, passphrase)
    try:
        if not isinstance(secret, dict) or set(secret) != {
            "signing_key",
            "clinic_keys",
            "event_bus",
        }:
            raise ValueError
        raw_keys, bus = secret["clinic_keys"], secret["event_bus"]
        if not isinstance(raw_keys, dict) or not 0 < len(raw_keys) <= MAX_KEY_VERSIONS:
            raise ValueError
        if not isinstance(bus, str) or len(bus) > 256 or not isinstance(secret["signing_key"], str):
            raise ValueError
        signing = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret["signing_key"]))
        versions = {}
        for v, k in raw_keys.items():
            if not (v.isdigit() and len(v) <= 9 and isinstance(k, str)):
                raise ValueError
            versions[int(v)] = bytes.fromhex(k)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SealedFileError(f"{path}: the keystore's keys are damaged") from None
    if (
        raw_public(signing) != public
        or min(versions) < 1
        or any(len(k) != 32 for k in versions.values())
        or doc["fingerprint"] != fingerprint(public)
    ):
        raise SealedFileError(f"{path}: the keystore's keys do not match its header")
    return ITKeystore(clinic_id, bus, signing, versions)
