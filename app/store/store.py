"""The encrypted store: keyed engine, migrations, serial writes, outbox and audit in one place.

Reads run on the caller's thread in a short read-only session. Writes run on the single
writer thread inside one transaction that also holds the change's outbox rows and audit
links; events are published only after that transaction commits.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.errors import StoreError
from app.events import Event, EventBus
from app.security import audit, keys
from app.store import migrate
from app.store.engine import connect_raw, enable_wal, make_engine
from app.store.executor import SerialExecutor
from app.store.models import Meta, OutboxEvent

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

    def __init__(self, path: Path, engine: Engine, key: bytes, bus: EventBus) -> None:
        self.path = path
        self.engine = engine
        self.bus = bus
        self._key = key
        self.audit_key = b""
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writer = SerialExecutor()

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
    ) -> Store:
        """Open (creating if new) and migrate the store at `path` with `key`.

        The audit chain's HMAC key comes from the keyring entry `audit:<store id>` of
        `keyring_service` (or `audit_key` when the caller holds it, e.g. a child process of a
        test), never from the store: whoever can open the store cannot rewrite the chain.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        connect_raw(path, key).close()  # raises StoreKeyError for a wrong key
        enable_wal(path, key)
        engine = make_engine(path, key)
        store = cls(path, engine, key, bus or EventBus())
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
        with self._sessions() as session, session.begin():
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
            with self.engine.begin() as conn:
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
        with self._sessions() as session:
            uow = UnitOfWork(session=session, audit_key=self.audit_key)
            with session.begin():
                result = fn(uow)
        for event in uow.events:
            self.bus.publish(event)
        return result

    def integrity_check(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("PRAGMA integrity_check")).scalar())

    def rekey(self, new_key: bytes) -> None:
        """Re-encrypt the whole file with `new_key` (caller updates the keyring)."""

        def _rekey() -> None:
            self.engine.dispose()
            conn = connect_raw(self.path, self._key)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute(f"PRAGMA rekey = \"x'{new_key.hex()}'\"")
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()
            self._key = new_key
            self.engine = make_engine(self.path, new_key)
            self._sessions.configure(bind=self.engine)

        self._writer.run(_rekey)

    def export_to(self, target: Path, target_key: bytes) -> tuple[dict[str, int], str]:
        """Online copy of the whole store into a new SQLCipher file under `target_key`.

        Runs in one read transaction on its own connection (WAL: writers carry on), and
        returns the row count of every table and the audit-chain head of that same snapshot.
        """
        conn = connect_raw(self.path, self._key)
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
