"""Enrolment: IT's file that names the clinic and its IT key, and the device's request back.

1. IT writes an enrolment file (`novamind it create-enrolment`): the clinic id, IT's public
   signing key and the event bus, authenticated (and the bus name encrypted) with
   AES-256-GCM under scrypt(enrolment passphrase). Reading it pins IT's key on the
   workstation: a file with another key fails the tag check.
2. The workstation (`novamind sync enrol FILE`) makes its device keys (OS keyring) and writes
   a request: device id and public keys, signed with the new device key (proof of possession).
3. IT approves the request (`novamind it enrol-device REQUEST`), which publishes the device's
   certificate and its sealed clinic keys in the registry (sync.registry).
"""

from __future__ import annotations

import json
import os
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
from sync.identity import (
    MIN_PASSPHRASE,
    DeviceKeys,
    ITKeystore,
    TrustError,
    b64,
    fingerprint,
    sign_doc,
    unb64,
    verify_doc,
)

FORMAT = "novamind-sync-enrolment"
VERSION = 2
REQUEST_FORMAT = "novamind-device-request"


@dataclass(frozen=True)
class Enrolment:
    """What a workstation needs to join its clinic's sync."""

    clinic_id: str
    it_public: bytes
    event_bus: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.it_public)


@dataclass(frozen=True)
class DeviceRequest:
    """A workstation's request to be certified: its id and public keys (self-signed)."""

    clinic_id: str
    device_id: str
    sign_key: bytes
    box_key: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.sign_key)


def _kdf(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase.encode())


def _aad(clinic_id: str, it_public: bytes) -> bytes:
    return f"{clinic_id}|{it_public.hex()}".encode()


def _write_new(path: Path, doc: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)


def _read_json(path: Path, what: str) -> dict[str, object]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such {what}") from None
    except (ValueError, UnicodeDecodeError):
        raise ValidationError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise ValidationError(f"{path}: not a Novamind {what}")
    return doc


def write_enrolment(path: Path, passphrase: str, ks: ITKeystore) -> Enrolment:
    """Write the enrolment file of IT's clinic (never overwrites; mode 0600)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValidationError(f"enrolment passphrase: use at least {MIN_PASSPHRASE} characters")
    enrolment = Enrolment(ks.clinic_id, ks.public, ks.event_bus)
    salt, nonce = os.urandom(16), os.urandom(12)
    secret = json.dumps({"event_bus": ks.event_bus}).encode()
    cipher = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, secret, _aad(ks.clinic_id, ks.public))
    _write_new(
        path,
        {
            "format": FORMAT,
            "version": VERSION,
            "clinic_id": ks.clinic_id,
            "it_public_key": b64(ks.public),
            "it_fingerprint": enrolment.fingerprint,
            "kdf": "scrypt-n32768-r8-p1",
            "salt": b64(salt),
            "nonce": b64(nonce),
            "ciphertext": b64(cipher),
        },
    )
    return enrolment


def read_enrolment(path: Path, passphrase: str) -> Enrolment:
    """Open an enrolment file; ValidationError naming the file for anything wrong."""
    doc = _read_json(path, "enrolment file")
    if doc.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a Novamind enrolment file")
    if doc.get("version") != VERSION:
        raise ValidationError(
            f"{path}: enrolment version {doc.get('version')!r} is not supported (this "
            f"version reads {VERSION})",
            hint="Ask IT for a new enrolment file ('novamind it create-enrolment').",
        )
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
        event_bus = str(json.loads(plain).get("event_bus", ""))
    except (InvalidTag, ValueError, AttributeError):
        raise ValidationError(f"{path}: wrong passphrase or damaged file") from None
    return Enrolment(clinic_id, it_public, event_bus)


def write_request(path: Path, clinic_id: str, device_id: str, dk: DeviceKeys) -> DeviceRequest:
    """The device's certification request for IT (public keys only; overwrites a stale one)."""
    doc = {
        "format": REQUEST_FORMAT,
        "clinic_id": clinic_id,
        "device_id": device_id,
        "sign_key": b64(dk.sign_public),
        "box_key": b64(dk.box_public),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sign_doc(dk.sign, doc))
    return DeviceRequest(clinic_id, device_id, dk.sign_public, dk.box_public)


def read_request(path: Path) -> DeviceRequest:
    """A device's request, its self-signature checked; ValidationError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such device request") from None
    try:
        outer = json.loads(raw.decode("utf-8"))
        sign_key = unb64(outer["doc"]["sign_key"], "sign_key", 32)
        doc = verify_doc(sign_key, raw)
        if doc.get("format") != REQUEST_FORMAT:
            raise TrustError("not a device request")
        req = DeviceRequest(
            str(uuid.UUID(str(doc["clinic_id"]))),
            str(uuid.UUID(str(doc["device_id"]))),
            sign_key,
            unb64(doc["box_key"], "box_key", 32),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, TrustError) as exc:
        reason = str(exc) if isinstance(exc, TrustError) else "malformed"
        raise ValidationError(f"{path}: not a valid device request ({reason})") from None
    return req


def request_path(data_dir: Path, device_id: str) -> Path:
    return data_dir / f"device-request-{device_id[:8]}.json"


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
