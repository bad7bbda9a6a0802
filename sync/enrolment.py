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
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import keyring

from app.core.errors import KeyringUnavailableError, ValidationError
from app.core.security import keys
from sync import sealed_file
from sync.identity import (
    DeviceKeys,
    TrustError,
    b64,
    fingerprint,
    not_enrolled,
    sign_doc,
    unb64,
    verify_doc,
)
from sync.it_keystore import ITKeystore
from sync.sealed_file import SealedFileError

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


def write_enrolment(path: Path, passphrase: str, ks: ITKeystore) -> Enrolment:
    """Write the enrolment file of IT's clinic (never overwrites; mode 0600)."""
    enrolment = Enrolment(ks.clinic_id, ks.public, ks.event_bus)
    doc = sealed_file.seal(
        "enrolment",
        passphrase,
        {"format": FORMAT, "version": VERSION, "it_fingerprint": enrolment.fingerprint},
        ks.clinic_id,
        ks.public,
        {"event_bus": ks.event_bus},
    )
    sealed_file.write_new(path, doc)
    return enrolment


MAX_EVENT_BUS = 256
_EVENT_BUS_RE = re.compile(r"[A-Za-z0-9._/:-]*")


def read_enrolment(path: Path, passphrase: str) -> Enrolment:
    """Open an enrolment file, every field checked before anything is decrypted or kept.

    SealedFileError (exit 2) naming the file and the problem for anything wrong; the keyring
    and the store are untouched by this function whatever the file holds.
    """
    hint = "Ask IT for a new enrolment file ('novamind it create-enrolment')."
    doc = sealed_file.read(
        path, "enrolment file", FORMAT, VERSION, hint, extra={"it_fingerprint": str}
    )
    clinic_id, it_public, secret = sealed_file.open_secret(path, doc, passphrase)
    if not isinstance(secret, dict) or set(secret) != {"event_bus"}:
        raise SealedFileError(f"{path}: the sealed content is not an enrolment", hint=hint)
    bus = secret["event_bus"]
    if not isinstance(bus, str) or len(bus) > MAX_EVENT_BUS or not _EVENT_BUS_RE.fullmatch(bus):
        raise SealedFileError(f"{path}: field 'event_bus' is not an event bus name", hint=hint)
    enrolment = Enrolment(clinic_id, it_public, bus)
    if doc["it_fingerprint"] != enrolment.fingerprint:
        raise SealedFileError(f"{path}: field 'it_fingerprint' does not match the IT key")
    return enrolment


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
    with keys.keyring_errors("to store the clinic key"):
        keyring.set_password(service, _entry(db_path), key.hex())


def load_clinic_key(service: str, db_path: Path) -> bytes:
    """The clinic key of this workstation; a clear error when it was never enrolled."""
    with keys.keyring_errors("access"):
        text = keyring.get_password(service, _entry(db_path))
    if not text:
        raise not_enrolled(
            "This workstation is not enrolled for sync (no clinic key in the keyring)."
        )
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise KeyringUnavailableError("The keyring entry for the clinic key is damaged.")
    return key
