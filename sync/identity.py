"""Who may write to the clinic's bucket: IT's signing key, device keys, signed documents.

- **IT signing key**: one Ed25519 key per clinic, kept offline by IT in its keystore
  (sync.it_keystore) with every version of the clinic key. Its public half is the trust
  anchor every workstation pins at enrolment.
- **Device keys**: each workstation makes an Ed25519 key (signs its bundles and snapshots) and
  an X25519 key (receives clinic-key versions) at enrolment. Both private keys live in the OS
  keyring (entry `sync-device:<store id>`), never in a file.
- **Sealed to a device**: a clinic-key version is wrapped for one device with X25519 key
  agreement against a fresh ephemeral key, HKDF-SHA256 and AES-256-GCM (the ECIES / age
  construction from `cryptography`'s primitives).
- **Signed documents**: canonical JSON (sorted keys, no spaces) plus an Ed25519 signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.errors import KeyringUnavailableError
from app.core.security import keys

ROLES = ("clinical", "admin")
KEYSTORE_FORMAT = "novamind-it-keystore"
KEYSTORE_VERSION = 1
MIN_PASSPHRASE = 12
ENROL_HINT = "Ask IT for the enrolment file and run 'novamind sync enrol FILE'."


class TrustError(Exception):
    """A signature, certificate or sealed key failed a check (short reason, no PHI)."""


def not_enrolled(what: str) -> KeyringUnavailableError:
    """The error for a workstation whose keyring lacks `what`: it was never enrolled."""
    return KeyringUnavailableError(what, hint=ENROL_HINT)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: Any, what: str, size: int | None = None) -> bytes:  # noqa: ANN401
    """Decode base64 from an untrusted document; TrustError naming the field if it is bad."""
    try:
        out = base64.b64decode(str(text), validate=True)
    except ValueError:
        raise TrustError(f"{what} is not base64") from None
    if size is not None and len(out) != size:
        raise TrustError(f"{what} has the wrong length")
    return out


def fingerprint(public_raw: bytes) -> str:
    """A public key's fingerprint as IT reads it aloud: sha256, first 16 bytes, 4-hex groups."""
    h = hashlib.sha256(public_raw).hexdigest()[:32]
    return " ".join(h[i : i + 4] for i in range(0, 32, 4))


def raw_public(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_private(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def sign_doc(key: Ed25519PrivateKey, doc: dict[str, Any]) -> bytes:
    """A signed document as bytes: {"doc": ..., "sig": base64(Ed25519(canonical doc))}."""
    return canonical({"doc": doc, "sig": b64(key.sign(canonical(doc)))})


def verify_doc(public_raw: bytes, blob: bytes) -> dict[str, Any]:
    """The document inside a signed blob, after checking its signature; TrustError otherwise."""
    try:
        outer = json.loads(blob.decode("utf-8"))
        doc, sig = outer["doc"], unb64(outer["sig"], "signature", 64)
        if not isinstance(doc, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise TrustError("signed document does not parse") from None
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, canonical(doc))
    except (InvalidSignature, ValueError):
        raise TrustError("signature does not verify") from None
    return doc


def verify_raw(public_raw: bytes, signature: bytes, data: bytes) -> None:
    """Check an Ed25519 signature over `data`; TrustError if it does not verify."""
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except (InvalidSignature, ValueError):
        raise TrustError("signature does not verify") from None


# ---- sealed to a device ------------------------------------------------------------------


def _kek(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def seal_for(box_public_raw: bytes, secret: bytes, info: bytes) -> bytes:
    """Wrap `secret` for the holder of an X25519 key: ephemeral pub | nonce | AES-GCM."""
    eph = X25519PrivateKey.generate()
    eph_pub = raw_public(eph)
    shared = eph.exchange(X25519PublicKey.from_public_bytes(box_public_raw))
    nonce = os.urandom(12)
    aad = info + eph_pub + box_public_raw
    return eph_pub + nonce + AESGCM(_kek(shared, aad)).encrypt(nonce, secret, aad)


def open_sealed_for(box: X25519PrivateKey, wrapped: bytes, info: bytes) -> bytes:
    """Unwrap what `seal_for` made for this key; TrustError when it is not ours or tampered."""
    if len(wrapped) < 32 + 12 + 16:
        raise TrustError("sealed key is truncated")
    eph_pub, nonce, cipher = wrapped[:32], wrapped[32:44], wrapped[44:]
    aad = info + eph_pub + raw_public(box)
    try:
        shared = box.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        return AESGCM(_kek(shared, aad)).decrypt(nonce, cipher, aad)
    except (InvalidTag, ValueError):
        raise TrustError("sealed key does not open (not for this device, or tampered)") from None


def clinic_key_info(clinic: str, device: str, version: int) -> bytes:
    """What a sealed clinic-key version is bound to (so it cannot be moved to another slot)."""
    return f"novamind-clinic-key|{clinic}|{device}|{version}".encode()


# ---- device keys (OS keyring) --------------------------------------------------------------


@dataclass(frozen=True)
class DeviceKeys:
    """A workstation's signing key and key-agreement key."""

    sign: Ed25519PrivateKey
    box: X25519PrivateKey

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(Ed25519PrivateKey.generate(), X25519PrivateKey.generate())

    @property
    def sign_public(self) -> bytes:
        return raw_public(self.sign)

    @property
    def box_public(self) -> bytes:
        return raw_public(self.box)


def device_entry(db_path: Path) -> str:
    """The keyring entry name of a store's device keys (removed by decommission)."""
    return f"sync-device:{keys.store_id(db_path)}"


def save_device_keys(service: str, db_path: Path, dk: DeviceKeys) -> None:
    """Keep the device's private keys in the OS keyring beside the store key."""
    text = json.dumps({"sign": raw_private(dk.sign).hex(), "box": raw_private(dk.box).hex()})
    keys.set_entry(service, device_entry(db_path), text)


def load_device_keys(service: str, db_path: Path) -> DeviceKeys:
    """This workstation's device keys; a clear error when it was never enrolled."""
    text = keys.get_entry(service, device_entry(db_path))
    if not text:
        raise not_enrolled("This workstation has no sync device key (not enrolled).")
    try:
        d = json.loads(text)
        return DeviceKeys(
            Ed25519PrivateKey.from_private_bytes(bytes.fromhex(d["sign"])),
            X25519PrivateKey.from_private_bytes(bytes.fromhex(d["box"])),
        )
    except (ValueError, KeyError, TypeError):
        raise KeyringUnavailableError("The keyring entry for the device key is damaged.") from None
