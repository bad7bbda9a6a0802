"""Opening the SQLCipher file: key, pragmas, and the key check.

The raw 256-bit key is handed to SQLCipher as a blob literal (no KDF), so the file is
unreadable without it. Every pooled connection is keyed the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from app.errors import StoreError, StoreKeyError


def _key_pragma(key: bytes) -> str:
    if len(key) != 32:
        raise StoreKeyError("The store key must be 32 bytes.")
    return f"PRAGMA key = \"x'{key.hex()}'\""


def connect_raw(path: Path, key: bytes, *, check: bool = True) -> sqlcipher3.Connection:
    """A keyed DB-API connection with the store's pragmas; raises StoreKeyError on a bad key."""
    conn = sqlcipher3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute(_key_pragma(key))
    if check:
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlcipher3.DatabaseError:
            conn.close()
            raise StoreKeyError(
                f"{path.name}: the key does not open this store (wrong key or damaged file).",
                hint="Run 'novamind doctor'. If the keyring was reset, restore from a backup.",
            ) from None
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def make_engine(path: Path, key: bytes, *, plain: bool = False) -> Engine:
    """A SQLAlchemy engine on the encrypted file (or plain SQLite, for the benchmark only)."""
    import sqlite3

    module: Any = sqlite3 if plain else sqlcipher3
    creator: Callable[[], Any]
    if plain:

        def creator() -> Any:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA synchronous = FULL")
            return conn
    else:

        def creator() -> Any:
            return connect_raw(path, key)

    # "sqlite://" alone would make SQLAlchemy pick SingletonThreadPool (meant for :memory:),
    # which closes other threads' connections once more threads than pool_size use it.
    engine = create_engine(
        "sqlite://",
        creator=creator,
        module=module,
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
        hide_parameters=True,  # stored values (PHI) never reach an exception text or a log
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:  # pysqlite needs an explicit BEGIN for real transactions
        conn.exec_driver_sql("BEGIN")

    return engine


def enable_wal(path: Path, key: bytes) -> None:
    """Switch the file to WAL once (persistent); readers then never block the writer."""
    conn = connect_raw(path, key)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path.name}: could not enable WAL journaling (got {mode})")
    finally:
        conn.close()
