"""Sync use cases for the status bar, the conflict dialog and `novamind sync`.

The UI and CLI call these; they never touch boto3 or the store directly. Conflict
resolution is RBAC-checked and audited (ids and field names only, never values).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.domain import Action, NoteStatus, Principal, Role
from app.core.errors import (
    ConfigError,
    ImmutableRecordError,
    KeyringUnavailableError,
    NotFoundError,
    NovamindError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.security import rbac
from app.core.store.models import ClinicalNote, SyncConflict, SyncQuarantine, utcnow
from app.core.store.store import Actor, UnitOfWork
from app.services import phi_audit
from app.services.context import AppContext, actor_of
from sync import anchors, collisions, enrolment, identity, membership, records, state
from sync import engine as sync_engine
from sync.transport import Endpoint, Transport, TransportError

log = logging.getLogger(__name__)
LAST_FAILURE = "sync.last_failure"  # {"at": ISO time, "class": error class} of the last failure
FAILING_SINCE = "sync.failing_since"  # first failure since the last successful sync ("" if none)


class StaleConflictError(ValidationError):
    """A conflict whose field was edited after it was raised cannot be resolved any more."""


@dataclass(frozen=True)
class SyncStatus:
    """What the status bar shows."""

    enrolled: bool
    last_sync_at: str
    pending_records: int
    unsent_bundles: int
    open_conflicts: int
    quarantined: int
    last_error: str


@dataclass(frozen=True)
class ConflictView:
    """One open conflict: both values, so a person can choose (shown only to the care team)."""

    id: str
    table: str
    record_id: str
    field: str
    local_value: Any
    remote_value: Any
    detected_at: datetime


def endpoint_from_settings(ctx: AppContext) -> Endpoint:
    """The bucket, endpoint, proxy, CA bundle and workstation role from IT policy."""
    ident = ctx.store.read(membership.identity)
    return endpoint_from(ctx.settings, device=ident.device_id if ident else "")


def endpoint_from(s: Settings, device: str = "", *, bucket: str = "") -> Endpoint:
    """The bucket, endpoint, proxy and CA bundle of these settings (the role only with a
    device id: IT's own commands run with IT's credentials). `bucket`: another of the
    clinic's buckets (the audit bucket), reached the same way as the sync bucket."""
    if not (bucket or s.sync_bucket):
        raise ConfigError(
            "No sync bucket is configured.", hint="IT sets sync_bucket in the site policy."
        )
    return Endpoint(
        bucket=bucket or s.sync_bucket,
        region=s.sync_region,
        endpoint_url=s.sync_endpoint,
        proxy=s.proxy,
        ca_bundle=s.ca_bundle,
        role_arn=s.sync_role_arn if device else "",
        device_tag=device,
    )


@dataclass(frozen=True)
class EnrolResult:
    """What `novamind sync enrol` tells the person enrolling: what to hand to IT."""

    device_id: str
    request_path: Path
    device_fingerprint: str
    it_fingerprint: str


def enrol_workstation(
    ctx: AppContext, actor: Actor, path: Path, passphrase: str, request: Path | None = None
) -> EnrolResult:
    """Join this workstation to its clinic: pin IT's key, make device keys, write a request.

    The device keys go to the OS keyring (kept when they exist, so enrolling twice yields
    the same request; new ones for a revoked device, which enrols as a new device); IT
    approves the request with `novamind it enrol-device`.
    """
    # Everything is checked before the keyring or the store is touched: the whole file, then
    # whether this store may join that clinic. A refusal leaves both byte-identical.
    info = enrolment.read_enrolment(path, passphrase)
    try:
        membership.check_can_enrol(ctx.store, info.clinic_id, info.it_public)
    except membership.EnrolmentRefusedError as exc:
        raise membership.EnrolmentRefusedError(f"{path}: {exc}", hint=exc.hint) from None
    service, db = ctx.settings.keyring_service, ctx.settings.db_path
    device, fresh = membership.enrol(ctx.store, info.clinic_id, info.event_bus, info.it_public)
    try:
        dk = identity.load_device_keys(service, db)
    except KeyringUnavailableError:
        fresh = True
    if fresh:  # a new device (first enrolment, or after IT revoked the old one): new keys
        dk = identity.DeviceKeys.generate()
        identity.save_device_keys(service, db, dk)
    out = request or enrolment.request_path(ctx.settings.data_dir, device)
    req = enrolment.write_request(out, info.clinic_id, device, dk)
    ctx.store.write(
        lambda uow: uow.audit(
            actor,
            "sync.enrol",
            record_type="device",
            record_id=device,
            detail={"it_fingerprint": info.fingerprint, "device_fingerprint": req.fingerprint},
        )
    )
    return EnrolResult(device, out, req.fingerprint, info.fingerprint)


def limits_from_settings(ctx: AppContext) -> sync_engine.Limits:
    """Drift bound and download / inflation caps from IT policy."""
    s, mib = ctx.settings, 1024 * 1024
    return sync_engine.Limits(
        max_skew_ms=s.sync_max_clock_skew_s * 1000,
        max_download=s.sync_max_bundle_mb * mib,
        max_inflated=s.sync_max_inflated_mb * mib,
    )


def make_engine(ctx: AppContext, transport: Transport | None = None) -> sync_engine.SyncEngine:
    ident = membership.require_identity(ctx.store)  # before the keyring: the clearer message
    dk = identity.load_device_keys(ctx.settings.keyring_service, ctx.settings.db_path)
    transport = transport or Transport(endpoint_from(ctx.settings, device=ident.device_id))
    return sync_engine.SyncEngine(ctx.store, transport, dk, limits_from_settings(ctx))


SyncReport = sync_engine.SyncReport  # what run_sync returns (for callers above the services)


def run_sync(ctx: AppContext, transport: Transport | None = None) -> SyncReport:
    """One sync cycle; a failure is recorded for the status bar and raised as a clear error."""
    eng = make_engine(ctx, transport)
    try:
        report = eng.run()
        _keep_clinic_key(ctx, eng)
        report.anchored = anchor_audit(ctx, eng)
    except TransportError as exc:
        _record_error(ctx, str(exc))
        record_failure(ctx, type(exc).__name__)
        raise ConfigError(f"Sync failed: {exc}", hint="Check the network and the proxy.") from None
    except NovamindError as exc:
        record_failure(ctx, type(exc).__name__)
        raise
    _record_error(
        ctx, f"{len(report.quarantined)} bundle(s) quarantined" if report.quarantined else ""
    )
    ctx.store.write(lambda uow: state.put(uow.session, FAILING_SINCE, ""))
    return report


def record_failure(ctx: AppContext, error_class: str, at: datetime | None = None) -> None:
    """Keep when sync last failed and how (the class only), and since when it has been failing,
    so system health can tell a blip from a day without sync."""
    when = (at or datetime.now(UTC)).isoformat()

    def do(uow: UnitOfWork) -> None:
        state.put(uow.session, LAST_FAILURE, json.dumps({"at": when, "class": error_class}))
        if not state.get(uow.session, FAILING_SINCE):
            state.put(uow.session, FAILING_SINCE, when)

    ctx.store.write(do)


def audit_transport(ctx: AppContext, eng: sync_engine.SyncEngine) -> Transport | None:
    """The clinic's Object Lock audit bucket, reached like the sync bucket (None: not set)."""
    bucket = ctx.settings.audit_bucket
    if not bucket:
        return None
    return Transport(dataclasses.replace(eng.transport.endpoint, bucket=bucket))


def anchor_audit(ctx: AppContext, eng: sync_engine.SyncEngine) -> str:
    """Write this device's signed audit-chain head to the audit bucket (sync.anchors)."""
    target = audit_transport(ctx, eng)
    if target is None:
        return ""
    return anchors.write(ctx.store, target, eng.id, eng.keys)


def _keep_clinic_key(ctx: AppContext, eng: sync_engine.SyncEngine) -> None:
    """The current clinic key in the keyring, for clinic-wrapped backups (app.services.backup)."""
    current = eng.ring.current_key
    service, db = ctx.settings.keyring_service, ctx.settings.db_path
    try:
        held = enrolment.load_clinic_key(service, db)
    except KeyringUnavailableError:
        held = b""
    if held != current:
        enrolment.save_clinic_key(service, db, current)


def _record_error(ctx: AppContext, message: str) -> None:
    ctx.store.write(lambda uow: state.put(uow.session, state.LAST_ERROR, message))


def sync_status(ctx: AppContext) -> SyncStatus:
    """Counts for the status bar (no network)."""

    def read(s: Session) -> SyncStatus:
        counts = sync_engine.status_counts(s)
        return SyncStatus(enrolled=membership.identity(s) is not None, **counts)

    return ctx.store.read(read)


def list_quarantine(ctx: AppContext) -> list[tuple[str, str, str]]:
    """(object key, reason, when) of every rejected bundle, for IT."""
    return ctx.store.read(
        lambda s: [
            (q.object_key, q.reason, q.detected_at.isoformat())
            for q in s.scalars(select(SyncQuarantine).order_by(SyncQuarantine.detected_at))
        ]
    )


def _patient_of(s: Session, table: str, record_id: str) -> str | None:
    t = records.TABLES[table]
    if table == "patients":
        return record_id
    if "patient_id" in t.c:
        return s.scalar(select(t.c.patient_id).where(t.c.id == record_id))
    return None


def _allowed(s: Session, principal: Principal, table: str, record_id: str) -> bool:
    pid = _patient_of(s, table, record_id)
    if pid is None:
        return principal.role in {Role.ADMIN, Role.IT}
    return rbac.can(s, principal, Action.WRITE_CLINICAL, pid)


def _close(
    uow: UnitOfWork, principal: Principal, c: SyncConflict, keep: str, patient_id: str | None
) -> None:
    """Mark a conflict resolved and audit the choice (field name only, never a value)."""
    c.resolved_at, c.resolved_by, c.resolution = utcnow(), principal.user_id, keep
    uow.audit(
        actor_of(principal),
        "sync.conflict_resolve",
        patient_id=patient_id,
        record_type=c.table_name,
        record_id=c.record_id,
        detail={"field": c.field, "kept": keep, "conflict_id": c.id},
    )


# Fields whose values never leave the store in a conflict view, whoever asks (an admin
# resolving a users-row conflict chooses local/remote without seeing a hash or TOTP secret).
SECRET_FIELD = re.compile(r"password|passwd|secret|totp|token|private|salt|api_?key", re.I)
HIDDEN = "(secret value not shown)"


def _redacted(field: str, value: Any) -> Any:  # noqa: ANN401 — any JSON value
    """The value a person may see: secrets replaced, nested secret keys too."""
    if SECRET_FIELD.search(field):
        return HIDDEN
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted("", v) for v in value]
    return value


def list_conflicts(ctx: AppContext, principal: Principal) -> list[ConflictView]:
    """Open conflicts on records this user may edit: secret fields hidden, the read audited
    with the conflicts' record ids and the patients they belong to."""
    patients: list[str] = []

    def read(s: Session) -> list[ConflictView]:
        q = select(SyncConflict).where(SyncConflict.resolved_at.is_(None))
        out = []
        for c in s.scalars(q.order_by(SyncConflict.detected_at)):
            if not _allowed(s, principal, c.table_name, c.record_id):
                continue
            pid = _patient_of(s, c.table_name, c.record_id)
            if pid is not None:
                patients.append(pid)
            out.append(
                ConflictView(
                    c.id,
                    c.table_name,
                    c.record_id,
                    c.field,
                    _redacted(c.field, json.loads(c.local_json)),
                    _redacted(c.field, json.loads(c.remote_json)),
                    c.detected_at,
                )
            )
        return out

    views = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "sync.conflict_list",
        record_type="sync_conflict",
        shown=patients,
        detail={"records": phi_audit.encode_ids(v.record_id for v in views)},
    )
    return views


def resolve_conflict(ctx: AppContext, principal: Principal, conflict_id: str, keep: str) -> None:
    """Keep the 'local' or 'remote' value; the choice syncs to every device and is audited."""
    if keep not in {"local", "remote"}:
        raise ValidationError("keep must be 'local' or 'remote'")

    def do(uow: UnitOfWork) -> None:
        s = uow.session
        c = s.get(SyncConflict, conflict_id)
        if c is None or c.resolved_at is not None:
            raise NotFoundError("That conflict does not exist or is already resolved.")
        if not _allowed(s, principal, c.table_name, c.record_id):
            raise PermissionDeniedError("You may not edit this record.")
        if c.table_name == ClinicalNote.__tablename__:
            note = s.get(ClinicalNote, c.record_id)
            if note is not None and note.status == NoteStatus.SIGNED.value:
                raise ImmutableRecordError(
                    "This note is signed; a sync conflict cannot change it.",
                    hint="Write an amendment to the signed note instead.",
                )
        if c.field == collisions.DUPLICATE:  # a set-aside duplicate can only be dismissed
            if keep != "local":
                raise ValidationError(
                    "The duplicate record was never stored here; keep the record this "
                    "workstation has."
                )
            _close(uow, principal, c, keep, None)
            return
        if collisions.is_stale(s, c):
            raise StaleConflictError(
                "This conflict is out of date: the field was changed after it was raised.",
                hint="Sync again; the conflict list then shows only current conflicts.",
            )
        chosen = json.loads(c.local_json if keep == "local" else c.remote_json)
        table = records.TABLES[c.table_name]
        key = collisions.TEXT_KEYS.get(c.table_name)
        if c.field == key and s.scalar(
            select(table.c.id).where(table.c[key] == chosen, table.c.id != c.record_id)
        ):
            raise ValidationError(
                "Another record already uses that value.",
                hint="Renumber or merge the other record first, then resolve this conflict.",
            )
        version = s.scalar(select(table.c.version).where(table.c.id == c.record_id))
        if version is None:
            raise NotFoundError("The record of this conflict no longer exists.")
        s.execute(
            update(table)
            .where(table.c.id == c.record_id)
            .values(
                {
                    c.field: records.from_json(c.table_name, c.field, chosen),
                    "version": version + 1,
                    "updated_at": datetime.now(UTC),
                }
            )
        )
        collisions.record_resolution(s, c, chosen)
        _close(uow, principal, c, keep, _patient_of(s, c.table_name, c.record_id))

    ctx.store.write(do)
