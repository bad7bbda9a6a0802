"""Backups: online, verified, tamper-evident, restorable (with migration), and crypto-erasable."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from app.core.domain import Role
from app.core.errors import KeyringUnavailableError, ValidationError
from app.core.security import keys
from app.core.store import migrate
from app.core.store.models import ClinicalNote, Patient
from app.services import backup, notes
from app.services.context import AppContext, cli_actor
from tests.support.records import row_count

ACTOR = cli_actor()


def _manifest_path(ctx: AppContext, m: backup.Manifest) -> Path:
    return backup.manifest_path_of(ctx.settings, m)


def test_backup_during_write_burst_restores_consistently(ctx: AppContext, clinic: dict) -> None:
    me = clinic["users"][Role.CLINICIAN]
    stop = threading.Event()
    written: list[str] = []

    def burst() -> None:
        i = 0
        while not stop.is_set():
            written.append(notes.create_draft(ctx, me, clinic["mine"], f"n{i}", "body").id)
            i += 1

    t = threading.Thread(target=burst)
    t.start()
    try:
        m = backup.create_backup(ctx, ACTOR)
    finally:
        stop.set()
        t.join()
    assert m.counts["clinical_notes"] >= 0 and m.wrap == "local"
    report = backup.verify(ctx.settings, _manifest_path(ctx, m))
    assert report.ok and report.integrity == "ok" and report.audit_events > 0
    settings = ctx.settings
    ctx.close()
    out = backup.restore(settings, _manifest_path(ctx, m), ACTOR)
    restored = AppContext.open(settings, create=False)
    try:
        n_notes = row_count(restored, ClinicalNote)
        assert n_notes == m.counts["clinical_notes"]  # the snapshot, exactly
        assert restored.store.integrity_check() == "ok"
        from app.services import admin

        assert admin.verify_audit(restored, ACTOR).ok
    finally:
        restored.close()
    assert (out.previous_store / settings.db_path.name).exists()
    backup.confirm_restore(settings, out.previous_store, ACTOR)
    assert not out.previous_store.exists()


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest"])
def test_damaged_backup_is_detected_at_verify_and_restore(
    ctx: AppContext, clinic: dict, damage: str
) -> None:
    m = backup.create_backup(ctx, ACTOR)
    manifest = _manifest_path(ctx, m)
    data = manifest.with_name(m.file)
    if damage == "flip":
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        data.write_bytes(bytes(raw))
    elif damage == "truncate":
        data.write_bytes(data.read_bytes()[: m.size // 2])
    else:
        doc = json.loads(manifest.read_text())
        doc["counts"]["patients"] += 1  # claims more than it holds
        manifest.write_text(json.dumps(doc))
    with pytest.raises(ValidationError, match=data.name if damage != "manifest" else "unwrapped"):
        backup.verify(ctx.settings, manifest)
    settings = ctx.settings
    ctx.close()
    before = settings.db_path.read_bytes()
    with pytest.raises(ValidationError):
        backup.restore(settings, manifest, ACTOR)
    assert settings.db_path.read_bytes() == before  # nothing changed
    assert not list(settings.data_dir.glob("restore-*"))


def test_restore_migrates_a_backup_from_the_previous_schema(ctx: AppContext, clinic: dict) -> None:
    settings = ctx.settings
    m = backup.create_backup(ctx, ACTOR)
    ctx.close()
    # rewrite the backup as if an older build (one schema revision back) had made it
    manifest = _manifest_path(ctx, m)
    key = backup._unwrap(settings, m, manifest)
    head = migrate.head_revision()
    from app.core.store.store import Store

    old = Store.open(manifest.with_name(m.file), key, migrate_schema=False)
    with old.engine.begin() as conn:
        from alembic import command  # the store imports Alembic only to migrate

        command.downgrade(migrate.alembic_config(conn), "-1")
        prev = migrate.current_revision(conn)
    old.close()
    assert prev != head
    # re-seal the manifest for the downgraded file (as the older build would have written it)
    data = manifest.with_name(m.file)
    counts = {}
    conn = backup._open_backup(data, key)
    for (t,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    ):
        counts[t] = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
    conn.close()
    doc = json.loads(manifest.read_text())
    m2 = backup.Manifest(
        **{
            **doc,
            "counts": counts,
            "schema_revision": prev,
            "file_sha256": backup._sha256(data),
            "size": data.stat().st_size,
        }
    )
    m2 = replace(m2, mac=_mac(key, m2))
    manifest.write_text(json.dumps(backup.asdict(m2)))
    out = backup.restore(settings, manifest, ACTOR)
    assert out.schema_before == prev and out.schema_after == head
    reopened = AppContext.open(settings, create=False)
    try:
        assert reopened.store.schema_revision() == head
        assert row_count(reopened, Patient) == 2
    finally:
        reopened.close()


def _mac(key: bytes, m: backup.Manifest) -> str:
    """Re-seal a format-2 manifest as the build that wrote it would have."""
    import hashlib
    import hmac

    return hmac.new(backup._mac_key(key), m.mac_input(), hashlib.sha256).hexdigest()


def test_retention_and_prune(ctx: AppContext, clinic: dict) -> None:
    ctx.settings = replace(ctx.settings, retention_discharged_days=30, backup_keep=2)
    with ctx.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE patients SET status='discharged', discharged_at=:t WHERE mrn='T-2'"),
            {"t": (datetime.now(UTC) - timedelta(days=40)).replace(tzinfo=None)},
        )
    assert backup.apply_retention(ctx, ACTOR) == 1
    left = ctx.store.read(lambda s: list(s.scalars(select(Patient.mrn))))
    assert left == ["T-1"]
    for _ in range(3):
        backup.create_backup(ctx, ACTOR)
    assert len(backup.list_backups(ctx.settings)) == 2
    assert not backup.backup_due(ctx.settings)
    assert backup.backup_due(ctx.settings, datetime.now(UTC) + timedelta(hours=25))


def test_decommissioned_workstation_cannot_open_store_or_backups(
    ctx: AppContext, clinic: dict, tmp_path: Path
) -> None:
    m = backup.create_backup(ctx, ACTOR)
    manifest = _manifest_path(ctx, m)
    keep = tmp_path / "copied-off"
    keep.mkdir()
    shutil.copy(manifest, keep)
    shutil.copy(manifest.with_name(m.file), keep)
    settings = ctx.settings
    backup.decommission(ctx, ACTOR)
    assert not list(settings.backups_path.glob("novamind-*"))
    with pytest.raises(KeyringUnavailableError):
        AppContext.open(settings, create=False)
    # a copy someone made of a local backup is useless too: its wrapping key is gone
    with pytest.raises((KeyringUnavailableError, ValidationError)):
        backup.verify(settings, keep / manifest.name)
    assert keys.store_id(settings.db_path)  # the (non-secret) id remains; the keys do not


def test_clinic_wrapped_backup_restores_on_a_replacement_workstation(
    env: dict, tmp_path: Path, ctx: AppContext, clinic: dict
) -> None:
    """Same clinic key (as enrolment puts in the keyring) on a new machine: restore works."""
    from app.core.config import load_settings
    from sync.enrolment import save_clinic_key

    clinic_key = bytes(range(32))
    save_clinic_key(ctx.settings.keyring_service, ctx.settings.db_path, clinic_key)
    m = backup.create_backup(ctx, ACTOR)
    assert m.wrap == "clinic"
    manifest = _manifest_path(ctx, m)
    replacement = load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp_path / "new"), "NOVAMIND_POLICY": str(tmp_path / "p.toml")}
    )
    fresh = AppContext.open(replacement)
    fresh.close()
    with pytest.raises(ValidationError, match="clinic key") as info:
        backup.verify(replacement, manifest)
    assert "Enrol" in info.value.user_message()
    save_clinic_key(replacement.keyring_service, replacement.db_path, clinic_key)
    backup.restore(replacement, manifest, ACTOR)
    restored = AppContext.open(replacement, create=False)
    try:
        mrns = restored.store.read(lambda s: sorted(s.scalars(select(Patient.mrn))))
        assert mrns == ["T-1", "T-2"]
    finally:
        restored.close()
