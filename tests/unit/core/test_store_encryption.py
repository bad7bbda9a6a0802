"""The store file is SQLCipher-encrypted and opens only with its key from the keyring."""

from __future__ import annotations

import os
import secrets
import sqlite3
from datetime import date

import keyring
import keyring.errors
import pytest
from keyring.backends import fail

from app.core.errors import KeyringUnavailableError, StoreKeyError
from app.core.security.rbac import Role
from app.core.store.store import Store
from app.services.context import AppContext
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import add_patient


def test_plain_sqlite_cannot_read_the_store(ctx: AppContext) -> None:
    path = ctx.settings.db_path
    ctx.close()
    header = path.read_bytes()[:16]
    assert header != b"SQLite format 3\x00"
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("SELECT * FROM sqlite_master").fetchall()


def test_canary_text_is_not_in_the_file(ctx: AppContext, clinic: dict) -> None:
    # Canaries long enough that random ciphertext cannot contain them by chance
    # (a 3-byte MRN such as "T-2" turns up in a few-MB file about once in twenty runs).
    canary_mrn = "CANARY-MRN-" + secrets.token_hex(8)
    canary_name = "Canaryfamily" + secrets.token_hex(8)
    add_patient(
        ctx,
        clinic["users"][Role.CLINICIAN],
        canary_mrn,
        family_name=canary_name,
        birth_date=date(1970, 1, 1),
        sex="female",
    )
    ctx.close()
    raw = ctx.settings.db_path.read_bytes()
    wal = ctx.settings.db_path.with_name("novamind.db-wal")
    if wal.exists():
        raw += wal.read_bytes()
    assert b"Unassigned" not in raw
    assert canary_mrn.encode() not in raw and canary_name.encode() not in raw


def test_wrong_key_is_a_clear_error(ctx: AppContext) -> None:
    path = ctx.settings.db_path
    ctx.close()
    with pytest.raises(StoreKeyError, match="does not open this store"):
        Store.open(path, secrets.token_bytes(32))


def test_key_lives_in_the_keyring_not_beside_the_db(
    ctx: AppContext, memory_keyring: MemoryKeyring
) -> None:
    (entry,) = [k for k in memory_keyring.entries if k[1].startswith("db:")]
    key_hex = memory_keyring.entries[entry]
    for f in ctx.settings.data_dir.rglob("*"):
        if f.is_file():
            assert key_hex.encode() not in f.read_bytes(), f.name


def test_missing_keyring_backend_is_a_clear_message(settings) -> None:
    keyring.set_keyring(fail.Keyring())
    with pytest.raises(KeyringUnavailableError, match="No system keyring") as info:
        AppContext.open(settings)
    assert "gnome-keyring" in info.value.user_message()
    assert not settings.db_path.exists()


class LockedKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")


def test_locked_keyring_is_a_clear_message(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = "NOVAMIND_KEYRING_BACKENDS_ALLOWED"  # a test backend: allowed by name, as IT would
    monkeypatch.setenv(allowed, f"{os.environ[allowed]}{os.pathsep}{__name__}.LockedKeyring")
    keyring.set_keyring(LockedKeyring())
    with pytest.raises(KeyringUnavailableError, match="locked"):
        AppContext.open(settings)


def test_key_missing_for_existing_store(ctx: AppContext, memory_keyring: MemoryKeyring) -> None:
    settings = ctx.settings
    ctx.close()
    memory_keyring.entries.clear()
    with pytest.raises(KeyringUnavailableError, match="not in the system keyring"):
        AppContext.open(settings)


def test_wal_mode_and_integrity(ctx: AppContext) -> None:
    from sqlalchemy import text

    with ctx.store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA cipher_version")).scalar()
    assert ctx.store.integrity_check() == "ok"
