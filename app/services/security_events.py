"""The clinic's audit events for security monitoring, read once per evaluation.

Every workstation holds its own chain (audit_events) and copies of the other workstations'
chains (remote_audit_events, one per device). Neither has an index on time, but on a chain
times rise with seq, so the stretch of a period is found by bisection on the primary key (a
few dozen probes) and read as a seq range. `materialize` copies that stretch, once, into a
temporary table with what every rule needs (subject, time, chart, action, whether the event
is new, whether the actor was outside the patient's care team), so the rules then read a
small table instead of the encrypted chains again and again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from app.core.store.models import (
    AuditEvent,
    CareTeamAssignment,
    Meta,
    RemoteAuditEvent,
    UTCDateTime,
)

LOCAL = "local"  # this workstation's own chain
DEVICE_KEY = "sync.device_id"  # this workstation's id once enrolled (sync.state.DEVICE_ID)
SYSTEM_ROLES = ("none", "system")  # actors that are no user: the device is the subject
_STORED = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime stores a time (naive UTC text)

# The events of one evaluation (temporary: this connection only, emptied after use).
EV = Table(
    "security_scan_events",
    MetaData(),
    Column("subject", String),
    Column("id", String),
    Column("at", UTCDateTime),
    Column("patient_id", String),
    Column("action", String),
    Column("role", String),
    Column("new", Integer),
    Column("unassigned", Integer),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True)
class Stretch:
    """One chain's seq range to read (lo..hi); seq > new_after may trigger a hit."""

    chain: str
    lo: int
    hi: int
    new_after: int
    first_new_at: datetime | None


def device_id(session: Session) -> str:
    """This workstation's device id, or a placeholder before it is enrolled."""
    row = session.get(Meta, DEVICE_KEY)
    return row.value if row is not None and row.value else "this-workstation"


def _remote_devices(session: Session) -> list[str]:
    """Devices with copied audit events: a skip-scan of the primary key (one probe each)."""
    sql = text(
        "WITH RECURSIVE d(x) AS (SELECT MIN(device_id) FROM remote_audit_events "
        "UNION ALL SELECT (SELECT MIN(device_id) FROM remote_audit_events WHERE device_id > x) "
        "FROM d WHERE x IS NOT NULL) SELECT x FROM d WHERE x IS NOT NULL"
    )
    return [r[0] for r in session.execute(sql)]


_PROBES = {  # (first seq, last seq, next event at or after a seq) per kind of chain; one
    # aggregate per statement, as SQLite answers MIN or MAX alone from the index end, both
    # together only by scanning
    True: (
        "SELECT MIN(seq) FROM audit_events",
        "SELECT MAX(seq) FROM audit_events",
        "SELECT seq, at FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT 1",
    ),
    False: (
        "SELECT MIN(seq) FROM remote_audit_events WHERE device_id = ?",
        "SELECT MAX(seq) FROM remote_audit_events WHERE device_id = ?",
        "SELECT seq, at FROM remote_audit_events WHERE device_id = ? AND seq >= ? AND seq <= ?"
        " ORDER BY seq LIMIT 1",
    ),
}


class _Chain:
    """Primary-key probes of one chain, in raw SQL (a bisection runs dozens of them)."""

    def __init__(self, session: Session, chain: str) -> None:
        self.conn = session.connection()
        self.chain = chain
        self.sql = _PROBES[chain == LOCAL]
        self.args: tuple[str, ...] = () if chain == LOCAL else (chain,)

    def bounds(self) -> tuple[int, int] | None:
        first = self.conn.exec_driver_sql(self.sql[0], self.args).scalar()
        last = self.conn.exec_driver_sql(self.sql[1], self.args).scalar()
        return None if first is None or last is None else (int(first), int(last))

    def next_at(self, seq: int, hi: int) -> tuple[int, str] | None:
        """The first event at or after `seq` (up to `hi`): its seq and stored time."""
        row = self.conn.exec_driver_sql(self.sql[2], (*self.args, seq, hi)).first()
        return None if row is None else (int(row[0]), str(row[1]))

    def first_at_or_after(self, when: datetime, lo: int, hi: int) -> int:
        """Smallest seq in lo..hi whose event is at or after `when` (hi + 1 if none)."""
        key = when.astimezone(UTC).strftime(_STORED)
        a, b = lo, hi + 1
        while a < b:
            mid = (a + b) // 2
            row = self.next_at(mid, hi)
            if row is None or row[1] >= key:
                b = mid
            else:
                a = row[0] + 1
        return a


def stretches(
    session: Session,
    *,
    until: datetime,
    positions: dict[str, int] | None,
    new_from: datetime,
    context: timedelta,
    since: datetime | None = None,
) -> tuple[list[Stretch], dict[str, int]]:
    """Each chain's stretch up to `until`, and the last seq reached per chain.

    New events: after the chain's position, or (no position) from `new_from`. Context: events
    from `since`, or from `context` before the earliest new event of any chain."""
    found: list[tuple[_Chain, int, int, int, datetime | None]] = []
    reached: dict[str, int] = {}
    for name in [LOCAL, *_remote_devices(session)]:
        chain = _Chain(session, name)
        bounds = chain.bounds()
        if bounds is None:
            continue
        first, last = bounds
        hi = chain.first_at_or_after(until + timedelta(microseconds=1), first, last) - 1
        reached[name] = hi
        if positions is not None and name in positions:
            new_after = positions[name]
        else:
            new_after = chain.first_at_or_after(new_from, first, last) - 1
        nxt = chain.next_at(new_after + 1, hi) if new_after < hi else None
        at = datetime.strptime(nxt[1], _STORED).replace(tzinfo=UTC) if nxt else None
        found.append((chain, first, hi, new_after, at))
    news = [at for *_, at in found if at is not None]
    if since is None and not news:
        return [], reached
    start = since if since is not None else min(news) - context
    out = []
    for chain, first, hi, new_after, at in found:
        lo = min(chain.first_at_or_after(start, first, hi), new_after + 1)
        if lo <= hi:  # a chain with nothing new still gives context to the others' windows
            out.append(Stretch(chain.chain, lo, hi, new_after, at))
    return out, reached


def _unassigned(t: Any) -> Any:
    """SQL: the actor was not on the patient's care team (now, or when the event happened)."""
    c = CareTeamAssignment
    return and_(
        t.patient_id.is_not(None),
        ~exists().where(
            c.patient_id == t.patient_id,
            c.user_id == t.actor_id,
            or_(and_(c.active.is_(True), c.deleted_at.is_(None)), c.updated_at >= t.at),
        ),
    )


def materialize(
    session: Session,
    parts: Sequence[Stretch],
    *,
    start: datetime,
    until: datetime,
    new_since: datetime | None,
) -> None:
    """Copy the stretches' events between start and until into EV (emptied first)."""
    session.execute(text(_DDL))
    session.execute(EV.delete())
    local = device_id(session)
    branches = []
    for part in parts:
        t: Any = AuditEvent if part.chain == LOCAL else RemoteAuditEvent
        device = literal(local, String) if part.chain == LOCAL else t.device_id
        where = [] if part.chain == LOCAL else [t.device_id == part.chain]
        new = (t.at >= new_since) if new_since is not None else (t.seq > part.new_after)
        subject = case(
            (t.actor_role.in_(SYSTEM_ROLES), literal("device:", String) + device),
            else_=t.actor_id,
        )
        branches.append(
            select(
                subject, t.id, t.at, t.patient_id, t.action, t.actor_role,
                cast(new, Integer), cast(_unassigned(t), Integer),
            ).where(*where, t.seq >= part.lo, t.seq <= part.hi, t.at >= start, t.at <= until)
        )  # fmt: skip
    if branches:
        source = branches[0] if len(branches) == 1 else union_all(*branches)
        session.execute(insert(EV).from_select([c.name for c in EV.columns], source))


def clear(session: Session) -> None:
    """Empty EV (its rows are audit metadata: keep them no longer than the evaluation)."""
    session.execute(EV.delete())


_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS security_scan_events (subject TEXT, id TEXT, at DATETIME,"
    " patient_id TEXT, action TEXT, role TEXT, new INTEGER, unassigned INTEGER)"
)
