"""Enrolment: IT's file that gives a workstation the clinic id and the clinic key.

The file is JSON whose secret part (the 32-byte clinic key, the event bus name) is encrypted
with AES-256-GCM under a key derived from IT's passphrase with scrypt, the clinic id being
the associated data. On the workstation the clinic key goes to the OS keyring (entry
`sync-clinic:<store id>`), never to a file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import keyring
import keyring.errors
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from app.errors import KeyringUnavailableError, ValidationError
from app.security import keys

FORMAT = "novamind-sync-enrolment"
VERSION = 1


@dataclass(frozen=True)
class Enrolment:
    """What a workstation needs to join its clinic's sync."""

    clinic_id: str
    clinic_key: bytes
    event_bus: str = ""


def _kdf(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def write_enrolment(
    path: Path, passphrase: str, *, clinic_id: str = "", event_bus: str = ""
) -> Enrolment:
    """Create a clinic (new id and key unless `clinic_id` given) and write its enrolment file."""
    if len(passphrase) < 12:
        raise ValidationError("enrolment passphrase: use at least 12 characters")
    clinic_id = clinic_id or str(uuid.uuid4())
    try:
        uuid.UUID(clinic_id)
    except ValueError:
        raise ValidationError(f"clinic id '{clinic_id}': not a UUID") from None
    enrolment = Enrolment(clinic_id, secrets.token_bytes(32), event_bus)
    salt, nonce = os.urandom(16), os.urandom(12)
    secret = json.dumps({"clinic_key": enrolment.clinic_key.hex(), "event_bus": event_bus})
    cipher = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, secret.encode(), clinic_id.encode())
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "clinic_id": clinic_id,
        "kdf": "scrypt-n32768-r8-p1",
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(cipher).decode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    return enrolment


def read_enrolment(path: Path, passphrase: str) -> Enrolment:
    """Open an enrolment file; ValidationError naming the file for anything wrong."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such enrolment file") from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a Novamind enrolment file")
    if doc.get("version") != VERSION:
        raise ValidationError(f"{path}: unsupported enrolment version {doc.get('version')!r}")
    try:
        clinic_id = str(uuid.UUID(str(doc["clinic_id"])))
        salt = base64.b64decode(doc["salt"], validate=True)
        nonce = base64.b64decode(doc["nonce"], validate=True)
        cipher = base64.b64decode(doc["ciphertext"], validate=True)
    except (KeyError, ValueError):
        raise ValidationError(
            f"{path}: field 'clinic_id', 'salt', 'nonce' or 'ciphertext' is bad"
        ) from None
    try:
        plain = AESGCM(_kdf(passphrase, salt)).decrypt(nonce, cipher, clinic_id.encode())
    except (InvalidTag, ValueError):
        raise ValidationError(f"{path}: wrong passphrase or damaged file") from None
    secret = json.loads(plain)
    key = bytes.fromhex(secret["clinic_key"])
    if len(key) != 32:
        raise ValidationError(f"{path}: the clinic key has the wrong length")
    return Enrolment(clinic_id, key, str(secret.get("event_bus", "")))


def _entry(db_path: Path) -> str:
    return f"sync-clinic:{keys.store_id(db_path)}"


def save_clinic_key(service: str, db_path: Path, key: bytes) -> None:
    """Keep the clinic key in the OS keyring beside the store key."""
    try:
        keyring.set_password(service, _entry(db_path), key.hex())
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailableError(
            f"The system keyring refused to store the clinic key ({type(exc).__name__})."
        ) from None


def load_clinic_key(service: str, db_path: Path) -> bytes:
    """The clinic key of this workstation; a clear error when it was never enrolled."""
    try:
        text = keyring.get_password(service, _entry(db_path))
    except keyring.errors.KeyringError as exc:
        raise KeyringUnavailableError(
            f"The system keyring refused access ({type(exc).__name__})."
        ) from None
    if not text:
        raise KeyringUnavailableError(
            "This workstation is not enrolled for sync (no clinic key in the keyring).",
            hint="Ask IT for the enrolment file and run 'novamind sync enrol FILE'.",
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyringUnavailableError("The keyring entry for the clinic key is damaged.")
    return key
