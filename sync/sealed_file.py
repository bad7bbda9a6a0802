"""IT's passphrase-sealed JSON files (the IT keystore, the enrolment file), one format.

Clear fields: `format`, `version`, `clinic_id`, `it_public_key` (base64), `kdf`, `salt`,
`nonce`, `ciphertext`, plus any the caller adds. The secret part is AES-256-GCM under
scrypt(passphrase) (N=2^15, r=8, p=1) with the associated data `clinic_id|hex(IT key)`, so a
file whose clinic or IT key was swapped fails the tag check like a wrong passphrase does.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from app.errors import ValidationError
from sync.identity import MIN_PASSPHRASE, TrustError, b64, unb64

KDF = "scrypt-n32768-r8-p1"


def _kdf(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def _aad(clinic_id: str, it_public: bytes) -> bytes:
    return f"{clinic_id}|{it_public.hex()}".encode()


def seal(
    what: str,
    passphrase: str,
    header: dict[str, Any],
    clinic_id: str,
    it_public: bytes,
    secret: dict[str, Any],
) -> dict[str, Any]:
    """The document: `header` and the clinic/IT key in clear, `secret` sealed."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValidationError(f"{what} passphrase: use at least {MIN_PASSPHRASE} characters")
    salt, nonce = os.urandom(16), os.urandom(12)
    plain = json.dumps(secret).encode()
    cipher = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, plain, _aad(clinic_id, it_public))
    return {
        **header,
        "clinic_id": clinic_id,
        "it_public_key": b64(it_public),
        "kdf": KDF,
        "salt": b64(salt),
        "nonce": b64(nonce),
        "ciphertext": b64(cipher),
    }


def write_new(path: Path, doc: dict[str, Any], *, replace: bool = False) -> None:
    """Write mode 0600; never over an existing file unless `replace` (then atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".tmp") if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    if replace:
        os.replace(target, path)


def read(path: Path, what: str, fmt: str, version: int, hint: str = "") -> dict[str, Any]:
    """The clear document, its format and version checked; ValidationError naming the file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such {what}") from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ValidationError(f"{path}: not a Novamind {what}")
    if doc.get("version") != version:
        raise ValidationError(
            f"{path}: {what} version {doc.get('version')!r} is not supported (this version "
            f"reads {version})",
            hint=hint,
        )
    return doc


def open_secret(path: Path, doc: dict[str, Any], passphrase: str) -> tuple[str, bytes, Any]:
    """(clinic id, IT public key, the secret JSON) of a document `read` returned."""
    try:
        clinic_id = str(uuid.UUID(str(doc["clinic_id"])))
        it_public = unb64(doc["it_public_key"], "it_public_key", 32)
        salt = unb64(doc["salt"], "salt")
        nonce = unb64(doc["nonce"], "nonce", 12)
        cipher = unb64(doc["ciphertext"], "ciphertext")
    except (KeyError, ValueError, TrustError):
        raise ValidationError(
            f"{path}: field 'clinic_id', 'it_public_key', 'salt', 'nonce' or 'ciphertext' is bad"
        ) from None
    try:
        plain = AESGCM(_kdf(passphrase, salt)).decrypt(nonce, cipher, _aad(clinic_id, it_public))
        return clinic_id, it_public, json.loads(plain)
    except (InvalidTag, ValueError):
        raise ValidationError(f"{path}: wrong passphrase or damaged file") from None
