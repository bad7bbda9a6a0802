"""Opening the SQLCipher file: key, pragmas, and the key check.

The raw 256-bit key is handed to SQLCipher as a blob literal (no KDF), so the file is
unreadable without it. Every pooled connection is keyed the same way, and each reading thread
checks out its own (QueuePool), so reads run concurrently.

Several processes write the same file (the desktop, its scheduled sync, a CLI sync from cron,
a backup). Every connection therefore waits up to the policy's busy timeout for a lock, and a
write transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
read first cannot wait on its read-to-write upgrade (SQLite fails it at once with "database is
locked"), so it would lose the write instead of queueing behind the other process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlcipher3
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from app.core.errors import StoreError, StoreKeyError

DEFAULT_BUSY_TIMEOUT_S = 30.0
WRITE_OPTION = "novamind_write"  # execution option: this connection's transactions write
POOL_SIZE = 40  # connections kept open: the gateway's request threads (anyio's 40) at once


def busy_error(path: Path, waited_s: float) -> StoreError:
    """The one message for a lock another process held past the busy timeout."""
    return StoreError(
        f"{path.name}: the store is busy: another Novamind process held it for {waited_s:.0f} s",
        hint="Try again. If it persists, look for a stuck novamind process (sync, backup) "
        "or raise the policy's store_busy_timeout_s.",
    )


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked' / 'database is busy' (SQLITE_BUSY)."""
    msg = str(getattr(exc, "orig", None) or exc).lower()
    return "database is locked" in msg or "database is busy" in msg


def _key_pragma(key: bytes) -> str:
    if len(key) != 32:
        raise StoreKeyError("The store key must be 32 bytes.")
    return f"PRAGMA key = \"x'{key.hex()}'\""


def connect_raw(
    path: Path,
    key: bytes,
    *,
    check: bool = True,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> sqlcipher3.Connection:
    """A keyed DB-API connection with the store's pragmas; raises StoreKeyError on a bad key.

    It waits up to `busy_timeout_s` for any lock another process holds (the driver's timeout
    is SQLite's busy timeout); autocommit mode, so a caller that writes must BEGIN IMMEDIATE
    (`begin_immediate`).
    """
    conn = sqlcipher3.connect(
        str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
    )
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
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def make_engine(
    path: Path,
    key: bytes,
    *,
    plain: bool = False,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> Engine:
    """A SQLAlchemy engine on the encrypted file (or plain SQLite, for the benchmark only).

    Transactions are plain deferred reads; a connection run with the execution option
    `WRITE_OPTION` (see `writer`) begins with BEGIN IMMEDIATE instead.
    """
    import sqlite3

    module: Any = sqlite3 if plain else sqlcipher3
    creator: Callable[[], Any]
    if plain:

        def creator() -> Any:
            conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
            return conn
    else:

        def creator() -> Any:
            return connect_raw(path, key, busy_timeout_s=busy_timeout_s)

    # One keyed connection per checkout, safe to read from many threads at once (the UI's task
    # pool, sync, the writer): QueuePool hands each thread its own connection, opened and keyed
    # by `creator`, and takes it back after the session (check_same_thread=False lets it move
    # to the next thread; never two at once). "sqlite://" alone would make SQLAlchemy pick
    # SingletonThreadPool (meant for :memory:), which closes other threads' connections once
    # more threads than pool_size use it: the "closed database" race the UI once dodged by
    # running every service call on one thread (tests/integration/core/test_store_concurrency).
    # Connections are opened only as concurrency asks for them, and up to POOL_SIZE are kept:
    # one closed after each read is reopened and keyed for the next, with a cold (encrypted)
    # page cache, which a gateway's 40 request threads paid on a third of their reads.
    engine = create_engine(
        "sqlite://",
        creator=creator,
        module=module,
        poolclass=QueuePool,
        pool_size=POOL_SIZE,
        max_overflow=10,
        hide_parameters=True,  # stored values (PHI) never reach an exception text or a log
    )

    # SQLAlchemy's recipe for pysqlite-style drivers: the driver runs in autocommit
    # (isolation_level=None above) and the transaction's BEGIN is emitted here, so it can be
    # IMMEDIATE for the writer and stay a deferred read (WAL snapshot) for everyone else.
    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take the write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


def enable_wal(path: Path, key: bytes, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
    """Switch the file to WAL once (persistent); readers then never block the writer."""
    conn = connect_raw(path, key, busy_timeout_s=busy_timeout_s)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path.name}: could not enable WAL journaling (got {mode})")
    finally:
        conn.close()
