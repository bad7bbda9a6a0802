"""Backups after issue 17: IT-only services, per-workstation folders, library crypto with old
backups still restorable, and disposal that leaves nothing behind."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import PermissionDeniedError
from app.core.security import audit, keys
from app.core.store.models import Meta, Patient, SyncRecordState
from app.core.store.store import AUDIT_KEY, SYSTEM
from app.services import backup
from app.services.context import AppContext, cli_actor
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import row_count

IT = cli_actor()


def test_only_it_may_back_up_restore_confirm_purge_or_decommission(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    """Attack: a clinician's or an admin's session calls each IT service directly."""
    settings = replace(ctx.settings, retention_discharged_days=30)
    ctx.settings = settings
    m = backup.create_backup(ctx, clinic["users"][Role.IT])  # IT as a signed-in Principal
    manifest = backup.manifest_path_of(settings, m)
    with ctx.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE patients SET status='discharged', discharged_at=:t WHERE mrn='T-2'"),
            {"t": (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None)},
        )
    kept = tmp_path / "pre-restore-x"
    kept.mkdir()
    (kept / "marker").write_text("x")
    for role in (Role.CLINICIAN, Role.ADMIN):
        who = clinic["users"][role]
        files = sorted(p.name for p in settings.backups_path.rglob("*"))
        with pytest.raises(PermissionDeniedError, match=role.value):
            backup.create_backup(ctx, who)
        with pytest.raises(PermissionDeniedError):
            backup.apply_retention(ctx, who)
        with pytest.raises(PermissionDeniedError):
            backup.restore(settings, manifest, who)
        with pytest.raises(PermissionDeniedError):
            backup.confirm_restore(settings, kept, who)
        with pytest.raises(PermissionDeniedError):
            backup.decommission(ctx, who)
        assert sorted(p.name for p in settings.backups_path.rglob("*")) == files
        assert row_count(ctx, Patient) == 2 and kept.exists()
        assert not list(settings.data_dir.glob("restore-*"))
    # the schedule (SYSTEM) may back up and purge, nothing else
    for refused in (
        lambda: backup.restore(settings, manifest, SYSTEM),
        lambda: backup.confirm_restore(settings, kept, SYSTEM),
        lambda: backup.decommission(ctx, SYSTEM),
    ):
        with pytest.raises(PermissionDeniedError):
            refused()
    assert backup.create_backup(ctx, backup.SCHEDULER).backup_id
    assert backup.apply_retention(ctx, SYSTEM) == 1
    assert ctx.store.read(lambda s: s.get(Meta, AUDIT_KEY)) is None


def _second_workstation(ctx: AppContext, tmp_path: Path) -> AppContext:
    """Another workstation writing to the same (shared) backup folder."""
    other = load_settings(
        {
            "NOVAMIND_DATA_DIR": str(tmp_path / "other"),
            "NOVAMIND_POLICY": str(tmp_path / "policy.toml"),
        }
    )
    return AppContext.open(replace(other, backup_dir=str(ctx.settings.backups_path)))


def test_workstations_sharing_a_folder_never_prune_or_delete_each_other_s_backups(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    ctx.settings = replace(ctx.settings, backup_keep=1)
    other = _second_workstation(ctx, tmp_path)
    try:
        other.settings = replace(other.settings, backup_keep=1)
        theirs = backup.create_backup(other, IT)
        for _ in range(2):
            backup.create_backup(ctx, IT)  # prunes down to one of OURS
        assert [m.backup_id for m in backup.list_backups(other.settings)] == [theirs.backup_id]
        assert len(backup.list_backups(ctx.settings)) == 1
        assert backup.verify(other.settings, backup.manifest_path_of(other.settings, theirs)).ok
    finally:
        other_settings = other.settings
        other.close()
    backup.decommission(ctx, IT)
    left = backup.list_backups(other_settings)
    assert [m.backup_id for m in left] == [theirs.backup_id]
    assert backup.manifest_path_of(other_settings, theirs).with_name(theirs.file).exists()


def _legacy_backup(ctx: AppContext, wrap: str) -> Path:
    """A format-1 backup as the build before issue 17 wrote it (flat in the folder, GCM-wrapped
    key, old hand-written HKDF for the clinic KEK, the audit key inside the copy)."""
    settings = ctx.settings
    folder = settings.backups_path
    folder.mkdir(parents=True, exist_ok=True)
    backup_id = "20250101T000000Z-abcdef"
    data = folder / f"novamind-{backup_id}{backup.SUFFIX}"
    key = secrets.token_bytes(32)
    tmp = data.with_suffix(".partial")
    ctx.store.export_to(tmp, key)
    conn = backup._open_backup(tmp, key)
    conn.execute("PRAGMA query_only = OFF")
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)", (AUDIT_KEY, ctx.store.audit_key.hex())
    )
    counts = {
        t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608
        for (t,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    }
    head = conn.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()[0]
    conn.close()
    tmp.rename(data)
    if wrap == "clinic":
        clinic = bytes(range(32))
        from sync.enrolment import save_clinic_key

        save_clinic_key(settings.keyring_service, settings.db_path, clinic)
        kek = keys.derive_key_v1(clinic, "backup-key-wrap")
    else:
        kek = secrets.token_bytes(32)
        entry = backup.LOCAL_WRAP_ENTRY.format(keys.store_id(settings.db_path))
        keys.set_entry(settings.keyring_service, entry, kek.hex())
    m = backup.Manifest(
        format=backup.FORMAT_V1,
        backup_id=backup_id,
        created_at="2025-01-01T00:00:00+00:00",
        store_id=keys.store_id(settings.db_path),
        schema_revision=ctx.store.schema_revision() or "",
        counts=counts,
        audit_head=head,
        file=data.name,
        file_sha256=backup._sha256(data),
        size=data.stat().st_size,
        wrap=wrap,
    )
    nonce = secrets.token_bytes(12)
    doc = asdict(m)
    for k in ("wrapped_audit_key", "mac"):  # fields a format-1 manifest never had
        doc.pop(k)
    doc["nonce"] = base64.b64encode(nonce).decode()
    doc["wrapped_key"] = base64.b64encode(AESGCM(kek).encrypt(nonce, key, m.aad())).decode()
    manifest = data.with_suffix(".json")
    manifest.write_text(json.dumps(doc, indent=1))
    return manifest


@pytest.mark.parametrize("wrap", ["local", "clinic"])
def test_old_format_backups_still_verify_and_restore(
    ctx: AppContext, clinic: dict, wrap: str
) -> None:
    manifest = _legacy_backup(ctx, wrap)
    settings = ctx.settings
    assert [m.format for m in backup.list_backups(settings)] == [backup.FORMAT_V1]
    report = backup.verify(settings, manifest)
    assert report.ok and report.audit_events > 0
    ctx.close()
    out = backup.restore(settings, manifest, IT)
    restored = AppContext.open(settings, create=False)
    try:
        assert restored.store.read(lambda s: s.get(Meta, AUDIT_KEY)) is None  # moved out
        assert restored.store.read(lambda s: audit.verify(s, restored.store.audit_key)).ok
        assert row_count(restored, Patient) == 2
    finally:
        restored.close()
    backup.confirm_restore(settings, out.previous_store, IT)


def test_new_backups_use_key_wrap_and_carry_the_audit_key_outside_the_copy(
    ctx: AppContext, clinic: dict
) -> None:
    m = backup.create_backup(ctx, IT)
    assert m.format == backup.FORMAT and m.nonce == "" and m.mac
    assert len(base64.b64decode(m.wrapped_key)) == 40  # RFC 3394: 32-byte key + 8
    assert len(base64.b64decode(m.wrapped_audit_key)) == 40
    manifest = backup.manifest_path_of(ctx.settings, m)
    assert manifest.parent.name == keys.store_id(ctx.settings.db_path)
    key = backup._unwrap(ctx.settings, m, manifest)
    conn = backup._open_backup(manifest.with_name(m.file), key)
    assert conn.execute("SELECT value FROM meta WHERE key=?", (AUDIT_KEY,)).fetchone() is None
    conn.close()
    # swapping in another key validly wrapped under the same KEK (here: the backup key itself,
    # which unwraps fine) as the audit key is refused: the manifest MAC covers it
    doc = json.loads(manifest.read_text())
    doc["wrapped_audit_key"] = doc["wrapped_key"]
    manifest.write_text(json.dumps(doc))
    with pytest.raises(backup.ValidationError, match="unwrapped"):
        backup.verify(ctx.settings, manifest)


def test_decommission_destroys_the_keys_of_stores_kept_by_a_restore(
    ctx: AppContext, clinic: dict, memory_keyring: MemoryKeyring
) -> None:
    settings = ctx.settings
    m = backup.create_backup(ctx, IT)
    ctx.close()
    out = backup.restore(settings, backup.manifest_path_of(settings, m), IT)
    old_sid = keys.store_id(out.previous_store / settings.db_path.name)
    assert any(old_sid in name for _, name in memory_keyring.entries)
    reopened = AppContext.open(settings, create=False)
    backup.decommission(reopened, IT)
    assert not any(old_sid in name for _, name in memory_keyring.entries)
    assert not out.previous_store.exists()
    assert not [n for _, n in memory_keyring.entries if n.startswith(("db:", "audit:"))]
    assert not list(settings.backups_path.rglob("novamind-*"))


def test_retention_also_removes_the_sync_copies_of_purged_patients(
    ctx: AppContext, clinic: dict
) -> None:
    ctx.settings = replace(ctx.settings, retention_discharged_days=30)
    gone, stays = clinic["theirs"], clinic["mine"]

    def seed(uow: object) -> None:
        s = uow.session  # type: ignore[attr-defined]
        for pid in (gone, stays):
            s.add(SyncRecordState(table_name="patients", record_id=pid, values_json="{}",
                                  clocks_json="{}", pending=False))  # fmt: skip

    ctx.store.write(seed)
    with ctx.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE patients SET status='discharged', discharged_at=:t WHERE id=:p"),
            {"t": (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None), "p": gone},
        )
    assert backup.apply_retention(ctx, IT) == 1
    left = ctx.store.read(lambda s: sorted(s.scalars(select(SyncRecordState.record_id))))
    assert gone not in left and stays in left
