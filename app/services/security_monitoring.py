"""Security monitoring: the security rules evaluated over the clinic's whole audit history.

Every workstation holds its own audit chain and copies of the other workstations' chains
(remote_audit_events), so one scan sees the clinic. Each rule (app.services.security_rules)
selects audit events by action, optionally only events naming a patient the actor is not
assigned to, or events in the clinic's off hours, and counts them (or the distinct charts they
touch) per subject (the user, or the workstation for sign-ins under unknown names and system
events) in a sliding window. The scanned stretch of each chain is read once
(app.services.security_events); per rule, SQL counts per subject and time bucket and keeps only
pairs of buckets that can reach the threshold, and one pass in Python over those events finds
the busiest window. A store with millions of events is read only where the scan looks.

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
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.orm import Session

from app.core.config import SECURITY_SETTINGS, Settings
from app.core.domain import Action, Principal
from app.core.errors import ValidationError
from app.core.security import rbac
from app.core.store.models import (
    Meta,
    User,
    utcnow,
)
from app.core.store.store import SYSTEM, UnitOfWork
from app.services import ops_policy, security_rules
from app.services import security_events as events
from app.services.context import AppContext, actor_of
from app.services.security_events import EV
from app.services.security_rules import SecurityRule
from app.services.system_alerts import raise_system_alert

POSITIONS_KEY = "security.scan_positions"  # {chain: last scanned seq}
POLICY_KEY = "security.policy_sha256"  # digest of the effective security policy last seen
MAX_EVIDENCE = 100  # audit event ids kept per hit
EPOCH_JULIAN_DAY = 2451544.5  # 2000-01-01: time buckets count from here
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
class _Row:
    subject: str
    id: str
    at: datetime
    patient_id: str | None
    new: bool


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


def _rows(session: Session, rule: SecurityRule, start: datetime, until: datetime) -> list[_Row]:
    """The materialized events that can take part in one rule's hit, by subject and time.

    Windowed rules count per subject and time bucket of the rule's window in SQL: a window
    spans at most two neighbouring buckets, so only pairs of buckets whose counts (or distinct
    charts) add up to the threshold, with a new event in them, come back to Python."""
    e = EV.c
    conds = [e.at >= start, e.at <= until, _action_filter(e.action, rule.actions)]
    if rule.needs_patient:
        conds.append(e.patient_id.is_not(None))
    if rule.scope == "unassigned":
        conds.append(e.unassigned == 1)
    if rule.kind == "off_hours":
        conds.append(_off_hours(rule, e.at, start, until))
    minutes = (func.julianday(e.at) - EPOCH_JULIAN_DAY) * 1440.0
    bucket = cast(minutes / rule.window_minutes, Integer) if rule.window_minutes else literal(0)

    def selected() -> Any:  # read twice below as two subqueries: no materialized copy
        return (
            select(e.subject, e.id, e.at, e.patient_id, e.new, bucket.label("bucket"))
            .where(*conds)
            .subquery()
        )

    ev = selected()
    cols = (ev.c.subject, ev.c.id, ev.c.at, ev.c.patient_id, ev.c.new)
    if rule.kind == "event_present":
        q = select(*cols).where(ev.c.new == 1)
    else:
        counted = selected()
        measure = (
            func.count(func.distinct(counted.c.patient_id))
            if rule.kind != "count_in_window"
            else func.count()
        )
        per = (
            select(
                counted.c.subject,
                counted.c.bucket,
                measure.label("n"),
                func.max(counted.c.new).label("nw"),
            )
            .group_by(counted.c.subject, counted.c.bucket)
            .cte("per")
        )
        nxt = per.alias("nxt")
        pairs = (
            select(per.c.subject, per.c.bucket)
            .outerjoin(nxt, and_(nxt.c.subject == per.c.subject, nxt.c.bucket == per.c.bucket + 1))
            .where(
                per.c.n + func.coalesce(nxt.c.n, 0) >= rule.threshold,
                or_(per.c.nw == 1, nxt.c.nw == 1),
            )
            .cte("pairs")
        )
        hot = union(
            select(pairs.c.subject, pairs.c.bucket),
            select(pairs.c.subject, (pairs.c.bucket + 1).label("bucket")),
        ).subquery("hot")
        q = select(*cols).where(
            tuple_(ev.c.subject, ev.c.bucket).in_(select(hot.c.subject, hot.c.bucket))
        )
    q = q.order_by(ev.c.subject, ev.c.at)
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
    start: datetime,
    until: datetime,
    new_since: datetime | None,
) -> list[RuleHit]:
    """Every rule over the materialized events (start..until); one hit per rule and subject."""
    hits: list[RuleHit] = []
    for rule in rules:
        rule_start = start
        if new_since is not None:  # context: one window before the first possible new event
            rule_start = max(start, new_since - timedelta(minutes=rule.window_minutes))
        rows = _rows(session, rule, rule_start, until)
        for subject, group in groupby(rows, key=lambda r: r.subject):
            hit = _busiest(rule, subject, list(group))
            if hit is not None:
                hits.append(hit)
    return hits


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
    if now.tzinfo is None or (since is not None and since.tzinfo is None):
        raise ValidationError("Give scan times with a time zone.")
    if since is not None and since > now:
        raise ValidationError("The scan's start is after its end.")
    rules = security_rules.rules(ctx.settings)
    lookback = timedelta(hours=ops_policy.section(ctx.settings, "security")["lookback_hours"])
    ctx.store.write(lambda uow: _note_policy(uow, ctx.settings))

    def read(session: Session) -> tuple[list[RuleHit], dict[str, int]]:
        positions = None if since is not None else _positions(session)
        parts, reached = events.stretches(
            session,
            until=now,
            positions=positions,
            new_from=since or now - lookback,
            context=_max_window(rules),
        )
        if not any(p.hi > p.new_after for p in parts):
            return [], reached
        start = min(p.first_new_at for p in parts if p.first_new_at) - _max_window(rules)
        events.materialize(session, parts, start=start, until=now, new_since=since)
        try:
            return _evaluate(session, rules, start, now, since), reached
        finally:
            events.clear(session)

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


# --- the access report -----------------------------------------------------------------------


def _as_utc(d: date | datetime) -> datetime:
    if isinstance(d, datetime):
        if d.tzinfo is None:
            raise ValidationError("Give report times with a time zone.")
        return d
    return datetime.combine(d, datetime.min.time()).astimezone()


def _users(session: Session, since: datetime, until: datetime) -> list[UserAccess]:
    """Per-user counts over the period: one grouped pass over the materialized events."""
    ev = select(EV).where(EV.c.at >= since, EV.c.at <= until).subquery("ev")
    unassigned = case((ev.c.unassigned == 1, ev.c.patient_id))

    def n(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    q = (
        select(
            ev.c.subject,
            func.max(ev.c.role),
            func.count(),
            func.count(func.distinct(ev.c.patient_id)),
            func.count(func.distinct(unassigned)),
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
    return [
        UserAccess(
            subject,
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
        context = _max_window(rules)
        parts, _ = events.stretches(
            session, until=end, positions=None, new_from=start, context=context,
            since=start - context,
        )  # fmt: skip
        events.materialize(session, parts, start=start - context, until=end, new_since=start)
        try:
            hits = _evaluate(session, rules, start - context, end, start)
            return AccessReport(start, end, tuple(hits), tuple(_users(session, start, end)))
        finally:
            events.clear(session)

    report = ctx.store.read(read)
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal),
            "security.access_report",
            detail={"since": start.isoformat(), "until": end.isoformat(), "hits": len(report.hits)},
        )
    )
    return report
