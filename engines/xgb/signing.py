"""Ed25519 signatures over a model card (which carries the model file's SHA-256).

The signed message is a fixed domain tag, the canonical JSON of the card, and the model hash, so
changing a single byte of the model, the card (metrics, calibration, version, feature list) or
moving a signature to another model breaks verification.

Trust scopes: a key with scope "demo" (the throwaway key whose public half ships in
resources/models) is trusted only for models whose card says they were trained on synthetic data;
a key with scope "clinic" (installed by IT) is trusted for any model.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from engines.errors import InputError

DOMAIN = b"novamind-xgb-model-signature-v1\n"
SCOPES = ("demo", "clinic")


@dataclass(frozen=True)
class TrustedKey:
    """A public key the registry accepts, with the scope of models it may vouch for."""

    key_id: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    scope: str = "clinic"

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"key {self.key_id}: unknown scope {self.scope!r}")
        if len(self.public_key) != 32:
            raise ValueError(f"key {self.key_id}: an Ed25519 public key is 32 bytes")


@dataclass(frozen=True)
class Signature:
    """Detached signature file contents."""

    key_id: str
    signature: bytes
    algorithm: str = "Ed25519"

    def to_json(self) -> dict[str, str]:
        """JSON form stored next to the model."""
        return {
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }


def canonical_card(card: Mapping[str, Any]) -> bytes:
    """Deterministic bytes of a card (sorted keys, no whitespace)."""
    return json.dumps(card, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def message(card: Mapping[str, Any], model_sha256: str) -> bytes:
    """The exact bytes that are signed."""
    return DOMAIN + canonical_card(card) + b"\n" + model_sha256.encode("ascii")


def key_id_of(public_key: bytes) -> str:
    """Short stable id of a public key (first 16 hex of its SHA-256)."""
    from .modelfile import sha256_hex

    return "ed25519:" + sha256_hex(public_key)[:16]


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """Raw 32-byte public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(card: Mapping[str, Any], model_sha256: str, key: Ed25519PrivateKey) -> Signature:
    """Sign a card + model hash (used by `novamind train` and the demo-model build)."""
    return Signature(
        key_id=key_id_of(public_bytes(key)), signature=key.sign(message(card, model_sha256))
    )


def parse_signature(path: Path, data: bytes) -> Signature:
    """Parse a signature file, naming the file and problem on failure."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc.get("algorithm") != "Ed25519":
            raise InputError(f"{path}: algorithm must be Ed25519, got {doc.get('algorithm')!r}")
        sig = base64.b64decode(doc["signature"], validate=True)
        return Signature(key_id=str(doc["key_id"]), signature=sig)
    except InputError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, AttributeError, binascii.Error):
        raise InputError(f"{path}: not a valid signature file") from None


def verify(
    card: Mapping[str, Any],
    model_sha256: str,
    signature: Signature,
    trusted: Iterable[TrustedKey],
    *,
    where: str,
) -> TrustedKey:
    """Check the signature against the trusted keys; return the key that vouches for the model."""
    keys = {k.key_id: k for k in trusted}
    key = keys.get(signature.key_id)
    if key is None:
        raise InputError(f"{where}: signed by an untrusted key ({signature.key_id})")
    try:
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(
            signature.signature, message(card, model_sha256)
        )
    except InvalidSignature:
        raise InputError(
            f"{where}: signature does not match — the model or its card was altered"
        ) from None
    if key.scope == "demo" and card.get("training_data", {}).get("kind") != "synthetic":
        raise InputError(f"{where}: the demo key may only sign models trained on synthetic data")
    return key


def load_trusted_keys(path: Path) -> tuple[TrustedKey, ...]:
    """Read a trusted-keys JSON file ({"keys": [{"key_id", "public_key", "scope"}]})."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        keys = []
        for k in doc["keys"]:
            raw = base64.b64decode(k["public_key"], validate=True)
            tk = TrustedKey(key_id=str(k["key_id"]), public_key=raw, scope=str(k["scope"]))
            if tk.key_id != key_id_of(raw):
                raise InputError(f"{path}: key id {tk.key_id} does not match its key")
            keys.append(tk)
        return tuple(keys)
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"{path}: cannot read trusted keys ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InputError(f"{path}: malformed trusted-keys file") from None


def trusted_key_json(public_key: bytes, scope: str, note: str) -> dict[str, str]:
    """Entry for a trusted-keys file."""
    return {
        "key_id": key_id_of(public_key),
        "public_key": base64.b64encode(public_key).decode("ascii"),
        "scope": scope,
        "note": note,
    }
