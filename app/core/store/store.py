"""The encrypted store: keyed engine, migrations, serial writes, outbox and audit in one place.

Reads run on the caller's thread in a short read-only session, on that thread's own keyed
connection from the engine's pool, so many threads read at once. Writes run on the single
writer thread inside one transaction that also holds the change's outbox rows and audit
links; events are published only after that transaction commits. Other processes (a CLI sync,
a backup) write the same file: a write transaction takes the file's write lock up front
(BEGIN IMMEDIATE) and waits up to the busy timeout for it, then fails with a clear StoreError.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlcipher3
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import StoreError
from app.core.events import Event, EventBus
from app.core.security import audit, keys
from app.core.store import migrate
from app.core.store.engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    busy_error,
    connect_raw,
    enable_wal,
    is_busy,
    make_engine,
    writer,
)
from app.core.store.executor import SerialExecutor
from app.core.store.models import Meta, OutboxEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
AUDIT_KEY = "audit_chain_key"  # where stores before issue 17 kept the chain key (moved out)
DEFAULT_KEYRING_SERVICE = "novamind"


@dataclass(frozen=True)
class Actor:
    """Who a write is attributed to in the audit chain (a user, or the CLI for IT tasks)."""

    id: str
    role: str


SYSTEM = Actor(id="system", role="system")


@dataclass
class UnitOfWork:
    """What a write function gets: the session, and ways to emit events and audit links."""

    session: Session
    audit_key: bytes
    events: list[Event] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        """Queue an event: its outbox row is written now, in this transaction."""
        self.session.add(OutboxEvent(event=event.name, payload_json=json.dumps(event.payload())))
        self.events.append(event)

    def audit(
        self,
        actor: Actor,
        action: str,
        *,
        patient_id: str | None = None,
        record_type: str = "",
        record_id: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        audit.append(
            self.session,
            self.audit_key,
            actor_id=actor.id,
            actor_role=actor.role,
            action=action,
            patient_id=patient_id,
            record_type=record_type,
            record_id=record_id,
            detail=detail,
        )


class Store:
    """An open encrypted store. Create with `Store.open`."""

    def __init__(
        self,
        path: Path,
        engine: Engine,
        key: bytes,
        bus: EventBus,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.engine = engine
        self.bus = bus
        self.busy_timeout_s = busy_timeout_s
        self._key = key
        self.audit_key = b""
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(writer(engine), expire_on_commit=False)
        self._writer = SerialExecutor()
        self._open_write = threading.local()  # the writer thread's open UnitOfWork, if any

    @classmethod
    def open(
        cls,
        path: Path,
        key: bytes,
        *,
        bus: EventBus | None = None,
        migrate_schema: bool = True,
        keyring_service: str = DEFAULT_KEYRING_SERVICE,
        audit_key: bytes | None = None,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
    ) -> Store:
        """Open (creating if new) and migrate the store at `path` with `key`.

        `busy_timeout_s` (the policy's store_busy_timeout_s) is how long any statement waits
        for a lock another process holds before the write fails with "the store is busy".

        The audit chain's HMAC key comes from the keyring entry `audit:<store id>` of
        `keyring_service` (or `audit_key` when the caller holds it, e.g. a child process of a
        test), never from the store: whoever can open the store cannot rewrite the chain.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        t = busy_timeout_s
        connect_raw(path, key, busy_timeout_s=t).close()  # raises StoreKeyError for a wrong key
        enable_wal(path, key, busy_timeout_s=t)
        engine = make_engine(path, key, busy_timeout_s=t)
        store = cls(path, engine, key, bus or EventBus(), busy_timeout_s=t)
        if migrate_schema:
            store._writer.run(store._migrate)
        store.audit_key = store._writer.run(
            lambda: store._load_audit_key(keyring_service, audit_key)
        )
        return store

    def _load_audit_key(self, service: str, given: bytes | None) -> bytes:
        """The chain key from the keyring; a store that still holds it in its meta table (made
        before issue 17) has it moved to the keyring and the row deleted, once, in one
        transaction (the key itself is unchanged, so the chain keeps verifying)."""
        with self._write_sessions() as session, session.begin():
            self._take_write_lock(session)
            row = session.get(Meta, AUDIT_KEY)
            in_store = bytes.fromhex(row.value) if row is not None else None
            held = given if given is not None else keys.load_audit_key(service, self.path)
            if held is not None and in_store is not None and held != in_store:
                raise StoreError(
                    f"{self.path.name}: the audit key in the keyring differs from the one this "
                    "store was made with",
                    hint="Restore the keyring entry, or restore this store from a backup.",
                )
            if held is None:
                held = in_store if in_store is not None else secrets.token_bytes(keys.KEY_BYTES)
                keys.save_audit_key(service, self.path, held)
            if row is not None:
                session.delete(row)
                log.info("moved the audit chain key from the store to the keyring")
            return held

    def _migrate(self) -> None:
        try:
            with writer(self.engine).connect() as conn, self._wait_for_lock(conn.begin):
                migrate.upgrade(conn)
        except (OperationalError, DatabaseError) as exc:
            raise StoreError(f"{self.path.name}: schema migration failed ({exc.orig})") from None

    def schema_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return migrate.current_revision(conn)

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run a read-only function in a fresh session on this thread."""
        with self._sessions() as session:
            return fn(session)

    def write(self, fn: Callable[[UnitOfWork], T]) -> T:
        """Run `fn` on the writer thread in one transaction; publish its events after commit."""
        return self._writer.run(lambda: self._do_write(fn))

    def submit_write(self, fn: Callable[[UnitOfWork], T]) -> Future[T]:
        """Queue a write without waiting (the UI's path)."""
        return self._writer.submit(lambda: self._do_write(fn))

    def _do_write(self, fn: Callable[[UnitOfWork], T]) -> T:
        outer: UnitOfWork | None = getattr(self._open_write, "uow", None)
        if outer is not None:
            return self._nested_write(outer, fn)
        with self._write_sessions() as session:
            uow = UnitOfWork(session=session, audit_key=self.audit_key)
            with session.begin():
                self._take_write_lock(session)
                self._open_write.uow = uow
                try:
                    result = fn(uow)
                finally:
                    self._open_write.uow = None
        for event in uow.events:
            self.bus.publish(event)
        return result

    def _nested_write(self, outer: UnitOfWork, fn: Callable[[UnitOfWork], T]) -> T:
        """A write called from inside a write joins it (a savepoint on the same connection):
        a second connection would wait on the write lock this thread already holds."""
        inner = UnitOfWork(session=outer.session, audit_key=self.audit_key)
        with outer.session.begin_nested():
            result = fn(inner)
        outer.events.extend(inner.events)  # published after the outer commit, if it commits
        return result

    def _take_write_lock(self, session: Session) -> None:
        """Begin the session's transaction now (BEGIN IMMEDIATE) rather than at its first
        statement, so waiting for the lock happens in one place with one error."""
        self._wait_for_lock(session.connection)

    def _wait_for_lock(self, begin: Callable[[], T]) -> T:
        """Run `begin` (which emits BEGIN IMMEDIATE); SQLite waits for the write lock up to
        the busy timeout, and a lock still held then ends in a clear StoreError."""
        started = time.monotonic()
        try:
            return begin()
        except OperationalError as exc:
            if is_busy(exc):
                raise busy_error(self.path, time.monotonic() - started) from None
            raise

    def integrity_check(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA integrity_check")).scalar())

    def rekey(self, new_key: bytes) -> None:
        """Re-encrypt the whole file with `new_key` (caller updates the keyring)."""

        def _rekey() -> None:
            self.engine.dispose()
            conn = connect_raw(self.path, self._key, busy_timeout_s=self.busy_timeout_s)
            started = time.monotonic()
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                # leaving WAL needs the file to itself; SQLite answers with the old mode
                # (not an error) while another process has the store open
                mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
                if str(mode).lower() != "delete":
                    raise busy_error(self.path, time.monotonic() - started)
                conn.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"")
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlcipher3.OperationalError as exc:
                if is_busy(exc):
                    raise busy_error(self.path, time.monotonic() - started) from None
                raise
            finally:
                conn.close()
            self._key = new_key
            self.engine = make_engine(self.path, new_key, busy_timeout_s=self.busy_timeout_s)
            self._sessions.configure(bind=self.engine)
            self._write_sessions.configure(bind=writer(self.engine))

        self._writer.run(_rekey)

    def export_to(self, target: Path, target_key: bytes) -> tuple[dict[str, int], str]:
        """Online copy of the whole store into a new SQLCipher file under `target_key`.

        Runs in one read transaction on its own connection (WAL: writers carry on), and
        returns the row count of every table and the audit-chain head of that same snapshot.
        """
        # a deferred read of the store (WAL: no lock on it) that writes only the new file
        conn = connect_raw(self.path, self._key, busy_timeout_s=self.busy_timeout_s)
        try:
            conn.execute(
                f"ATTACH DATABASE ? AS backup KEY \"x'{target_key.hex()}'\"", (str(target),)
            )
            conn.execute("BEGIN")
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            # table names come from the store's own catalogue, never from input
            counts = {
                t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]  # noqa: S608  # nosec B608
                for t in tables
            }
            head = conn.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
            conn.execute("SELECT sqlcipher_export('backup')")
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE backup")
        finally:
            conn.close()
        return counts, head[0] if head else ""

    def close(self) -> None:
        self._writer.shutdown()
        self.engine.dispose()
