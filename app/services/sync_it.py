"""IT's side of zero-trust sync: the clinic's IT key, device certificates, revocation, rotation.

These run on IT's machine with IT's offline keystore (`novamind it ...`); they need no
clinical store. Every decision lands in the bucket's registry as an entry signed by the IT
key, which every workstation verifies against the key it pinned at enrolment.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.core.errors import ValidationError
from sync import enrolment, identity, registry
from sync.identity import TrustError
from sync.it_keystore import ITKeystore, new_it_keystore, read_it_keystore, write_it_keystore
from sync.registry import Registry
from sync.transport import Transport, TransportError, device_prefix, parse_seq

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Revocation:
    """What revoking a device did: its last valid bundle and the new clinic-key version."""

    device_id: str
    last_valid_seq: int
    key_version: int
    devices_rekeyed: int


def init_clinic(
    path: Path, passphrase: str, *, clinic_id: str = "", event_bus: str = ""
) -> ITKeystore:
    """Create the clinic's IT keystore (signing key + clinic key version 1); never overwrites."""
    if path.exists():
        raise ValidationError(f"{path}: already exists; an IT keystore is never overwritten")
    ks = new_it_keystore(clinic_id, event_bus)
    write_it_keystore(path, passphrase, ks)
    return ks


def create_enrolment(ks: ITKeystore, out: Path, passphrase: str) -> enrolment.Enrolment:
    """The enrolment file workstations of this clinic start from."""
    if out.exists():
        raise ValidationError(f"{out}: already exists; choose a new file name")
    return enrolment.write_enrolment(out, passphrase, ks)


def load_registry(transport: Transport, ks: ITKeystore) -> Registry:
    """The clinic's registry as the bucket holds it, every entry verified with IT's key."""
    reg = Registry(ks.clinic_id, ks.public)
    for key, _ in transport.list_keys(registry.registry_prefix(ks.clinic_id)):
        if parse_seq(key) != reg.seq + 1:
            raise ValidationError(f"registry object {key}: the chain has a gap")
        try:
            reg.apply(transport.get(key, registry.MAX_ENTRY))
        except TrustError as exc:
            raise ValidationError(f"registry object {key}: {exc}") from None
    return reg


def _publish(transport: Transport, reg: Registry, blob: bytes) -> None:
    key = registry.registry_key(reg.clinic, reg.seq + 1)
    try:
        transport.put_create_only(key, blob)
    except TransportError as exc:
        raise ValidationError(
            f"registry entry {reg.seq + 1} could not be written ({exc})",
            hint="Someone else changed the registry meanwhile: run the command again.",
        ) from None
    reg.apply(blob)


def enrol_device(
    transport: Transport, ks: ITKeystore, request: enrolment.DeviceRequest, roles: list[str]
) -> registry.DeviceCert:
    """Certify a workstation (roles `clinical`, optionally `admin`) and seal it the clinic keys."""
    if request.clinic_id != ks.clinic_id:
        raise ValidationError("the device request is for another clinic")
    bad = set(roles) - set(identity.ROLES)
    if not roles or bad:
        raise ValidationError(f"roles: choose from {', '.join(identity.ROLES)}")
    reg = load_registry(transport, ks)
    if request.device_id in reg.revoked:
        raise ValidationError("that device was revoked; enrol the workstation as a new device")
    if request.device_id not in reg.devices:
        _publish(
            transport,
            reg,
            registry.certificate(
                ks, reg, request.device_id, request.sign_key, request.box_key, roles
            ),
        )
    elif reg.devices[request.device_id].sign_key != request.sign_key:
        raise ValidationError("that device id is already certified with another key")
    _publish(
        transport,
        reg,
        registry.grants(ks, reg, [request.device_id], reg.current_version or ks.current_version),
    )
    return reg.devices[request.device_id]


def last_bundle_seq(transport: Transport, clinic: str, device: str) -> int:
    """The highest bundle number a device has in the bucket (0: none)."""
    keys = transport.list_keys(device_prefix(clinic, device))
    return max((parse_seq(k) for k, _ in keys), default=0)


def rotate_key(transport: Transport, ks_path: Path, passphrase: str) -> tuple[int, int]:
    """Rotate the clinic key without revoking anyone: (new version, devices it was sealed for)."""
    ks = read_it_keystore(ks_path, passphrase)
    reg = load_registry(transport, ks)
    return _rotate(transport, ks_path, passphrase, ks, reg), len(reg.active_devices())


def _rotate(
    transport: Transport, ks_path: Path, passphrase: str, ks: ITKeystore, reg: Registry
) -> int:
    """A new clinic-key version, saved to the keystore first, sealed for every active device."""
    version = ks.current_version + 1
    ks.clinic_keys[version] = secrets.token_bytes(32)
    write_it_keystore(ks_path, passphrase, ks, replace=True)
    _publish(transport, reg, registry.grants(ks, reg, reg.active_devices(), version))
    return version


def revoke_device(transport: Transport, ks_path: Path, passphrase: str, device: str) -> Revocation:
    """Revoke a (lost) device: bundles after its last one in the bucket are refused, and the
    clinic key rotates so it cannot read anything written from now on."""
    ks = read_it_keystore(ks_path, passphrase)
    reg = load_registry(transport, ks)
    if device not in reg.devices:
        raise ValidationError(f"device {device} is not in the clinic's registry")
    if device in reg.revoked:
        raise ValidationError(f"device {device} is already revoked")
    last = last_bundle_seq(transport, ks.clinic_id, device)
    _publish(transport, reg, registry.revocation(ks, reg, device, last))
    version = _rotate(transport, ks_path, passphrase, ks, reg)
    log.info("sync: device revoked, clinic key now version %d", version)
    return Revocation(device, last, version, len(reg.active_devices()))
