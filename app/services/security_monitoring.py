"""Security monitoring: the security rules evaluated over the clinic's whole audit history.

Every workstation holds its own audit chain and copies of the other workstations' chains
(remote_audit_events), so one scan sees the clinic. Each rule (app.services.security_rules)
selects audit events by action, optionally only events naming a patient the actor is not
assigned to, or events in the clinic's off hours, and counts them (or the distinct charts they
touch) per subject (the user, or the workstation for sign-ins under unknown names and system
events) in a sliding window. The selection and the per-subject pre-count (GROUP BY ... HAVING)
are SQL over seq ranges found by bisection on each chain's primary key (times rise with seq on
a chain), so a store with millions of events reads only the scanned stretch; only subjects
that can reach a threshold come back to Python, where one pass finds the busiest window.

Hits raise system alerts (source "security", subject = user or device id, evidence = audit
event ids; never chart content). A scan is idempotent twice over: only events newer than the
last scanned position of each chain (kept in the meta table) can trigger a hit, which is what
keeps a resolved alert from being raised again, and an alert still open for the same rule and
subject is not raised a second time (system_alerts' dedupe) when windows overlap scans. A chain
first seen (a new store, a newly synced workstation) is scanned from the policy's lookback.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from app.core.config import SECURITY_SETTINGS, Settings
from app.core.domain import Action, Principal
from app.core.errors import ValidationError
from app.core.security import rbac
from app.core.store.models import (
    AuditEvent,
    CareTeamAssignment,
    Meta,
    RemoteAuditEvent,
    User,
    utcnow,
)
from app.core.store.store import SYSTEM, UnitOfWork
from app.services import ops_policy, security_rules
from app.services.context import AppContext, actor_of
from app.services.security_rules import SecurityRule
from app.services.system_alerts import raise_system_alert

POSITIONS_KEY = "security.scan_positions"  # {chain: last scanned seq}
POLICY_KEY = "security.policy_sha256"  # digest of the effective security policy last seen
DEVICE_KEY = "sync.device_id"  # this workstation's id once enrolled (sync.state.DEVICE_ID)
LOCAL = "local"  # this workstation's own chain
MAX_EVIDENCE = 100  # audit event ids kept per hit
SYSTEM_ROLES = ("none", "system")  # actors that are no user: the device is the subject
SIGNIN_FAILED = ("auth.login_failed", "auth.unlock_failed", "auth.password_change_failed")


@dataclass(frozen=True)
class RuleHit:
    """One rule crossed by one subject: the busiest window and the events in it."""

    rule: str
    title: str
    severity: str
    subject: str
    count: int
    window_minutes: int
    first_at: datetime
    last_at: datetime
    evidence: tuple[str, ...]
    alert_id: str | None = None

    def summary(self) -> str:
        """PHI-free text for the alert: the rule, the count and the window."""
        if self.window_minutes:
            return f"{self.title}: {self.count} within {self.window_minutes} min"
        return f"{self.title}: {self.count} event(s)"


@dataclass(frozen=True)
class UserAccess:
    """What one user (or device) did in a report's period: counts only."""

    subject: str
    username: str
    role: str
    events: int
    charts: int
    unassigned_charts: int
    exports: int
    failed_signins: int
    break_glass: int


@dataclass(frozen=True)
class AccessReport:
    since: datetime
    until: datetime
    hits: tuple[RuleHit, ...]
    users: tuple[UserAccess, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601)."""

        def iso(d: dict[str, Any]) -> dict[str, Any]:
            return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in d.items()}

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "hits": [iso({**asdict(h), "evidence": list(h.evidence)}) for h in self.hits],
            "users": [asdict(u) for u in self.users],
        }


@dataclass(frozen=True)
class _Range:
    """The stretch of one chain to read: seq lo..hi; seq > new_after may trigger a hit."""

    chain: str
    lo: int
    hi: int
    new_after: int


@dataclass(frozen=True)
class _Row:
    subject: str
    id: str
    at: datetime
    patient_id: str | None
    new: bool


# --- chains and seq ranges -------------------------------------------------------------------


def _remote_devices(session: Session) -> list[str]:
    """Devices with copied audit events: a skip-scan of the primary key (one probe each)."""
    sql = text(
        "WITH RECURSIVE d(x) AS (SELECT MIN(device_id) FROM remote_audit_events "
        "UNION ALL SELECT (SELECT MIN(device_id) FROM remote_audit_events WHERE device_id > x) "
        "FROM d WHERE x IS NOT NULL) SELECT x FROM d WHERE x IS NOT NULL"
    )
    return [r[0] for r in session.execute(sql)]


def _table(chain: str) -> tuple[Any, list[Any]]:
    if chain == LOCAL:
        return AuditEvent, []
    return RemoteAuditEvent, [RemoteAuditEvent.device_id == chain]


def _bounds(session: Session, chain: str) -> tuple[int, int] | None:
    t, where = _table(chain)
    lo, hi = session.execute(select(func.min(t.seq), func.max(t.seq)).where(*where)).one()
    return None if lo is None else (int(lo), int(hi))


def _first_at_or_after(session: Session, chain: str, when: datetime, lo: int, hi: int) -> int:
    """Smallest seq in lo..hi whose event is at or after `when` (hi + 1 if none): a bisection
    of primary-key probes, since a chain's events are appended in time order."""
    t, where = _table(chain)
    a, b = lo, hi + 1
    while a < b:
        mid = (a + b) // 2
        row = session.execute(
            select(t.seq, t.at).where(*where, t.seq >= mid, t.seq <= hi).order_by(t.seq).limit(1)
        ).first()
        if row is None or row[1] >= when:
            b = mid
        else:
            a = int(row[0]) + 1
    return a


def _ranges(
    session: Session,
    lo_t: datetime,
    hi_t: datetime,
    positions: dict[str, int] | None,
    first_new_t: datetime,
) -> tuple[list[_Range], dict[str, int]]:
    """Per chain, the seq stretch covering lo_t..hi_t and the seq after which events are new
    (from `positions`, or from `first_new_t` for a chain without one / when None)."""
    out: list[_Range] = []
    reached: dict[str, int] = {}
    for chain in [LOCAL, *_remote_devices(session)]:
        bounds = _bounds(session, chain)
        if bounds is None:
            continue
        first, last = bounds
        hi = _first_at_or_after(session, chain, hi_t + timedelta(microseconds=1), first, last) - 1
        reached[chain] = hi
        if positions is not None and chain in positions:
            new_after = positions[chain]
        else:
            new_after = _first_at_or_after(session, chain, first_new_t, first, last) - 1
        lo = min(_first_at_or_after(session, chain, lo_t, first, last), new_after + 1)
        if lo <= hi:  # a chain with nothing new still gives context to the others' windows
            out.append(_Range(chain, lo, hi, new_after))
    return out, reached


# --- rule evaluation -------------------------------------------------------------------------


def _action_filter(col: Any, actions: Iterable[str]) -> Any:
    exact = [a for a in actions if not a.endswith("*")]
    prefixes = [a[:-1] for a in actions if a.endswith("*")]
    if "" in prefixes:
        return literal(True)
    terms = [col.in_(exact)] if exact else []
    terms += [col.startswith(p, autoescape=True) for p in prefixes]
    return or_(*terms)


def _offset_segments(rule: SecurityRule, lo_t: datetime, hi_t: datetime) -> list[tuple[Any, int]]:
    """[(segment start (UTC) or None, offset in minutes)] over lo_t..hi_t: one segment per
    daylight-saving period, each change found to the minute by bisection."""

    def minutes(at: datetime) -> int:
        return int(rule.utc_offset(at).total_seconds() // 60)

    segments: list[tuple[Any, int]] = [(None, minutes(lo_t))]
    day = lo_t
    while day < hi_t:
        nxt = min(day + timedelta(days=1), hi_t)
        if minutes(nxt) != minutes(day):
            a, b = day, nxt
            while b - a > timedelta(minutes=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if minutes(mid) == minutes(a) else (a, mid)
            segments.append((b, minutes(nxt)))
        day = nxt
    return segments


def _off_hours(rule: SecurityRule, col: Any, lo_t: datetime, hi_t: datetime) -> Any:
    """SQL: the event's hour in the clinic's time zone is outside start_hour..end_hour."""
    segments = _offset_segments(rule, lo_t, hi_t)
    offset: Any = literal(f"{segments[-1][1]:+d} minutes")
    if len(segments) > 1:
        offset = case(
            *[(col < start, literal(f"{m:+d} minutes")) for (start, _), (_, m) in
              zip(segments[1:], segments, strict=False)],
            else_=offset,
        )  # fmt: skip
    hour = cast(func.strftime("%H", col, offset), Integer)
    if rule.start_hour > rule.end_hour:
        return or_(hour >= rule.start_hour, hour < rule.end_hour)
    return and_(hour >= rule.start_hour, hour < rule.end_hour)


def _unassigned(t: Any) -> Any:
    """SQL: the actor was not on the patient's care team (now, or when the event happened)."""
    c = CareTeamAssignment
    return ~exists().where(
        c.patient_id == t.patient_id,
        c.user_id == t.actor_id,
        or_(and_(c.active.is_(True), c.deleted_at.is_(None)), c.updated_at >= t.at),
    )


def _subject(t: Any, chain_col: Any) -> Any:
    device = literal("device:", String) + chain_col
    return case((t.actor_role.in_(SYSTEM_ROLES), device), else_=t.actor_id)


def _branch(
    rng: _Range, rule: SecurityRule, lo_t: datetime, hi_t: datetime, new_since: datetime | None
) -> Select[Any]:
    t, where = _table(rng.chain)
    chain_col = literal(LOCAL, String) if rng.chain == LOCAL else t.device_id
    new = (t.at >= new_since) if new_since is not None else (t.seq > rng.new_after)
    conds = [
        *where,
        t.seq >= rng.lo,
        t.seq <= rng.hi,
        t.at >= lo_t,
        t.at <= hi_t,
        _action_filter(t.action, rule.actions),
    ]
    if rule.needs_patient:
        conds.append(t.patient_id.is_not(None))
    if rule.scope == "unassigned":
        conds.append(_unassigned(t))
    if rule.kind == "off_hours":
        conds.append(_off_hours(rule, t.at, lo_t, hi_t))
    return select(
        _subject(t, chain_col).label("subject"),
        t.id.label("id"),
        t.at.label("at"),
        t.patient_id.label("patient_id"),
        cast(new, Integer).label("new"),
    ).where(*conds)


def _rows(
    session: Session,
    rule: SecurityRule,
    ranges: Sequence[_Range],
    lo_t: datetime,
    hi_t: datetime,
    new_since: datetime | None,
) -> list[_Row]:
    """The matching events of the subjects that can cross the rule, by subject and time."""
    branches = [_branch(r, rule, lo_t, hi_t, new_since) for r in ranges]
    ev = (branches[0] if len(branches) == 1 else union_all(*branches)).subquery("ev")
    if rule.kind == "event_present":
        candidates = select(ev.c.subject).where(ev.c.new == 1)
    else:
        measure = (
            func.count(func.distinct(ev.c.patient_id))
            if rule.kind != "count_in_window"
            else func.count()
        )
        candidates = (
            select(ev.c.subject)
            .group_by(ev.c.subject)
            .having(measure >= rule.threshold, func.max(ev.c.new) == 1)
        )
    q = (
        select(ev.c.subject, ev.c.id, ev.c.at, ev.c.patient_id, ev.c.new)
        .where(ev.c.subject.in_(candidates))
        .order_by(ev.c.subject, ev.c.at)
    )
    return [_Row(s, i, at, p, bool(n)) for s, i, at, p, n in session.execute(q)]


def _busiest(rule: SecurityRule, subject: str, rows: list[_Row]) -> RuleHit | None:
    """The window with the most events (or distinct charts) ending at a new event, if it
    reaches the threshold; one pass with a sliding window."""
    if rule.kind == "event_present":
        new = [r for r in rows if r.new]
        if not new:
            return None
        return RuleHit(
            rule.id, rule.title, rule.severity, subject, len(new), 0, new[0].at, new[-1].at,
            tuple(r.id for r in new[:MAX_EVIDENCE]),
        )  # fmt: skip
    distinct = rule.kind != "count_in_window"
    span = timedelta(minutes=rule.window_minutes)
    window: deque[_Row] = deque()
    charts: Counter[str | None] = Counter()
    best: RuleHit | None = None
    for r in rows:
        window.append(r)
        charts[r.patient_id] += 1
        while window[0].at < r.at - span:
            old = window.popleft()
            charts[old.patient_id] -= 1
            if not charts[old.patient_id]:
                del charts[old.patient_id]
        size = len(charts) if distinct else len(window)
        if size < rule.threshold or not r.new or (best is not None and size <= best.count):
            continue
        kept = list(window)
        if distinct:  # the first event of each chart in the window
            firsts: dict[str | None, _Row] = {}
            for w in window:
                firsts.setdefault(w.patient_id, w)
            kept = list(firsts.values())
        best = RuleHit(
            rule.id, rule.title, rule.severity, subject, size, rule.window_minutes,
            window[0].at, r.at, tuple(w.id for w in kept[:MAX_EVIDENCE]),
        )  # fmt: skip
    return best


def _evaluate(
    session: Session,
    rules: Sequence[SecurityRule],
    ranges: Sequence[_Range],
    lo_t: datetime,
    hi_t: datetime,
    new_since: datetime | None,
) -> list[RuleHit]:
    if not ranges:
        return []
    local = f"device:{_device_id(session)}"
    hits: list[RuleHit] = []
    for rule in rules:
        span = timedelta(minutes=rule.window_minutes)
        rule_lo = max(lo_t, (new_since or lo_t) - span) if new_since else lo_t
        rows = _rows(session, rule, ranges, rule_lo, hi_t, new_since)
        for subject, group in groupby(rows, key=lambda r: r.subject):
            hit = _busiest(rule, local if subject == f"device:{LOCAL}" else subject, list(group))
            if hit is not None:
                hits.append(hit)
    return hits


def _device_id(session: Session) -> str:
    row = session.get(Meta, DEVICE_KEY)
    return row.value if row is not None and row.value else "this-workstation"


def _max_window(rules: Sequence[SecurityRule]) -> timedelta:
    return timedelta(minutes=max((r.window_minutes for r in rules), default=0))


# --- the scan --------------------------------------------------------------------------------


def policy_digest(settings: Settings) -> str:
    """SHA-256 of the effective security settings (what IT's policy decides)."""
    values = {k: getattr(settings, k) for k in sorted(SECURITY_SETTINGS)}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _note_policy(uow: UnitOfWork, settings: Settings) -> None:
    """Audit `policy.changed` when the effective security policy differs from the last scan's
    (the first scan only records it): a policy file edited between runs shows up here."""
    digest = policy_digest(settings)
    row = uow.session.get(Meta, POLICY_KEY)
    if row is not None and row.value == digest:
        return
    if row is not None:
        uow.audit(SYSTEM, "policy.changed", detail={"sha256": digest, "previous": row.value})
    uow.session.merge(Meta(key=POLICY_KEY, value=digest))


def _positions(session: Session) -> dict[str, int] | None:
    row = session.get(Meta, POSITIONS_KEY)
    return None if row is None else {k: int(v) for k, v in json.loads(row.value).items()}


def scan(
    ctx: AppContext, *, now: datetime | None = None, since: datetime | None = None
) -> list[RuleHit]:
    """Evaluate every security rule over the audit events new since the last scan (or since
    `since`), raise a system alert per hit and remember how far each chain was scanned.

    Returns every hit; `alert_id` is None where the same alert was already open. A malformed
    `security_rules` policy raises ConfigError before anything is read or written."""
    now = now or utcnow()
    if since is not None and since > now:
        raise ValidationError("The scan's start is after its end.")
    rules = security_rules.rules(ctx.settings)
    lookback = timedelta(hours=ops_policy.section(ctx.settings, "security")["lookback_hours"])
    ctx.store.write(lambda uow: _note_policy(uow, ctx.settings))

    def read(session: Session) -> tuple[list[RuleHit], dict[str, int]]:
        positions = None if since is not None else _positions(session)
        first_new = since or now - lookback
        ranges, reached = _ranges(session, first_new, now, positions, first_new)
        fresh = [r for r in ranges if r.hi > r.new_after]
        if not fresh:
            return [], reached
        # widen every stretch back by the longest window, for context
        lo_t = min(_first_new_at(session, r) for r in fresh) - _max_window(rules)
        ranges, _ = _ranges(session, lo_t, now, positions, first_new)
        return _evaluate(session, rules, ranges, lo_t, now, since), reached

    hits, reached = ctx.store.read(read)

    def record(uow: UnitOfWork) -> list[RuleHit]:
        out = [
            replace(
                h,
                alert_id=raise_system_alert(
                    uow, SYSTEM, source="security", rule=h.rule, severity=h.severity,
                    subject=h.subject, summary=h.summary(), evidence=list(h.evidence),
                ),
            )
            for h in hits
        ]  # fmt: skip
        kept = _positions(uow.session) or {}
        for chain, seq in reached.items():
            kept[chain] = max(seq, kept.get(chain, 0))
        uow.session.merge(Meta(key=POSITIONS_KEY, value=json.dumps(kept, sort_keys=True)))
        return out

    return ctx.store.write(record)


def _first_new_at(session: Session, rng: _Range) -> datetime:
    t, where = _table(rng.chain)
    at = session.scalar(select(t.at).where(*where, t.seq > rng.new_after).order_by(t.seq).limit(1))
    return at if at is not None else utcnow()


# --- the access report -----------------------------------------------------------------------


def _as_utc(d: date | datetime) -> datetime:
    if isinstance(d, datetime):
        if d.tzinfo is None:
            raise ValidationError("Give report times with a time zone.")
        return d
    return datetime.combine(d, datetime.min.time()).astimezone()


def _users(
    session: Session, ranges: Sequence[_Range], since: datetime, until: datetime
) -> list[UserAccess]:
    """Per-user counts over the period: one grouped pass over the chains' stretches."""
    branches = []
    for rng in ranges:
        t, where = _table(rng.chain)
        chain_col = literal(LOCAL, String) if rng.chain == LOCAL else t.device_id
        unassigned = case((and_(t.patient_id.is_not(None), _unassigned(t)), t.patient_id))
        branches.append(
            select(
                _subject(t, chain_col).label("subject"),
                t.actor_role.label("role"),
                t.action.label("action"),
                t.patient_id.label("patient_id"),
                unassigned.label("unassigned"),
            ).where(*where, t.seq >= rng.lo, t.seq <= rng.hi, t.at >= since, t.at <= until)
        )
    if not branches:
        return []
    ev = (branches[0] if len(branches) == 1 else union_all(*branches)).subquery("ev")

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            ev.c.subject,
            func.max(ev.c.role),
            func.count(),
            func.count(func.distinct(ev.c.patient_id)),
            func.count(func.distinct(ev.c.unassigned)),
            n(ev.c.action == "disclosure"),
            n(ev.c.action.in_(SIGNIN_FAILED)),
            n(ev.c.action == "patient.break_glass"),
        )
        .group_by(ev.c.subject)
        .order_by(func.count(func.distinct(ev.c.patient_id)).desc(), ev.c.subject)
    )
    rows = list(session.execute(q))
    names: dict[str, str] = {
        uid: name
        for uid, name in session.execute(
            select(User.id, User.username).where(User.id.in_([r[0] for r in rows]))
        )
    }
    local = f"device:{_device_id(session)}"
    return [
        UserAccess(
            local if subject == f"device:{LOCAL}" else subject,
            names.get(subject, ""),
            role,
            int(events),
            int(charts),
            int(unassigned),
            int(exports or 0),
            int(failed or 0),
            int(glass or 0),
        )  # fmt: skip
        for subject, role, events, charts, unassigned, exports, failed, glass in rows
    ]


def access_report(
    ctx: AppContext,
    principal: Principal,
    *,
    since: date | datetime,
    until: date | datetime | None = None,
) -> AccessReport:
    """The security rules' hits and per-user access counts over a period (supervisors, admin
    and IT: Action.VIEW_AUDIT); raises no alert, changes no scan position; audited."""
    start = _as_utc(since)
    end = _as_utc(until) if until is not None else utcnow()
    if start > end:
        raise ValidationError("The report's start is after its end.")
    rules = security_rules.rules(ctx.settings)

    def read(session: Session) -> AccessReport:
        rbac.require(session, principal, Action.VIEW_AUDIT)
        lo_t = start - _max_window(rules)
        ranges, _ = _ranges(session, lo_t, end, None, start)
        hits = _evaluate(session, rules, ranges, lo_t, end, start)
        return AccessReport(start, end, tuple(hits), tuple(_users(session, ranges, start, end)))

    report = ctx.store.read(read)
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal),
            "security.access_report",
            detail={"since": start.isoformat(), "until": end.isoformat(), "hits": len(report.hits)},
        )
    )
    return report
