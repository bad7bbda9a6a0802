"""The encrypted store: keyed engine, migrations, serial writes, outbox and audit in one place.

Reads run on the caller's thread in a short read-only session, on that thread's own keyed
connection from the engine's pool, so many threads read at once. Writes run on the single
writer thread; each is all-or-nothing together with its outbox rows and audit links, and its
events are published only after it commits. Other processes (a CLI sync, a backup) write the
same file: a write transaction takes the file's write lock up front (BEGIN IMMEDIATE) and
waits up to the busy timeout for it, then fails with a clear StoreError.

Group commit: the writes already queued when the writer gets to them (at most MAX_BATCH, for
at most MAX_BATCH_S) share one transaction, each in a savepoint of its own (opened at its first
statement) and a session of its own, so the audit links of 50 concurrent reads cost one fsync
rather than 50 (synchronous stays FULL); a write that only adds audit links sends no SQL of
its own (batch.WriteBatch). A write that fails is rolled back alone and its caller gets the
error; the others commit. Every caller returns only after the shared COMMIT succeeded, and
events are published after it. A write that defers foreign keys (a sync merge) ends its
batch; if its deferred checks fail the COMMIT, it alone is rolled back and the others commit.
"""

from __future__ import annotations

import functools
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
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.core.errors import StoreError
from app.core.events import Event, EventBus
from app.core.security import audit, keys
from app.core.store import migrate
from app.core.store.batch import WriteBatch
from app.core.store.engine import (
    DEFAULT_BUSY_TIMEOUT_S,
    busy_error,
    connect_raw,
    enable_wal,
    is_busy,
    make_engine,
    writer,
)
from app.core.store.executor import Job, SerialExecutor
from app.core.store.models import Meta, OutboxEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
AUDIT_KEY = "audit_chain_key"  # where stores before issue 17 kept the chain key (moved out)
DEFAULT_KEYRING_SERVICE = "novamind"
MAX_BATCH = 64  # writes committed together at most
MAX_BATCH_S = 0.1  # a shared transaction takes no further write once it has run this long


@dataclass(frozen=True)
class Actor:
    """Who a write is attributed to in the audit chain (a user, or the CLI for IT tasks)."""

    id: str
    role: str
    via: str = ""  # the system the call came through for this user (see Principal.via)


SYSTEM = Actor(id="system", role="system")


@dataclass
class UnitOfWork:
    """What a write function gets: the session, and ways to emit events and audit links."""

    session: Session
    audit_key: bytes
    events: list[Event] = field(default_factory=list)
    batch: WriteBatch | None = None  # the writer's transaction; None: links via the ORM

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
        if actor.via:  # the user's account acting through another system: both are named
            detail = {**(detail or {}), "via": actor.via}
        fields: dict[str, Any] = {
            "actor_id": actor.id,
            "actor_role": actor.role,
            "action": action,
            "patient_id": patient_id,
            "record_type": record_type,
            "record_id": record_id,
            "detail": detail,
        }
        batch = self.batch
        if batch is not None and _head_identity() not in self.session.identity_map:
            batch.link(**fields)  # written with the batch's next statement or its COMMIT
            return
        # no batch, or the head row is an ORM object of this session: it is the one to move
        audit.append(self.session, self.audit_key, **fields)
        if batch is not None:
            batch.forget_head()


@functools.cache
def _head_identity() -> Any:  # noqa: ANN401 — SQLAlchemy's identity key tuple
    return Session.identity_key(Meta, audit.HEAD_KEY)


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
        self._writer = SerialExecutor(batch=self._run_batch, max_batch=MAX_BATCH)
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
        """Run `fn` on the writer thread in a transaction (possibly shared with other writes,
        each all-or-nothing); return once it committed and its events were published."""
        if self._writer.on_writer_thread():
            return self._do_write(fn)
        result: T = self._writer.submit_batched(fn).result()
        return result

    def submit_write(self, fn: Callable[[UnitOfWork], T]) -> Future[T]:
        """Queue a write without waiting (the UI's path)."""
        return self._writer.submit_batched(fn)

    def _do_write(self, fn: Callable[[UnitOfWork], T]) -> T:
        """A write called on the writer thread: inside an open write it joins it; otherwise
        (an event handler, a plain writer-thread task) it commits alone, now."""
        outer: UnitOfWork | None = getattr(self._open_write, "uow", None)
        if outer is not None:
            return self._nested_write(outer, fn)
        job = Job(fn, Future())
        self._run_batch([job])
        result: T = job.future.result()
        return result

    def _run_batch(self, jobs: list[Job]) -> None:
        """Commit queued writes in as few transactions as the bounds allow; settles every
        job's future (result after its COMMIT, or its own error)."""
        pending = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        while pending:
            taken = self._run_transaction(pending)
            pending = pending[taken:]

    def _run_transaction(self, jobs: list[Job]) -> int:
        """One BEGIN IMMEDIATE … COMMIT over a prefix of `jobs`; returns how many it took."""
        done: list[tuple[Job, UnitOfWork, Any]] = []
        taken = 0
        started = time.monotonic()
        try:
            with writer(self.engine).connect() as conn:
                tx = self._wait_for_lock(conn.begin)
                batch = WriteBatch(conn, self.audit_key)
                deferring = False
                for job in jobs:
                    taken += 1
                    batch.begin_write()
                    try:
                        uow, result = self._run_job(conn, batch, job.payload)
                    except BaseException as exc:  # noqa: BLE001 — handed to its caller
                        job.future.set_exception(exc)
                        if not _in_transaction(conn):
                            # SQLite itself ended the transaction (disk full, I/O error): the
                            # writes before this one are gone with it
                            raise
                        batch.fail_write()
                        continue
                    done.append((job, uow, result))
                    if batch.end_write():
                        deferring = True  # its savepoint stays open for the COMMIT below
                        break
                    if time.monotonic() - started > MAX_BATCH_S:
                        break
                batch.write_links()
                if deferring:
                    self._commit_deferring(conn, batch, done)
                tx.commit()
        except BaseException as exc:  # noqa: BLE001 — every write of this transaction hears of it
            # none of them committed (a lock not had, a failed COMMIT): each caller gets the error
            failed = jobs if taken == 0 else jobs[:taken]
            for job in failed:
                if not job.future.done():
                    job.future.set_exception(exc)
            return len(failed)
        for job, uow, result in done:
            try:
                for event in uow.events:
                    self.bus.publish(event)
            finally:
                job.future.set_result(result)
        return taken

    @staticmethod
    def _commit_deferring(
        conn: Connection, batch: WriteBatch, done: list[tuple[Job, UnitOfWork, Any]]
    ) -> None:
        """COMMIT with the last write's savepoint still open: if its deferred foreign-key
        checks fail the COMMIT (the transaction stays open), roll back that write alone and
        leave the others for the caller's COMMIT."""
        try:
            conn.exec_driver_sql("COMMIT")  # the driver's COMMIT after it is then a no-op
        except IntegrityError as exc:
            if not _in_transaction(conn):
                raise
            batch.rollback_write()
            job, _, _ = done.pop()
            job.future.set_exception(exc)
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = OFF")

    def _run_job(
        self, conn: Connection, batch: WriteBatch, fn: Callable[[UnitOfWork], T]
    ) -> tuple[UnitOfWork, T]:
        """One write in its own session on the shared connection. The session begins (a
        savepoint of its own) only if the write uses it, and then commits (running the
        before_commit hooks such as the feature rows' refresh, for this write); a write that
        only adds audit links or events sends no SQL (see WriteBatch)."""
        session = self._write_sessions(bind=conn, join_transaction_mode="create_savepoint")
        try:
            uow = UnitOfWork(session=session, audit_key=self.audit_key, batch=batch)
            self._open_write.uow = uow
            try:
                result = fn(uow)
            finally:
                self._open_write.uow = None
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        return uow, result

    def _nested_write(self, outer: UnitOfWork, fn: Callable[[UnitOfWork], T]) -> T:
        """A write called from inside a write joins it (a savepoint on the same connection):
        a second connection would wait on the write lock this thread already holds."""
        batch = outer.batch
        if batch is not None:
            batch.sync()  # links so far written before the nested savepoint
        inner = UnitOfWork(session=outer.session, audit_key=self.audit_key, batch=batch)
        try:
            with outer.session.begin_nested():
                result = fn(inner)
        except BaseException:
            if batch is not None:
                batch.undo_nested()
            raise
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


def _in_transaction(conn: Connection) -> bool:
    """Whether SQLite still has the connection's transaction open."""
    return bool(getattr(conn.connection.dbapi_connection, "in_transaction", True))
