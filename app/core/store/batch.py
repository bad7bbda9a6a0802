"""One shared write transaction of the store's writer (group commit): a savepoint per write,
opened at its first statement, and the audit links of every write, kept in order.

Most writes of a busy gateway only add an audit link (an audited read). Such a write sends no
SQL: audit.append makes its link from the head kept here, and the link is written, with the
links before it, in one INSERT before the next statement any write sends (outside that write's
savepoint) or before the COMMIT. Every statement a running write sends passes
`_before_statement` first, so whatever a write reads or writes, the store it sees already
holds every link made before — as if each link had been written at once. A write that fails
is undone alone: its savepoint rolled back (if it had opened one), its links dropped (the
links of the writes before it are written before its savepoint opens).

The internal statements (links, head, savepoints) go to the driver's connection directly, so
they pass neither SQLAlchemy's execution nor the listener.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from app.core.security import audit
from app.core.store.models import AuditEvent, Meta

SAVEPOINT = "novamind_write"
_TABLE = AuditEvent.__table__
_COLUMNS = tuple(c.name for c in _TABLE.columns)
_SEQ, _HASH = _COLUMNS.index("seq"), _COLUMNS.index("hash")
_INSERT = (
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "  # noqa: S608  # nosec B608 — the model's own columns
    f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
)
_UPSERT_HEAD = (
    "INSERT INTO meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class WriteBatch:
    """The state of one BEGIN IMMEDIATE … COMMIT on the writer's connection."""

    def __init__(self, conn: Connection, audit_key: bytes) -> None:
        self.audit_key = audit_key
        self._dbapi: Any = conn.connection.dbapi_connection
        dialect = conn.dialect
        # the values as SQLAlchemy would bind them (times as its text, not the driver's)
        self._binds = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in _TABLE.columns]
        self._links: list[tuple[Any, ...]] = []  # made, not yet written (bound values)
        self._head: tuple[int, str] | None = None  # seq and hash of the newest link made
        self._in_write = False
        self._savepoint = False  # the running write opened its savepoint
        self._mark: tuple[tuple[int, str] | None, int] = (None, 0)
        event.listen(conn, "before_cursor_execute", self._before_statement)

    # --- the writes of the batch, one at a time --------------------------------------------

    def begin_write(self) -> None:
        self._in_write, self._savepoint = True, False
        self._mark = (self._head, len(self._links))

    def end_write(self) -> bool:
        """The running write returned. True when it deferred its foreign-key checks to COMMIT:
        its savepoint then stays open (the batch ends with it, see Store)."""
        self._in_write = False
        if not self._savepoint:
            return False
        if self._dbapi.execute("PRAGMA defer_foreign_keys").fetchone()[0]:
            return True
        self._dbapi.execute(f"RELEASE {SAVEPOINT}")
        self._savepoint = False
        return False

    def fail_write(self) -> None:
        """The running write raised: undo what it did (and the links it made)."""
        self._in_write = False
        if self._savepoint:
            self.rollback_write()
        else:  # it sent no statement: only links of its own to drop
            self._head, n = self._mark
            del self._links[n:]

    def rollback_write(self) -> None:
        """Roll the write whose savepoint is open back to it (every link made before it was
        written before it opened)."""
        self._dbapi.execute(f"ROLLBACK TO {SAVEPOINT}")
        self._dbapi.execute(f"RELEASE {SAVEPOINT}")
        self._savepoint = False
        self._links.clear()
        self._head = None  # read again from the store

    # --- links -------------------------------------------------------------------------------

    def link(self, **fields: Any) -> None:  # noqa: ANN401 — audit.append's keyword fields
        """Make the next link of the chain, written later: audit.append itself makes it (the
        one place links are made), into a sink for the three session methods it uses."""
        audit.append(cast(Session, _LinkSink(self)), self.audit_key, **fields)

    def _add(self, ev: AuditEvent) -> None:
        self._links.append(
            tuple(
                bind(getattr(ev, c)) if bind else getattr(ev, c)
                for c, bind in zip(_COLUMNS, self._binds, strict=True)
            )
        )

    def forget_head(self) -> None:
        """Links were added another way (the ORM): read the head again when next needed."""
        self.write_links()
        self._head = None

    def undo_nested(self) -> None:
        """A nested write (begun after `sync`) was rolled back to its savepoint: its links
        are gone or must not be written."""
        self._links.clear()
        self._head = None

    def sync(self) -> None:
        """Bring the store up to date for the running write now (as its next statement
        would): its savepoint open, every link made so far written."""
        self._before_statement()

    def write_links(self) -> None:
        """Write every link made and not yet written (and move the recorded head)."""
        links, self._links = self._links, []
        self._write(links)

    def _write(self, links: list[tuple[Any, ...]]) -> None:
        if not links:
            return
        self._dbapi.executemany(_INSERT, links)
        newest = links[-1]
        self._dbapi.execute(_UPSERT_HEAD, (audit.HEAD_KEY, f"{newest[_SEQ]}:{newest[_HASH]}"))

    def _read_head(self) -> tuple[int, str]:
        row = self._dbapi.execute("SELECT value FROM meta WHERE key = ?", (audit.HEAD_KEY,))
        value = row.fetchone()
        if value is None:
            return 0, audit.GENESIS
        seq, digest = str(value[0]).split(":", 1)
        return int(seq), digest

    def _before_statement(self, *_: Any) -> None:  # noqa: ANN401 — SQLAlchemy's event arguments
        if not self._in_write:
            return
        if not self._savepoint:
            n = self._mark[1]  # the links of the writes before this one: outside its savepoint
            earlier, self._links = self._links[:n], self._links[n:]
            self._write(earlier)
            self._dbapi.execute(f"SAVEPOINT {SAVEPOINT}")
            self._savepoint = True
        self.write_links()  # its own (inside it), before it reads or writes anything else


class _LinkSink:
    """What audit.append needs of a session (the head's row, add the link, move the head),
    answered from and into the batch."""

    def __init__(self, batch: WriteBatch) -> None:
        self._batch = batch

    def get(self, _model: type[Meta], key: str) -> Meta | None:
        b = self._batch
        if b._head is None:
            b._head = b._read_head()
        seq, digest = b._head
        return None if seq == 0 else Meta(key=key, value=f"{seq}:{digest}")

    def add(self, ev: AuditEvent) -> None:
        self._batch._add(ev)

    def merge(self, head: Meta) -> Meta:
        seq, digest = head.value.split(":", 1)
        self._batch._head = (int(seq), digest)
        return head
