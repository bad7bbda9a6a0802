"""Encrypted local backups, verified restore, retention and secure disposal.

A backup is a SQLCipher copy of the store (taken online, without stopping the app) under a
fresh random backup key. That key is wrapped with AES-GCM by a key derived from the clinic key
(from sync enrolment), so IT can restore on a replacement workstation that enrols into the same
clinic; a workstation that is not enrolled wraps with a local key kept in its keyring, and says
so. The manifest beside the file is the GCM associated data, so editing it breaks unwrapping.
Every backup is verified right after it is written: restored read-only, integrity-checked,
row counts and the audit-chain head compared with the snapshot it was taken from.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlcipher3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.errors import KeyringUnavailableError, NovamindError, ValidationError
from app.security import audit, keys
from app.services.context import AppContext
from app.store.engine import connect_raw
from app.store.models import Base, Patient
from app.store.store import Actor, Store, UnitOfWork

FORMAT = "novamind-backup/1"
SUFFIX = ".nmbak"
LOCAL_WRAP_ENTRY = "backup-local:{}"


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
    nonce: str = ""
    wrapped_key: str = ""

    def aad(self) -> bytes:
        data = asdict(self)
        data.pop("nonce")
        data.pop("wrapped_key")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

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


def _wrapping_key(settings: Settings, *, create: bool) -> tuple[str, bytes]:
    """('clinic', key) when this workstation is enrolled, else ('local', key from keyring)."""
    from sync.enrolment import load_clinic_key

    try:
        clinic = load_clinic_key(settings.keyring_service, settings.db_path)
        return "clinic", keys.derive_key(clinic, "backup-key-wrap")
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


def _unwrap(settings: Settings, m: Manifest, path: Path) -> bytes:
    """The backup key, unwrapped with the kind of key the manifest names."""
    try:
        kind, kek = _wrapping_key(settings, create=False)
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
    try:
        return AESGCM(kek).decrypt(
            base64.b64decode(m.nonce), base64.b64decode(m.wrapped_key), m.aad()
        )
    except (InvalidTag, ValueError):
        raise ValidationError(
            f"{path.name}: the backup key cannot be unwrapped (manifest altered, or another "
            "clinic's backup)"
        ) from None


def read_manifest(path: Path) -> Manifest:
    """Load a backup manifest (the .json beside the .nmbak), validating its shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        m = Manifest(**data)
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such backup manifest") from None
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise ValidationError(f"{path.name}: not a Novamind backup manifest ({exc})") from None
    if m.format != FORMAT:
        raise ValidationError(f"{path.name}: unsupported backup format '{m.format}'")
    return m


def _open_backup(path: Path, key: bytes) -> sqlcipher3.Connection:
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute("PRAGMA query_only = ON")
    return conn


def verify(settings: Settings, manifest_path: Path) -> VerifyReport:
    """Check a backup end to end without changing anything."""
    m = read_manifest(manifest_path)
    data = manifest_path.with_name(m.file)
    problems: list[str] = []
    if not data.exists():
        raise ValidationError(f"{data.name}: the backup file is missing")
    if data.stat().st_size != m.size or _sha256(data) != m.file_sha256:
        raise ValidationError(f"{data.name}: the backup file is damaged or truncated (checksum)")
    key = _unwrap(settings, m, manifest_path)
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
        audit_key = bytes.fromhex(
            conn.execute("SELECT value FROM meta WHERE key='audit_chain_key'").fetchone()[0]
        )
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
    )
    try:
        with Session(engine) as session:
            return audit.verify(session, audit_key)
    finally:
        engine.dispose()


def create_backup(ctx: AppContext, actor: Actor) -> Manifest:
    """Take, verify and record one backup; prune beyond the policy's retention count."""
    settings = ctx.settings
    folder = settings.backups_path
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
        store_id=keys.store_id(settings.db_path),
        schema_revision=ctx.store.schema_revision() or "",
        counts=counts,
        audit_head=head,
        file=data.name,
        file_sha256=_sha256(data),
        size=data.stat().st_size,
        wrap=wrap,
    )
    nonce = secrets.token_bytes(12)
    m = Manifest(
        **{
            **asdict(m),
            "nonce": base64.b64encode(nonce).decode(),
            "wrapped_key": base64.b64encode(AESGCM(kek).encrypt(nonce, key, m.aad())).decode(),
        }
    )
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


def list_backups(settings: Settings) -> list[Manifest]:
    """Backups in the configured folder, newest first (unreadable manifests are skipped)."""
    out = []
    for p in sorted(settings.backups_path.glob("novamind-*.json")):
        try:
            out.append(read_manifest(p))
        except ValidationError:
            continue
    return sorted(out, key=lambda m: m.created_at, reverse=True)


def prune(settings: Settings) -> list[str]:
    """Delete the oldest backups beyond `backup_keep`; returns their ids."""
    removed = []
    for m in list_backups(settings)[settings.backup_keep :]:
        for suffix in (SUFFIX, ".json"):
            (settings.backups_path / f"novamind-{m.backup_id}{suffix}").unlink(missing_ok=True)
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


def restore(settings: Settings, manifest_path: Path, actor: Actor) -> RestoreOutcome:
    """Restore into a NEW store, migrate, verify, then switch over; the old store is kept in
    a `pre-restore-*` folder until `confirm_restore`. Run with the app closed."""
    report = verify(settings, manifest_path)
    if not report.ok:
        raise ValidationError(
            f"{manifest_path.name}: backup failed verification: {report.problems[0]}"
        )
    m = report.manifest
    key = _unwrap(settings, m, manifest_path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    staging = settings.data_dir / f"restore-{stamp}"
    staging.mkdir(parents=True)
    new_db = staging / settings.db_path.name
    new_key = keys.load_db_key(settings.keyring_service, new_db, create=True)
    try:
        src = _open_backup(manifest_path.with_name(m.file), key)
        src.execute("PRAGMA query_only = OFF")
        src.execute(f"ATTACH DATABASE ? AS target KEY \"x'{new_key.hex()}'\"", (str(new_db),))
        src.execute("SELECT sqlcipher_export('target')")
        src.execute("DETACH DATABASE target")
        src.close()
        store = Store.open(new_db, new_key)  # migrates an older schema to this build's head
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
    for name in (db.name, db.name + "-wal", db.name + "-shm", db.name + ".id"):
        if (db.parent / name).exists():
            os.replace(db.parent / name, previous / name)
    for name in (db.name, db.name + ".id"):
        os.replace(staging / name, db.parent / name)
    shutil.rmtree(staging, ignore_errors=True)
    return RestoreOutcome(m.backup_id, m.schema_revision, after, m.counts, previous)


def confirm_restore(settings: Settings, previous: Path) -> None:
    """The user accepted the restored store: crypto-erase and delete the kept old store."""
    old_db = previous / settings.db_path.name
    if (previous / (old_db.name + ".id")).exists():
        keys.destroy_keys(settings.keyring_service, old_db)
    shutil.rmtree(previous)


def apply_retention(ctx: AppContext, actor: Actor, now: datetime | None = None) -> int:
    """Delete local copies of patients discharged more than the policy's days ago (the clinic
    keeps its copy in the bucket). Hard local deletes write no sync tombstones."""
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
    """Delete every row of a patient, children before parents (the audit chain is kept)."""
    from app.store.models import ActigraphyChunk, ActigraphySeries

    series = select(ActigraphySeries.id).where(ActigraphySeries.patient_id == patient_id)
    session.execute(delete(ActigraphyChunk).where(ActigraphyChunk.series_id.in_(series)))
    tables = [
        t
        for t in reversed(Base.metadata.sorted_tables)
        if "patient_id" in t.c and t.name not in ("audit_events", "patients")
    ]
    for table in tables:
        session.execute(delete(table).where(table.c.patient_id == patient_id))
    session.execute(delete(Patient.__table__).where(Patient.__table__.c.id == patient_id))


def decommission(ctx: AppContext, actor: Actor) -> list[str]:
    """Crypto-erase: audit, close, delete this workstation's backups and every key it holds.

    Afterwards neither the store nor local backups can be opened on this machine, even with
    the OS account intact. Backups wrapped with the clinic key stay restorable by IT elsewhere.
    """
    settings = ctx.settings
    ctx.store.write(lambda uow: uow.audit(actor, "workstation.decommission"))
    ctx.close()
    removed = []
    for p in list(settings.backups_path.glob("novamind-*")):
        p.unlink()
        removed.append(p.name)
    sid = keys.store_id(settings.db_path)
    keys.destroy_keys(settings.keyring_service, settings.db_path)
    for entry in (LOCAL_WRAP_ENTRY.format(sid), f"sync-clinic:{sid}", f"sync-device:{sid}"):
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
