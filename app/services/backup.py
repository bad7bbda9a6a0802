"""Encrypted local backups, verified restore, retention and secure disposal.

A backup is a SQLCipher copy of the store (taken online, without stopping the app) under a
fresh random backup key. That key is wrapped by a key-encryption key: one derived (HKDF) from
the clinic key (from sync enrolment), so IT can restore on a replacement workstation that
enrols into the same clinic, or, on a workstation that is not enrolled, a local key kept in its
keyring. Every backup is verified right after it is written: restored read-only,
integrity-checked, row counts and the audit-chain head compared with the snapshot it was taken
from, and the whole chain checked with its HMAC key.

Format 2 (written now): the backup key and the audit chain's HMAC key (which lives in the
keyring, never in the store, so it must travel beside the copy) are both wrapped with AES key
wrap (RFC 3394); the manifest is authenticated by an HMAC under a sub-key of the backup key.
Format 1 (read only): backup key AES-GCM-wrapped with the manifest as associated data, the
hand-written HKDF for the clinic KEK, and the audit key inside the copied store.

Backups live in `<backup folder>/<store id>/`, so workstations sharing one folder never list,
prune or delete each other's; flat files of format 1 in the folder itself are still read.
Backup, restore, confirm-restore, retention and decommission are IT operations, checked here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlcipher3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)
from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.domain import Action, Principal
from app.core.errors import (
    KeyringUnavailableError,
    NovamindError,
    PermissionDeniedError,
    ValidationError,
)
from app.core.security import audit, keys, rbac
from app.core.store.engine import DEFAULT_BUSY_TIMEOUT_S, connect_raw
from app.core.store.models import Base, Patient, SyncConflict, SyncRecordState
from app.core.store.store import SYSTEM, Actor, Store, UnitOfWork
from app.services.context import AppContext, actor_of

FORMAT_V1 = "novamind-backup/1"
FORMAT = "novamind-backup/2"
FORMATS = (FORMAT_V1, FORMAT)
SUFFIX = ".nmbak"
LOCAL_WRAP_ENTRY = "backup-local:{}"
LINEAGE = ".previous-ids"  # beside the db: store ids this workstation had before restores
SCHEDULER = SYSTEM  # the scheduled backup / retention runs as the system, not as a user
Who = Principal | Actor


def _authorize(who: Who, *, scheduled: bool = False) -> Actor:
    """IT only (a Principal whose role may operate the system, or the local CLI's IT actor);
    the scheduler's SYSTEM actor too where `scheduled`. PermissionDeniedError otherwise."""
    if isinstance(who, Principal):
        if rbac.role_allows(who.role, Action.OPERATE_SYSTEM):
            return actor_of(who)
        raise PermissionDeniedError(
            f"Your role ({who.role.value}) may not operate the system (backups are IT's)."
        )
    if isinstance(who, Actor) and (who.role == "it" or (scheduled and who == SYSTEM)):
        return who
    raise PermissionDeniedError("Backups, restores and disposal are IT operations.")


@dataclass(frozen=True)
class Manifest:
    format: str
    backup_id: str
    created_at: str
    store_id: str
    schema_revision: str
    counts: dict[str, int]
    audit_head: str
    file: str
    file_sha256: str
    size: int
    wrap: str  # clinic | local
    nonce: str = ""  # format 1 only (AES-GCM)
    wrapped_key: str = ""
    wrapped_audit_key: str = ""  # format 2: the audit chain's HMAC key, AES-key-wrapped
    mac: str = ""  # format 2: HMAC over aad() and wrapped_audit_key (sub-key of the backup key)

    def aad(self) -> bytes:
        """The manifest without its key material (format 1's GCM associated data)."""
        data = asdict(self)
        for k in ("nonce", "wrapped_key", "wrapped_audit_key", "mac"):
            data.pop(k)
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    def mac_input(self) -> bytes:
        return self.aad() + b"|" + self.wrapped_audit_key.encode()

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


@dataclass(frozen=True)
class VerifyReport:
    manifest: Manifest
    integrity: str
    audit_events: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _wrapping_key(settings: Settings, *, create: bool, version: str = FORMAT) -> tuple[str, bytes]:
    """('clinic', key) when this workstation is enrolled, else ('local', key from keyring)."""
    from sync.enrolment import load_clinic_key

    try:
        clinic = load_clinic_key(settings.keyring_service, settings.db_path)
        derive = keys.derive_key_v1 if version == FORMAT_V1 else keys.derive_key
        return "clinic", derive(clinic, "backup-key-wrap")
    except KeyringUnavailableError:
        pass
    entry = LOCAL_WRAP_ENTRY.format(keys.store_id(settings.db_path))
    text = keys.get_entry(settings.keyring_service, entry)
    if text is None:
        if not create:
            raise KeyringUnavailableError(
                "The key that protects this workstation's backups is not in the keyring."
            ) from None
        text = secrets.token_hex(32)
        keys.set_entry(settings.keyring_service, entry, text)
    return "local", bytes.fromhex(text)


def _mac_key(backup_key: bytes) -> bytes:
    return keys.derive_key(backup_key, "backup-manifest-mac")


def _unwrap(settings: Settings, m: Manifest, path: Path) -> bytes:
    """The backup key, unwrapped with the kind of key the manifest names."""
    return _unwrap_keys(settings, m, path)[0]


def _unwrap_keys(settings: Settings, m: Manifest, path: Path) -> tuple[bytes, bytes | None]:
    """(backup key, audit key) — the audit key is None for format 1 (it is in the copy)."""
    try:
        kind, kek = _wrapping_key(settings, create=False, version=m.format)
    except KeyringUnavailableError:
        kind, kek = "none", b""
    if kind != m.wrap:
        if m.wrap == "clinic":
            raise ValidationError(
                f"{path.name}: this backup is protected by the clinic key, which this "
                "workstation does not hold",
                hint="Enrol this workstation into the clinic first (novamind sync enrol).",
            )
        raise ValidationError(
            f"{path.name}: this backup was made on another, non-enrolled workstation and can "
            "only be restored there"
        )
    refused = ValidationError(
        f"{path.name}: the backup key cannot be unwrapped (manifest altered, or another "
        "clinic's backup)"
    )
    if m.format == FORMAT_V1:
        try:
            key = AESGCM(kek).decrypt(
                base64.b64decode(m.nonce), base64.b64decode(m.wrapped_key), m.aad()
            )
        except (InvalidTag, ValueError):
            raise refused from None
        return key, None
    try:
        key = aes_key_unwrap(kek, base64.b64decode(m.wrapped_key))
        audit_key = aes_key_unwrap(kek, base64.b64decode(m.wrapped_audit_key))
    except (InvalidUnwrap, ValueError):
        raise refused from None
    expected = hmac.new(_mac_key(key), m.mac_input(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, m.mac):
        raise refused
    return key, audit_key


def read_manifest(path: Path) -> Manifest:
    """Load a backup manifest (the .json beside the .nmbak), validating its shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        m = Manifest(**data)
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such backup manifest") from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise ValidationError(  # the class only: the text can quote the file
            f"{path.name}: not a Novamind backup manifest ({type(exc).__name__})"
        ) from None
    if m.format not in FORMATS:
        raise ValidationError(f"{path.name}: unsupported backup format")
    return m


def _open_backup(path: Path, key: bytes) -> sqlcipher3.Connection:
    # a backup file nobody else writes; the busy timeout is the store's default all the same
    conn = sqlcipher3.connect(str(path), isolation_level=None, timeout=DEFAULT_BUSY_TIMEOUT_S)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute("PRAGMA query_only = ON")
    return conn


@dataclass(frozen=True)
class VerifyJob:
    """What checking a backup needs once its keys are unwrapped: plain data that pickles, so
    the CPU-bound part (integrity check, audit-chain HMACs) can run in a child process
    (``ui.tasks.TaskManager.call_cpu(backup.run_verify, job)``). The keys travel over the
    pool's pipe only; they are never written to a file or the environment."""

    manifest_path: Path
    manifest: Manifest
    key: bytes = field(repr=False)
    audit_key: bytes | None = field(repr=False)


def verify(settings: Settings, manifest_path: Path) -> VerifyReport:
    """Check a backup end to end without changing anything."""
    return run_verify(prepare_verify(settings, manifest_path))


def prepare_verify(settings: Settings, manifest_path: Path) -> VerifyJob:
    """Read the manifest, check the file's checksum and unwrap its keys (needs the keyring)."""
    m = read_manifest(manifest_path)
    data = manifest_path.with_name(m.file)
    if not data.exists():
        raise ValidationError(f"{data.name}: the backup file is missing")
    if data.stat().st_size != m.size or _sha256(data) != m.file_sha256:
        raise ValidationError(f"{data.name}: the backup file is damaged or truncated (checksum)")
    key, audit_key = _unwrap_keys(settings, m, manifest_path)
    return VerifyJob(manifest_path, m, key, audit_key)


def run_verify(job: VerifyJob) -> VerifyReport:
    """Open the copy with its key and check integrity, row counts and the whole audit chain
    (pure computation on the file: safe to run in a child process)."""
    m, key, audit_key = job.manifest, job.key, job.audit_key
    data = job.manifest_path.with_name(m.file)
    problems: list[str] = []
    conn = _open_backup(data, key)
    try:
        try:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlcipher3.DatabaseError:
            raise ValidationError(f"{data.name}: cannot be decrypted with its backup key") from None
        if integrity != "ok":
            problems.append(f"integrity check: {integrity}")
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for table, n in m.counts.items():
            if table not in present:
                problems.append(f"table {table}: missing from the backup")
                continue
            # the name is one of the file's own tables (checked above), never free text
            sql = f'SELECT count(*) FROM "{table}"'  # noqa: S608  # nosec B608
            got = conn.execute(sql).fetchone()[0]
            if got != n:
                problems.append(f"table {table}: {got} rows, manifest says {n}")
        head = conn.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
        if (head[0] if head else "") != m.audit_head:
            problems.append("audit-chain head differs from the manifest")
        if audit_key is None:  # format 1: the key was still kept in the store
            row = conn.execute("SELECT value FROM meta WHERE key='audit_chain_key'").fetchone()
            if row is None:
                raise ValidationError(f"{data.name}: the backup holds no audit chain key")
            audit_key = bytes.fromhex(row[0])
    finally:
        conn.close()
    # verify the whole chain with the same code the live store uses
    report = _verify_chain(data, key, audit_key)
    problems += report.problems
    return VerifyReport(m, integrity, report.checked, problems)


def _verify_chain(path: Path, key: bytes, audit_key: bytes) -> audit.AuditReport:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(
        "sqlite://",
        creator=lambda: connect_raw(path, key),
        module=sqlcipher3.dbapi2,
        poolclass=NullPool,
        hide_parameters=True,  # stored values never reach an exception text or a log
    )
    try:
        with Session(engine) as session:
            return audit.verify(session, audit_key)
    finally:
        engine.dispose()


def folder_of(settings: Settings, sid: str | None = None) -> Path:
    """This workstation's backup folder: `<backup folder>/<store id>/`."""
    return settings.backups_path / (sid or keys.store_id(settings.db_path))


def create_backup(ctx: AppContext, who: Who) -> Manifest:
    """Take, verify and record one backup; prune beyond the policy's retention count.

    IT (a Principal allowed to operate the system, or the CLI's IT actor) or the scheduler
    (`SCHEDULER`)."""
    actor = _authorize(who, scheduled=True)
    settings = ctx.settings
    sid = keys.store_id(settings.db_path)
    folder = folder_of(settings, sid)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    backup_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    data = folder / f"novamind-{backup_id}{SUFFIX}"
    tmp = data.with_suffix(".partial")
    key = secrets.token_bytes(32)
    counts, head = ctx.store.export_to(tmp, key)
    os.replace(tmp, data)
    wrap, kek = _wrapping_key(settings, create=True)
    m = Manifest(
        format=FORMAT,
        backup_id=backup_id,
        created_at=now.isoformat(),
        store_id=sid,
        schema_revision=ctx.store.schema_revision() or "",
        counts=counts,
        audit_head=head,
        file=data.name,
        file_sha256=_sha256(data),
        size=data.stat().st_size,
        wrap=wrap,
        wrapped_key=base64.b64encode(aes_key_wrap(kek, key)).decode(),
        wrapped_audit_key=base64.b64encode(aes_key_wrap(kek, ctx.store.audit_key)).decode(),
    )
    mac = hmac.new(_mac_key(key), m.mac_input(), hashlib.sha256).hexdigest()
    m = Manifest(**{**asdict(m), "mac": mac})
    manifest_path = data.with_suffix(".json")
    manifest_path.write_text(json.dumps(asdict(m), indent=1), encoding="utf-8")
    report = verify(settings, manifest_path)
    if not report.ok:
        raise ValidationError(
            f"{data.name}: verification after writing failed: {report.problems[0]}"
        )
    ctx.store.write(
        lambda uow: uow.audit(
            actor, "backup.create", record_type="backup", record_id=backup_id, detail={"wrap": wrap}
        )
    )
    prune(settings)
    return m


def _own_manifests(settings: Settings, sid: str) -> list[tuple[Path, Manifest]]:
    """(manifest path, manifest) of one store id: its folder, plus flat format-1 files of it."""
    out = []
    candidates = sorted(folder_of(settings, sid).glob("novamind-*.json"))
    candidates += sorted(settings.backups_path.glob("novamind-*.json"))
    for p in candidates:
        try:
            m = read_manifest(p)
        except ValidationError:
            continue
        if m.store_id == sid:
            out.append((p, m))
    return sorted(out, key=lambda pm: pm[1].created_at, reverse=True)


def list_backups(settings: Settings) -> list[Manifest]:
    """This workstation's backups, newest first (unreadable manifests are skipped)."""
    return [m for _, m in _own_manifests(settings, keys.store_id(settings.db_path))]


def manifest_path_of(settings: Settings, m: Manifest) -> Path:
    """Where a listed backup's manifest is (its workstation folder, or the flat layout)."""
    nested = folder_of(settings, m.store_id) / m.file.replace(SUFFIX, ".json")
    return nested if nested.exists() else settings.backups_path / m.file.replace(SUFFIX, ".json")


def _delete_backup(manifest: Path, m: Manifest) -> None:
    manifest.with_name(m.file).unlink(missing_ok=True)
    manifest.unlink(missing_ok=True)


def prune(settings: Settings) -> list[str]:
    """Delete this workstation's oldest backups beyond `backup_keep`; returns their ids."""
    removed = []
    for path, m in _own_manifests(settings, keys.store_id(settings.db_path))[
        settings.backup_keep :
    ]:
        _delete_backup(path, m)
        removed.append(m.backup_id)
    return removed


def backup_due(settings: Settings, now: datetime | None = None) -> bool:
    """True when the newest backup is older than the policy's interval (or none exists)."""
    backups = list_backups(settings)
    now = now or datetime.now(UTC)
    return not backups or now - backups[0].created >= timedelta(
        hours=settings.backup_interval_hours
    )


@dataclass(frozen=True)
class RestoreOutcome:
    backup_id: str
    schema_before: str
    schema_after: str
    counts: dict[str, int]
    previous_store: Path


def restore(settings: Settings, manifest_path: Path, who: Who) -> RestoreOutcome:
    """Restore into a NEW store, migrate, verify, then switch over; the old store is kept in
    a `pre-restore-*` folder until `confirm_restore`. Run with the app closed. IT only."""
    actor = _authorize(who)
    report = verify(settings, manifest_path)
    if not report.ok:
        raise ValidationError(
            f"{manifest_path.name}: backup failed verification: {report.problems[0]}"
        )
    m = report.manifest
    key, audit_key = _unwrap_keys(settings, m, manifest_path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = settings.data_dir / f"restore-{stamp}"
    staging.mkdir(parents=True)
    new_db = staging / settings.db_path.name
    new_key = keys.load_db_key(settings.keyring_service, new_db, create=True)
    try:
        if audit_key is not None:  # format 2: the chain key travelled wrapped in the manifest
            keys.save_audit_key(settings.keyring_service, new_db, audit_key)
        src = _open_backup(manifest_path.with_name(m.file), key)
        src.execute("PRAGMA query_only = OFF")
        src.execute(f"ATTACH DATABASE ? AS target KEY \"x'{new_key.hex()}'\"", (str(new_db),))
        src.execute("SELECT sqlcipher_export('target')")
        src.execute("DETACH DATABASE target")
        src.close()
        # migrates an older schema to this build's head; a format-1 copy's audit key moves
        # from its meta table to the keyring here
        store = Store.open(
            new_db,
            new_key,
            keyring_service=settings.keyring_service,
            busy_timeout_s=settings.store_busy_timeout_s,
        )
        try:
            if store.integrity_check() != "ok":
                raise ValidationError(f"{m.file}: the restored store fails its integrity check")
            chain = store.read(lambda s: audit.verify(s, store.audit_key))
            if not chain.ok:
                raise ValidationError(f"{m.file}: the restored audit chain is broken")
            store.write(
                lambda uow: uow.audit(
                    actor,
                    "store.restore",
                    record_type="backup",
                    record_id=m.backup_id,
                    detail={"schema_from": m.schema_revision},
                )
            )
            after = store.schema_revision() or ""
        finally:
            store.close()
    except (NovamindError, sqlcipher3.Error, sqlite3.Error):
        keys.destroy_keys(settings.keyring_service, new_db)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = settings.data_dir / f"pre-restore-{stamp}"
    previous.mkdir()
    db = settings.db_path
    lineage = _lineage(settings)
    if (db.parent / (db.name + ".id")).exists():
        lineage.append(keys.store_id(db))
    for name in (db.name, db.name + "-wal", db.name + "-shm", db.name + ".id"):
        if (db.parent / name).exists():
            os.replace(db.parent / name, previous / name)
    for name in (db.name, db.name + ".id"):
        os.replace(staging / name, db.parent / name)
    _lineage_path(settings).write_text("\n".join(dict.fromkeys(lineage)) + "\n", "ascii")
    shutil.rmtree(staging, ignore_errors=True)
    return RestoreOutcome(m.backup_id, m.schema_revision, after, m.counts, previous)


def _lineage_path(settings: Settings) -> Path:
    return settings.db_path.with_name(settings.db_path.name + LINEAGE)


def _lineage(settings: Settings) -> list[str]:
    """Store ids this workstation had before its restores (their backups are still its own)."""
    path = _lineage_path(settings)
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text("ascii").splitlines() if line.strip()]


def confirm_restore(settings: Settings, previous: Path, who: Who) -> None:
    """The user accepted the restored store: crypto-erase and delete the kept old store."""
    _authorize(who)
    old_db = previous / settings.db_path.name
    if (previous / (old_db.name + ".id")).exists():
        keys.destroy_keys(settings.keyring_service, old_db)
    shutil.rmtree(previous)


def apply_retention(ctx: AppContext, who: Who, now: datetime | None = None) -> int:
    """Delete local copies of patients discharged more than the policy's days ago (the clinic
    keeps its copy in the bucket), with their sync bookkeeping (which holds field values).
    Hard local deletes write no sync tombstones. IT, or the scheduler (`SCHEDULER`)."""
    actor = _authorize(who, scheduled=True)
    days = ctx.settings.retention_discharged_days
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)

    def do(uow: UnitOfWork) -> int:
        ids = list(
            uow.session.scalars(
                select(Patient.id).where(
                    Patient.status == "discharged", Patient.discharged_at < cutoff
                )
            )
        )
        for pid in ids:
            _purge_patient(uow.session, pid)
            uow.audit(
                actor,
                "retention.purge_local_copy",
                patient_id=pid,
                record_type="patient",
                record_id=pid,
                detail={"days": days},
            )
        return len(ids)

    return ctx.store.write(do)


def _purge_patient(session: Session, patient_id: str) -> None:
    """Delete every row of a patient, children before parents, and sync's copies of their
    values and conflicts (the audit chain is kept)."""
    from app.core.store.models import ActigraphyChunk, ActigraphySeries

    series = select(ActigraphySeries.id).where(ActigraphySeries.patient_id == patient_id)
    session.execute(delete(ActigraphyChunk).where(ActigraphyChunk.series_id.in_(series)))
    tables = [
        t
        for t in reversed(Base.metadata.sorted_tables)
        if "patient_id" in t.c
        and "id" in t.c
        and t.name not in ("audit_events", "patients")
        and t.name != "remote_audit_events"
    ]
    gone: list[tuple[str, str]] = [("patients", patient_id)]
    for table in tables:
        where = table.c.patient_id == patient_id
        gone += [(table.name, rid) for rid in session.scalars(select(table.c.id).where(where))]
        session.execute(delete(table).where(where))
    patients = cast(Table, Patient.__table__)
    session.execute(delete(patients).where(patients.c.id == patient_id))
    for i in range(0, len(gone), 400):
        chunk = gone[i : i + 400]
        session.execute(
            delete(SyncRecordState).where(
                tuple_(SyncRecordState.table_name, SyncRecordState.record_id).in_(chunk)
            )
        )
        session.execute(
            delete(SyncConflict).where(
                tuple_(SyncConflict.table_name, SyncConflict.record_id).in_(chunk)
            )
        )


def decommission(ctx: AppContext, who: Who) -> list[str]:
    """Crypto-erase: audit, close, delete this workstation's backups and every key it holds,
    including those of stores kept aside by a restore (`pre-restore-*`).

    Afterwards neither the store nor local backups can be opened on this machine, even with
    the OS account intact. Backups wrapped with the clinic key stay restorable by IT elsewhere;
    other workstations' backups in a shared folder are not touched. The audit history stays
    in the clinic's bucket and on every other workstation (synced and anchored).
    """
    actor = _authorize(who)
    settings = ctx.settings
    ctx.store.write(lambda uow: uow.audit(actor, "workstation.decommission"))
    ctx.close()
    sid = keys.store_id(settings.db_path)
    kept_aside = [
        p / settings.db_path.name
        for p in sorted(settings.data_dir.glob("pre-restore-*"))
        if (p / (settings.db_path.name + ".id")).exists()
    ]
    sids = list(dict.fromkeys([sid, *_lineage(settings), *(keys.store_id(d) for d in kept_aside)]))
    removed = []
    for one in sids:
        for path, m in _own_manifests(settings, one):
            _delete_backup(path, m)
            removed += [m.file, path.name]
        for p in folder_of(settings, one).glob("novamind-*"):  # partial or unreadable leftovers
            p.unlink()
            removed.append(p.name)
    keys.destroy_keys(settings.keyring_service, settings.db_path)
    for old in kept_aside:
        keys.destroy_keys(settings.keyring_service, old)
        shutil.rmtree(old.parent, ignore_errors=True)
    for one in sids:
        for entry in (LOCAL_WRAP_ENTRY.format(one), f"sync-clinic:{one}", f"sync-device:{one}"):
            keys.delete_entry(settings.keyring_service, entry)
    return removed


def describe(m: Manifest) -> dict[str, Any]:
    """What the restore wizard shows before a restore (no PHI: counts and dates only)."""
    return {
        "backup": m.backup_id,
        "created": m.created_at,
        "schema": m.schema_revision,
        "wrapped with": f"{m.wrap} key",
        "records": sum(m.counts.values()),
        "patients": m.counts.get("patients", 0),
        "audit events": m.counts.get("audit_events", 0),
    }
