"""The device registry: IT-signed certificates, revocations and clinic-key grants in the bucket.

An append-only chain of documents, each signed by the clinic's IT key and naming the hash of
the one before (`prev`), so an entry cannot be changed, dropped or reordered without breaking
the chain. Object keys (no PHI):

    v2/<clinic>/registry/<seq:012d>.nmr

Kinds:
- `device`: a certificate: device id, Ed25519 signing key, X25519 box key, the roles it may
  author (`clinical`, `admin`), not-before.
- `revoke`: a device is revoked; its bundles with a sequence number above `last_seq` (the last
  one in the bucket when IT revoked it) are refused everywhere, earlier ones stay valid.
- `keys`: clinic-key versions sealed for devices (`grants[device][version]`) and the version
  new bundles use (`current`). Rotation publishes a new version for every remaining device.

Workstations pin IT's public key at enrolment, keep every verified entry in the store, and
read only newer entries from the bucket: an entry deleted from the bucket is not forgotten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from sync.identity import (
    ROLES,
    TrustError,
    b64,
    clinic_key_info,
    open_sealed_for,
    seal_for,
    sign_doc,
    unb64,
    verify_doc,
)
from sync.it_keystore import ITKeystore

GENESIS = "0" * 64
MAX_ENTRY = 1 << 20
KINDS = {"device", "revoke", "keys"}


def registry_prefix(clinic: str) -> str:
    return f"v2/{clinic}/registry/"


def registry_key(clinic: str, seq: int) -> str:
    return f"{registry_prefix(clinic)}{seq:012d}.nmr"


@dataclass(frozen=True)
class DeviceCert:
    """What IT's certificate says about one device."""

    device: str
    sign_key: bytes
    box_key: bytes
    roles: frozenset[str]
    not_before: str

    def allows(self, role: str) -> bool:
        return role in self.roles


@dataclass
class Registry:
    """The verified registry state of one clinic."""

    clinic: str
    it_public: bytes
    entries: list[bytes] = field(default_factory=list)
    head_sha: str = GENESIS
    devices: dict[str, DeviceCert] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)
    grants: dict[str, dict[int, bytes]] = field(default_factory=dict)
    current_version: int = 0

    @property
    def seq(self) -> int:
        return len(self.entries)

    @classmethod
    def from_entries(cls, clinic: str, it_public: bytes, entries: list[bytes]) -> Registry:
        reg = cls(clinic, it_public)
        for blob in entries:
            reg.apply(blob)
        return reg

    def apply(self, blob: bytes) -> None:
        """Verify one entry against IT's key and the chain, then fold it in; TrustError if not."""
        if len(blob) > MAX_ENTRY:
            raise TrustError("registry entry is too large")
        doc = verify_doc(self.it_public, blob)
        try:
            if doc["clinic"] != self.clinic:
                raise TrustError("registry entry belongs to another clinic")
            if int(doc["seq"]) != self.seq + 1 or doc["prev"] != self.head_sha:
                raise TrustError("registry chain broken (entry missing, replayed or reordered)")
            kind = doc["kind"]
            if kind not in KINDS:
                raise TrustError("registry entry of an unknown kind")
            getattr(self, f"_apply_{kind}")(doc)
        except (KeyError, ValueError, TypeError, AttributeError):
            raise TrustError("registry entry is malformed") from None
        self.entries.append(blob)
        self.head_sha = hashlib.sha256(blob).hexdigest()

    def _apply_device(self, doc: dict[str, Any]) -> None:
        device = str(doc["device"])
        if device in self.devices or device in self.revoked:
            raise TrustError("device certified twice")
        roles = frozenset(str(r) for r in doc["roles"])
        if not roles or not roles <= set(ROLES):
            raise TrustError("certificate names unknown roles")
        self.devices[device] = DeviceCert(
            device,
            unb64(doc["sign_key"], "sign_key", 32),
            unb64(doc["box_key"], "box_key", 32),
            roles,
            str(doc["not_before"]),
        )

    def _apply_revoke(self, doc: dict[str, Any]) -> None:
        device = str(doc["device"])
        if device not in self.devices:
            raise TrustError("revocation of an unknown device")
        self.revoked[device] = int(doc["last_seq"])

    def _apply_keys(self, doc: dict[str, Any]) -> None:
        current = int(doc["current"])
        if current < self.current_version or current < 1:
            raise TrustError("clinic-key version goes backwards")
        for device, versions in dict(doc["grants"]).items():
            if device not in self.devices:
                raise TrustError("key grant for an unknown device")
            slot = self.grants.setdefault(str(device), {})
            for v, wrapped in dict(versions).items():
                slot[int(v)] = unb64(wrapped, "grant")
        self.current_version = current

    # ---- questions the merge asks ------------------------------------------------------

    def cert(self, device: str) -> DeviceCert:
        """The certificate of a device that is not revoked; TrustError otherwise."""
        cert = self.devices.get(device)
        if cert is None:
            raise TrustError("unknown device (no certificate from the clinic's IT key)")
        if device in self.revoked:
            raise TrustError("device is revoked")
        return cert

    def cert_for_bundle(self, device: str, seq: int) -> DeviceCert:
        """The certificate that vouches for bundle `seq` of `device`; TrustError if none does."""
        cert = self.devices.get(device)
        if cert is None:
            raise TrustError("unknown device (no certificate from the clinic's IT key)")
        last = self.revoked.get(device)
        if last is not None and seq > last:
            raise TrustError("written by a revoked device after its revocation")
        return cert

    def clinic_keys(self, device: str, box: X25519PrivateKey) -> dict[int, bytes]:
        """Every clinic-key version sealed for this device, opened with its box key."""
        out: dict[int, bytes] = {}
        for version, wrapped in self.grants.get(device, {}).items():
            out[version] = open_sealed_for(
                box, wrapped, clinic_key_info(self.clinic, device, version)
            )
        return out

    def active_devices(self) -> list[str]:
        return sorted(d for d in self.devices if d not in self.revoked)

    def to_meta(self) -> str:
        return json.dumps([b64(e) for e in self.entries])

    @classmethod
    def from_meta(cls, clinic: str, it_public: bytes, text: str) -> Registry:
        raw = [unb64(e, "registry entry") for e in json.loads(text)] if text else []
        return cls.from_entries(clinic, it_public, raw)


# ---- IT side: new entries -----------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def make_entry(ks: ITKeystore, reg: Registry, kind: str, body: dict[str, Any]) -> bytes:
    """The next signed entry of the chain (checked by applying it to a copy of the state)."""
    doc = {
        **body,
        "clinic": reg.clinic,
        "seq": reg.seq + 1,
        "prev": reg.head_sha,
        "kind": kind,
        "issued": _now(),
    }
    blob = sign_doc(ks.signing_key, doc)
    Registry.from_entries(reg.clinic, reg.it_public, [*reg.entries, blob])
    return blob


def certificate(
    ks: ITKeystore, reg: Registry, device: str, sign_key: bytes, box_key: bytes, roles: list[str]
) -> bytes:
    return make_entry(
        ks,
        reg,
        "device",
        {
            "device": device,
            "sign_key": b64(sign_key),
            "box_key": b64(box_key),
            "roles": sorted(set(roles)),
            "not_before": _now(),
        },
    )


def grants(ks: ITKeystore, reg: Registry, devices: list[str], current: int) -> bytes:
    """Seal every clinic-key version (up to `current`) for each of `devices`."""
    out: dict[str, dict[str, str]] = {}
    for device in devices:
        box = reg.devices[device].box_key
        out[device] = {
            str(v): b64(seal_for(box, k, clinic_key_info(reg.clinic, device, v)))
            for v, k in ks.clinic_keys.items()
            if v <= current
        }
    return make_entry(ks, reg, "keys", {"current": current, "grants": out})


def revocation(ks: ITKeystore, reg: Registry, device: str, last_seq: int) -> bytes:
    return make_entry(ks, reg, "revoke", {"device": device, "last_seq": last_seq})
