"""The clinic dashboard: how the clinic (or one clinician's caseload) is doing, for the people
who run it.

Who sees what is decided here, from the role's permissions: a supervisor the whole clinic
(filterable by clinician), a clinician their own care team, a researcher de-identified
aggregates only, with every count under the policy's ``small_cell_min`` hidden (zero included,
so a hidden cell cannot be told from an empty one, plus the next smallest cell of a row whose
total is known, so a hidden cell cannot be recovered by subtraction). Admin and IT get no
clinical numbers at all. Each view is an audited read naming the patients it shows by identity;
a drill-down to a patient list is permission-checked and audited; an export is a disclosure.

Definitions shown on screen (`Dashboard.definition`): each active patient is due a PHQ-9 and a
GAD-7 once in every ``overdue_after_days`` window of the period, counted from its first day; a
window is done when at least one was administered in it. A patient is overdue when the last
one is older than ``overdue_after_days`` at the period's end. Alert response is measured from
triggering to the first acknowledgement (a closing step also acknowledges) and to resolution or
dismissal, with the median and the nearest-rank 90th percentile.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import PermissionDeniedError, StoreError, ValidationError
from app.core.security import rbac
from app.services import dashboard_cache as cache
from app.services import dashboard_metrics as m
from app.services import ops_policy, phi_audit
from app.services.context import AppContext, actor_of
from engines.xgb.bands import BANDS

Count = int | None  # None: hidden (small-cell suppression)
ScopeKind = Literal["clinic", "caseload", "research"]
MAX_PERIOD_DAYS = 3 * 366
ARRAYS_FROM_PATIENTS = 2_000  # scopes this large read the sorted arrays, never the SQL scans
READ_THREADS = 4  # concurrent metric reads (each on its own store connection)
SEVERITIES = ("critical", "warning", "info")
WEAR_BINS = ((0.0, 0.25, "< 25 %"), (0.25, 0.5, "25–50 %"), (0.5, 0.75, "50–75 %"),
             (0.75, 1.01, "≥ 75 %"))  # fmt: skip
INSTRUMENT_TITLES = {"phq9": "PHQ-9", "gad7": "GAD-7"}
UNASSIGNED = ""  # the clinician id of patients with no care team


@dataclass(frozen=True)
class DashboardFilter:
    """The period (inclusive days, UTC) and, for supervisors, one clinician's care team."""

    first: date
    last: date
    clinician_id: str | None = None
    target: str = "relapse_6m"

    def validate(self) -> None:
        if self.first > self.last:
            raise ValidationError("The period's first day is after its last day.")
        if (self.last - self.first).days >= MAX_PERIOD_DAYS:
            raise ValidationError("Choose a period of at most three years.")

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)


@dataclass(frozen=True)
class DashboardScope:
    kind: ScopeKind
    clinicians: tuple[tuple[str, str], ...]  # (user id, name) the filter offers
    drillable: bool  # a patient list may be shown
    small_cell_min: int
    overdue_after_days: int


@dataclass(frozen=True)
class CompletionRow:
    instrument: str
    clinician_id: str | None  # None: every clinician (the instrument's total)
    clinician: str
    due: Count
    done: Count
    overdue_patients: Count  # patients overdue at the period's end

    @property
    def rate(self) -> float | None:
        if self.due is None or self.done is None or self.due == 0:
            return None
        return self.done / self.due


@dataclass(frozen=True)
class OverdueRow:
    patient_id: str
    mrn: str
    display_name: str
    instrument: str
    last_done: datetime | None
    days_overdue: int | None  # None: never administered


@dataclass(frozen=True)
class ResponseRow:
    severity: str
    alerts: Count
    acknowledged: Count
    resolved: Count
    ack_median_h: float | None
    ack_p90_h: float | None
    resolve_median_h: float | None
    resolve_p90_h: float | None
    overdue_open: Count  # still unacknowledged past the severity's target


@dataclass(frozen=True)
class RiskPoint:
    as_of: date
    counts: tuple[tuple[str, Count], ...]  # (band or "none", patients)


@dataclass(frozen=True)
class FindingRow:
    model: str
    findings: Count
    accepted: Count
    rejected: Count
    pending: Count

    @property
    def acceptance(self) -> float | None:
        decided = (self.accepted or 0) + (self.rejected or 0)
        if self.accepted is None or self.rejected is None or decided == 0:
            return None
        return self.accepted / decided


@dataclass(frozen=True)
class WearSummary:
    patients: Count
    days_recorded: Count
    wear_days: Count
    histogram: tuple[tuple[str, Count], ...]  # patients by share of recorded days worn

    @property
    def coverage(self) -> float | None:
        if self.days_recorded in (None, 0) or self.wear_days is None:
            return None
        return self.wear_days / self.days_recorded


@dataclass(frozen=True)
class Dashboard:
    filter: DashboardFilter
    scope: DashboardScope
    computed_at: datetime
    definition: str
    patients: Count
    completion: tuple[CompletionRow, ...]  # instrument totals first, then per clinician
    overdue: tuple[OverdueRow, ...]  # empty for researchers
    response: tuple[ResponseRow, ...]
    risk: tuple[RiskPoint, ...]
    findings: tuple[FindingRow, ...]
    wear: WearSummary
    suppressed_cells: int = 0


@dataclass(frozen=True)
class DrillRow:
    patient_id: str
    mrn: str
    display_name: str
    detail: str


# -- who sees what -------------------------------------------------------------------------
def _kind(principal: Principal) -> ScopeKind:
    caps = rbac.capabilities(principal)
    if {Action.LIST_PATIENTS, Action.READ_PHI} <= caps:
        return "clinic" if rbac.visible_patient_ids(principal) is None else "caseload"
    if Action.READ_DEIDENTIFIED in caps:
        return "research"
    raise PermissionDeniedError(
        f"Your role ({principal.role.value}) has no clinical dashboard: it shows clinical content."
    )


def scope(ctx: AppContext, principal: Principal) -> DashboardScope:
    """What the principal's dashboard covers and which clinicians its filter offers."""
    kind = _kind(principal)
    policy = ops_policy.section(ctx.settings, "dashboard")
    if kind == "clinic":
        people = tuple(ctx.store.read(m.clinicians))
    elif kind == "caseload":
        people = ((principal.user_id, principal.display_name),)
    else:
        people = ()
    return DashboardScope(
        kind=kind,
        clinicians=people,
        drillable=kind != "research",
        small_cell_min=int(policy["small_cell_min"]),
        overdue_after_days=int(policy["overdue_after_days"]),
    )


def prepare(ctx: AppContext, principal: Principal, target: str = "relapse_6m") -> bool:
    """Build the arrays a whole-clinic dashboard's filters read (supervisors, researchers), at
    sign-in, so opening the dashboard is a filter change rather than a scan of every
    assessment; a clinician's caseload reads quickly by SQL and warms nothing. Whether it
    built."""
    try:
        kind = _kind(principal)
    except PermissionDeniedError:
        return False
    if kind == "caseload":
        return False
    cache.assessments(ctx)
    cache.predictions(ctx, target, BANDS)
    return True


def default_filter(today: date | None = None, days: int = 90) -> DashboardFilter:
    """The last ``days`` days up to today (UTC)."""
    today = today or datetime.now(UTC).date()
    return DashboardFilter(today - timedelta(days=days - 1), today)


def _clinician_for(kind: ScopeKind, principal: Principal, flt: DashboardFilter) -> str | None:
    if kind == "caseload":
        if flt.clinician_id not in (None, principal.user_id):
            raise PermissionDeniedError("A clinician's dashboard shows their own caseload only.")
        return principal.user_id
    if kind == "research" and flt.clinician_id is not None:
        raise PermissionDeniedError("The research dashboard is not broken down by clinician.")
    return flt.clinician_id


def definition_text(every: int, k: int, kind: ScopeKind) -> str:
    """The dashboard's definitions, as shown on screen and in exports."""
    text_ = (
        f"Due: each active patient is due a PHQ-9 and a GAD-7 once in every {every}-day window "
        f"of the period (counted from its first day); a window is done when at least one was "
        f"administered in it. Overdue: the last one is more than {every} days old at the end of "
        "the period. Alert response: from triggering to the first acknowledgement (closing an "
        "alert also acknowledges it) and to resolution or dismissal; median and 90th "
        "percentile (nearest rank). Risk: each patient's most recent stored prediction on or "
        "before the date. Wear day: a recorded day with at least the policy's minutes of wear."
    )
    if kind == "research":
        text_ += (
            f" De-identified: counts under {k} (zero included) are hidden, with one more cell "
            "where a total would reveal them."
        )
    return text_


# -- computing ------------------------------------------------------------------------------
class _Suppressor:
    """Small-cell suppression for researchers (a no-op for identifiable scopes)."""

    def __init__(self, on: bool, k: int) -> None:
        self.on, self.k, self.hidden = on, k, 0

    def cell(self, n: int) -> Count:
        if self.on and n < self.k:
            self.hidden += 1
            return None
        return n

    def row(self, values: Sequence[int]) -> list[Count]:
        """Cells whose total is known: if exactly one is hidden, hide the next smallest too."""
        out = [self.cell(v) for v in values]
        if self.on and sum(v is None for v in out) == 1:
            shown = [(v, i) for i, v in enumerate(out) if v is not None]
            if shown:
                _, i = min(shown)
                out[i] = None
                self.hidden += 1
        return out


def load(
    ctx: AppContext,
    principal: Principal,
    flt: DashboardFilter,
    *,
    now: datetime | None = None,
    progress: Callable[[int, str], object] | None = None,
) -> Dashboard:
    """Every dashboard figure for the principal's scope and the filter (an audited read)."""
    flt.validate()
    sc = scope(ctx, principal)
    clinician = _clinician_for(sc.kind, principal, flt)
    if clinician is not None and sc.kind == "clinic" and clinician not in dict(sc.clinicians):
        raise ValidationError("That clinician is not on the clinic's staff list.")
    policy = ops_policy.section(ctx.settings, "dashboard")
    now = now or datetime.now(UTC)
    step = progress or (lambda _p, _m: None)
    research = sc.kind == "research"
    sup = _Suppressor(research, sc.small_cell_min)

    step(5, "Reading the caseload")
    pats = ctx.store.read(lambda session: m.scope_patients(session, flt.start, clinician))
    ids = [p for p, _ in pats]
    active = {p for p, status in pats if status == "active"}
    asof = min(flt.end, now)
    step(15, "Reading assessments, alerts, predictions, findings and actigraphy")
    raw = _fetch(ctx, sc, ids, flt, asof, int(policy["wear_day_min_minutes"]))
    step(80, "Computing the figures")
    completion, overdue = _completion(sc, ids, active, flt, asof, sup, raw)
    overdue_rows = () if research else ctx.store.read(lambda session: _named(session, overdue))
    dash = Dashboard(
        filter=replace(flt, clinician_id=clinician),
        scope=sc,
        computed_at=now,
        definition=definition_text(sc.overdue_after_days, sc.small_cell_min, sc.kind),
        patients=sup.cell(len(ids)),
        completion=completion,
        overdue=overdue_rows,
        response=_response(raw["alerts"], asof, policy, sup),
        risk=_risk(raw["bands"], ids, flt, sup),
        findings=_findings(raw["findings"], sup),
        wear=_wear(raw["wear"], sup),
        suppressed_cells=0,
    )
    dash = replace(dash, suppressed_cells=sup.hidden)
    step(95, "Recording the view")
    detail = {"scope": sc.kind, "first": flt.first.isoformat(), "last": flt.last.isoformat()}
    if research:
        phi_audit.audit_read(ctx, principal, "dashboard.view", record_type="dashboard",
                             detail={**detail, "deidentified": True})  # fmt: skip
    else:
        phi_audit.audit_read(
            ctx,
            principal,
            "dashboard.view",
            record_type="dashboard",
            shown=(r.patient_id for r in dash.overdue),
            detail=detail,
        )
    return dash


def _built(arrays: cache.Sorted | None) -> cache.Sorted:
    """A waited-for build always returns its arrays."""
    if arrays is None:
        raise StoreError("The dashboard's arrays could not be built.")
    return arrays


def _fetch(
    ctx: AppContext,
    sc: DashboardScope,
    ids: list[str],
    flt: DashboardFilter,
    asof: datetime,
    wear_minutes: int,
) -> dict[str, Any]:
    """Every metric's rows, read concurrently: each read has its own connection (SQLite reads
    in parallel, decrypting pages outside the GIL), so the page costs about its slowest read
    rather than their sum. Each read is a consistent snapshot of its own tables."""
    every = sc.overdue_after_days
    # a large scope waits for the arrays (built once, then every filter change is arithmetic):
    # building them costs less than the SQL path's scans of every administration; a caseload
    # reads quickly by SQL while they are built in the background
    large = len(ids) >= ARRAYS_FROM_PATIENTS
    arrays = cache.assessments(ctx, wait=False)  # starts their build when not current
    bands = cache.predictions(ctx, flt.target, BANDS, wait=False)
    instants = _instants(flt, asof)
    jobs: dict[str, Callable[[], Any]] = {}
    reads: dict[str, Callable[[Session], Any]] = {}
    if arrays is not None or large:  # arithmetic on the arrays (waiting for their build)
        jobs["assessments"] = lambda: cache.windows_and_last(
            arrays if arrays is not None else _built(cache.assessments(ctx)),
            ids, flt.start, flt.end, asof, every,
        )  # fmt: skip
    else:  # a small scope's first page: by SQL while the arrays are built in the background
        reads["done"] = lambda s: m.windows_done(s, ids, flt.start, flt.end, every)
        reads["last"] = lambda s: m.last_administered(s, ids, asof)
    if bands is not None or large:
        jobs["bands"] = lambda: cache.bands_at(
            bands if bands is not None else _built(cache.predictions(ctx, flt.target, BANDS)),
            ids, instants, len(BANDS),
        )  # fmt: skip
    else:
        reads["bands"] = lambda s: _bands_by_sql(s, ids, flt.target, flt.end, instants)
    reads |= {
        "alerts": lambda s: m.alert_times(s, ids, flt.start, flt.end),
        "findings": lambda s: m.finding_reviews(s, ids, flt.start, flt.end),
        "wear": lambda s: m.wear_days(s, ids, flt.first, flt.last, wear_minutes),
        "teams": lambda s: m.care_teams(s, ids) if sc.kind != "research" else [],
    }
    for k, fn in reads.items():
        jobs[k] = partial(ctx.store.read, fn)
    with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="dashboard") as pool:
        futures = {k: pool.submit(fn) for k, fn in jobs.items()}
        out = {k: f.result() for k, f in futures.items()}
    if "assessments" in out:
        out["done"], last = out.pop("assessments")
        out["last"] = {k: datetime.fromtimestamp(t, UTC) for k, t in last.items()}
    return out


def _bands_by_sql(
    session: Session, ids: list[str], target: str, end: datetime, instants: list[datetime]
) -> np.ndarray:
    """`dashboard_cache.bands_at` from a fresh read (the first page, before the arrays)."""
    code = {b: i for i, b in enumerate(BANDS)}
    rows = m.latest_bands(session, ids, target, end)
    if not rows:
        return np.zeros((len(instants), len(BANDS) + 1), dtype=np.int64)
    pid, band, when = zip(*rows, strict=True)
    order = np.lexsort((np.array(when), np.array(pid)))
    pids, t = np.array(pid)[order], np.array(when)[order]
    b = np.array([code.get(x, len(BANDS)) for x in band])[order]
    same_next = np.append(pids[1:] == pids[:-1], False)
    nxt = np.where(same_next, np.append(t[1:], "9999"), "9999")  # after every stored time
    out = np.zeros((len(instants), len(BANDS) + 1), dtype=np.int64)
    for i, c in enumerate(instants):
        ts = m.stamp(c)
        latest = (t < ts) & (nxt >= ts)
        out[i] = np.bincount(b[latest], minlength=len(BANDS) + 1)[: len(BANDS) + 1]
    return out


def _instants(flt: DashboardFilter, asof: datetime) -> list[datetime]:
    """The risk series' instants: the end of each checkpoint day, or ``asof`` if earlier."""
    return [
        min(datetime.combine(d + timedelta(days=1), time(), UTC), asof) for d in checkpoints(flt)
    ]


def _completion(
    sc: DashboardScope,
    ids: list[str],
    active: set[str],
    flt: DashboardFilter,
    asof: datetime,
    sup: _Suppressor,
    raw: dict[str, Any],
) -> tuple[tuple[CompletionRow, ...], list[tuple[str, str, datetime | None, int | None]]]:
    every = sc.overdue_after_days
    days = (flt.last - flt.first).days + 1
    windows = -(-days // every)
    done: dict[tuple[str, str], int] = {}
    for pid, inst, n in raw["done"]:
        done[(pid, inst)] = min(n, windows)
    last: dict[tuple[str, str], datetime] = raw["last"]
    overdue: list[tuple[str, str, datetime | None, int | None]] = []
    limit = timedelta(days=every)
    for pid in sorted(active):
        for inst in m.SCHEDULED:
            when = last.get((pid, inst))
            if when is None:
                overdue.append((pid, inst, None, None))
            elif asof - when > limit:
                overdue.append((pid, inst, when, (asof - when - limit).days))
    late = {(pid, inst) for pid, inst, _, _ in overdue}
    members: dict[str | None, list[str]] = {None: ids}  # None: every clinician
    if sc.kind != "research":
        teams: dict[str, list[str]] = defaultdict(list)
        for pid, uid in raw["teams"]:
            teams[uid].append(pid)
        assigned = {pid for team in teams.values() for pid in team}
        unassigned = [pid for pid in ids if pid not in assigned]
        members.update(teams.items())
        if unassigned:
            members[UNASSIGNED] = unassigned
    names = dict(sc.clinicians)
    rows: list[CompletionRow] = []
    groups: dict[tuple[str, str | None], list[int]] = {}
    for inst in m.SCHEDULED:
        done_i = {pid: n for (pid, i), n in done.items() if i == inst}
        late_i = {pid for pid, i in late if i == inst}
        for owner, pids in members.items():
            groups[(inst, owner)] = [
                windows * len(pids),
                sum(done_i.get(pid, 0) for pid in pids),
                sum(1 for pid in pids if pid in late_i),
            ]

    def order(key: tuple[str, str | None]) -> tuple[bool, str, str, str]:
        inst, owner = key
        return (owner is not None, names.get(owner or "", "~"), owner or "", inst)

    for (inst, owner), (due_n, done_n, late_n) in sorted(
        groups.items(), key=lambda kv: order(kv[0])
    ):
        title = _owner_title(owner, names)
        due_c, done_c, late_c = sup.cell(due_n), sup.cell(done_n), sup.cell(late_n)
        rows.append(CompletionRow(inst, owner, title, due_c, done_c, late_c))
    return tuple(rows), overdue


def _owner_title(owner: str | None, names: dict[str, str]) -> str:
    if owner is None:
        return "All clinicians"
    if owner == UNASSIGNED:
        return "No care team"
    return names.get(owner) or "Other staff"


def _hours(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 3600


def _response(
    times: list[m.AlertTimes], asof: datetime, policy: dict[str, float], sup: _Suppressor
) -> tuple[ResponseRow, ...]:
    out = []
    for sev in SEVERITIES:
        mine = [t for t in times if t.severity == sev]
        target = timedelta(hours=policy[f"alert_ack_hours_{sev}"])
        ack = [_hours(t.triggered, t.acknowledged) for t in mine if t.acknowledged is not None]
        res = [_hours(t.triggered, t.resolved) for t in mine if t.resolved is not None]
        late = sum(
            1
            for t in mine
            if (t.acknowledged is None or t.acknowledged > asof) and asof - t.triggered > target
        )
        n, n_ack, n_res = sup.cell(len(mine)), sup.cell(len(ack)), sup.cell(len(res))
        out.append(
            ResponseRow(
                sev,
                n,
                n_ack,
                n_res,
                m.median(ack) if n_ack is not None else None,
                m.percentile(ack, 0.9) if n_ack is not None else None,
                m.median(res) if n_res is not None else None,
                m.percentile(res, 0.9) if n_res is not None else None,
                sup.cell(late),
            )
        )
    return tuple(out)


def checkpoints(flt: DashboardFilter) -> list[date]:
    """The risk series' dates: the last day of every month in the period, then its last day."""
    out: list[date] = []
    d = flt.first
    while True:
        nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
        month_end = nxt - timedelta(days=1)
        if month_end >= flt.last:
            break
        out.append(month_end)
        d = nxt
    out.append(flt.last)
    return out


def _risk(
    counts: np.ndarray, ids: list[str], flt: DashboardFilter, sup: _Suppressor
) -> tuple[RiskPoint, ...]:
    points = checkpoints(flt)
    out = []
    for d, row in zip(points, counts, strict=True):
        predicted = row[: len(BANDS)].tolist()
        none = len(ids) - int(sum(predicted))
        cells = sup.row([*predicted, none])
        out.append(RiskPoint(d, tuple(zip((*BANDS, "none"), cells, strict=True))))
    return tuple(out)


def _findings(
    rows: list[tuple[str, str, int, int, int]], sup: _Suppressor
) -> tuple[FindingRow, ...]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for model, _pid, n, acc, rej in rows:
        g = per[model]
        g[0], g[1], g[2] = g[0] + n, g[1] + acc, g[2] + rej
    out = []
    for model in sorted(per):
        n, acc, rej = per[model]
        acc_c, rej_c, pend_c = sup.row([acc, rej, max(n - acc - rej, 0)])
        out.append(FindingRow(model, sup.cell(n), acc_c, rej_c, pend_c))
    return tuple(out)


def _wear(rows: list[tuple[str, int, int]], sup: _Suppressor) -> WearSummary:
    bins = [0] * len(WEAR_BINS)
    for _pid, recorded, worn in rows:
        share = worn / recorded if recorded else 0.0
        for i, (lo, hi, _label) in enumerate(WEAR_BINS):
            if lo <= share < hi:
                bins[i] += 1
    return WearSummary(
        patients=sup.cell(len(rows)),
        days_recorded=sup.cell(sum(r[1] for r in rows)),
        wear_days=sup.cell(sum(r[2] for r in rows)),
        histogram=tuple(zip((b[2] for b in WEAR_BINS), sup.row(bins), strict=True)),
    )


def _named(
    session: Session, overdue: list[tuple[str, str, datetime | None, int | None]]
) -> tuple[OverdueRow, ...]:
    """The overdue list with names and MRNs: most overdue (never first) at the top."""
    if not overdue:
        return ()
    who = _identities(session, {pid for pid, *_ in overdue})
    rows = [
        OverdueRow(pid, *who.get(pid, ("", "")), inst, when, days)
        for pid, inst, when, days in overdue
    ]
    rows.sort(key=lambda r: (r.days_overdue is not None, -(r.days_overdue or 0), r.display_name))
    return tuple(rows)


def _identities(session: Session, ids: set[str]) -> dict[str, tuple[str, str]]:
    sql = (
        "SELECT id, mrn, given_name || ' ' || family_name FROM patients"
        " WHERE id IN (SELECT value FROM json_each(:ids))"
    )
    return {r[0]: (r[1], r[2]) for r in session.execute(text(sql), {"ids": m._ids(ids)})}


# -- drill-down ------------------------------------------------------------------------------
DRILL_KINDS = ("overdue", "risk", "alerts", "wear", "completion")


def drill(ctx: AppContext, principal: Principal, dash: Dashboard, key: str) -> list[DrillRow]:
    """The patients behind one figure (``overdue:phq9``, ``risk:high``, ``alerts:critical``,
    ``wear``, ``completion:phq9[:<clinician id>]``): identifiable scopes only; the list is
    re-read under the principal's own scope and audited."""
    kind = _kind(principal)
    if kind == "research":
        raise PermissionDeniedError("Researchers see de-identified aggregates only.")
    if dash.scope.kind != kind:
        raise PermissionDeniedError("That dashboard was computed for another role.")
    what, _, arg = key.partition(":")
    if what not in DRILL_KINDS:
        raise ValidationError(f"unknown dashboard figure '{what}'")
    flt = dash.filter
    clinician = _clinician_for(kind, principal, flt)
    policy = ops_policy.section(ctx.settings, "dashboard")
    asof = min(flt.end, dash.computed_at)

    def read(session: Session) -> list[DrillRow]:
        rbac.require(session, principal, Action.LIST_PATIENTS)  # the role may list patients now
        ids = [p for p, _ in m.scope_patients(session, flt.start, clinician)]
        allowed = set(ids)
        picked = {
            pid: detail
            for pid, detail in _pick(session, what, arg, ids, flt, asof, policy, dash).items()
            if pid in allowed  # never more than the principal's scope now
        }
        who = _identities(session, set(picked))
        rows = [DrillRow(pid, *who.get(pid, ("", "")), detail) for pid, detail in picked.items()]
        return sorted(rows, key=lambda r: (r.display_name.casefold(), r.mrn))

    rows = ctx.store.read(read)
    phi_audit.audit_read(
        ctx,
        principal,
        "dashboard.drill",
        record_type="dashboard",
        shown=(r.patient_id for r in rows),
        detail={"figure": what},
    )
    return rows


def _pick(
    session: Session,
    what: str,
    arg: str,
    ids: list[str],
    flt: DashboardFilter,
    asof: datetime,
    policy: dict[str, float],
    dash: Dashboard,
) -> dict[str, str]:
    every = int(policy["overdue_after_days"])
    if what == "overdue":
        return {r.patient_id: _overdue_text(r) for r in dash.overdue if r.instrument == arg}
    if what == "completion":
        inst, _, owner = arg.partition(":")
        days = (flt.last - flt.first).days + 1
        windows = -(-days // every)
        done = {
            pid: n
            for pid, i, n in m.windows_done(session, ids, flt.start, flt.end, every)
            if i == inst
        }
        if owner:
            team = {pid for pid, uid in m.care_teams(session, ids) if uid == owner}
            ids = [p for p in ids if p in team]
        return {
            pid: f"{min(done.get(pid, 0), windows)} of {windows} windows done"
            for pid in ids
            if done.get(pid, 0) < windows
        }
    if what == "risk":
        rows = m.latest_bands(session, ids, flt.target, flt.end)
        latest: dict[str, tuple[str, str]] = {}
        cut = m.stamp(asof)
        for pid, band, gen in rows:
            if gen < cut and gen > latest.get(pid, ("", ""))[0]:
                latest[pid] = (gen, band)
        return {pid: f"latest band {b}" for pid, (_g, b) in latest.items() if b == arg}
    if what == "alerts":
        target = timedelta(hours=policy[f"alert_ack_hours_{arg}"]) if arg in SEVERITIES else None
        if target is None:
            raise ValidationError(f"unknown alert severity '{arg}'")
        out: dict[str, str] = {}
        for t in m.alert_times(session, ids, flt.start, flt.end):
            unacked = t.acknowledged is None or t.acknowledged > asof
            if t.severity == arg and unacked and asof - t.triggered > target:
                out[t.patient_id] = (
                    f"{arg} alert unacknowledged for {_hours(t.triggered, asof):.0f} h"
                )
        return out
    rows_w = m.wear_days(session, ids, flt.first, flt.last, int(policy["wear_day_min_minutes"]))
    return {pid: f"{worn} of {rec} recorded days worn" for pid, rec, worn in rows_w}


def _overdue_text(r: OverdueRow) -> str:
    title = INSTRUMENT_TITLES.get(r.instrument, r.instrument)
    if r.days_overdue is None:
        return f"{title} never administered"
    return f"{title} {r.days_overdue} days overdue"


# -- export -----------------------------------------------------------------------------------
def _c(v: Count) -> str:
    return "<suppressed>" if v is None else str(v)


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "" if v is None else fmt.format(v)


def export_rows(dash: Dashboard) -> list[list[str]]:
    """The dashboard as table rows (section title rows, header rows, value rows): what the CSV
    and the PDF contain. A researcher's holds aggregates only, with the hidden cells marked."""
    f = dash.filter
    who = {"clinic": "whole clinic", "caseload": "own caseload", "research": "de-identified"}
    out: list[list[str]] = [
        ["Novamind clinic dashboard", who[dash.scope.kind]],
        ["Period", f.first.isoformat(), f.last.isoformat()],
        ["Definitions", dash.definition],
        ["Patients in scope", _c(dash.patients)],
        [],
        ["Assessment completion"],
        ["Instrument", "Clinician", "Due", "Done", "Rate", "Patients overdue"],
    ]
    for r in dash.completion:
        if dash.scope.kind == "research" and r.clinician_id is not None:
            continue
        out.append([INSTRUMENT_TITLES.get(r.instrument, r.instrument), r.clinician, _c(r.due),
                    _c(r.done), _f(r.rate, "{:.0%}"), _c(r.overdue_patients)])  # fmt: skip
    if dash.scope.kind != "research":
        out += [[], ["Overdue"], ["MRN", "Patient", "Instrument", "Last done", "Days overdue"]]
        for o in dash.overdue:
            out.append([o.mrn, o.display_name, INSTRUMENT_TITLES.get(o.instrument, o.instrument),
                        o.last_done.date().isoformat() if o.last_done else "never",
                        "" if o.days_overdue is None else str(o.days_overdue)])  # fmt: skip
    out += [[], ["Alert response (hours)"],
            ["Severity", "Alerts", "Acknowledged", "Resolved", "Ack median", "Ack p90",
             "Resolve median", "Resolve p90", "Overdue open"]]  # fmt: skip
    for s in dash.response:
        out.append([s.severity, _c(s.alerts), _c(s.acknowledged), _c(s.resolved),
                    _f(s.ack_median_h), _f(s.ack_p90_h), _f(s.resolve_median_h),
                    _f(s.resolve_p90_h), _c(s.overdue_open)])  # fmt: skip
    out += [[], [f"Risk distribution ({f.target})"], ["As of", *BANDS, "none"]]
    for p in dash.risk:
        out.append([p.as_of.isoformat(), *(_c(n) for _b, n in p.counts)])
    out += [[], ["Note-analysis findings"],
            ["Model", "Findings", "Accepted", "Rejected", "Pending"]]  # fmt: skip
    for fr in dash.findings:
        out.append([fr.model, _c(fr.findings), _c(fr.accepted), _c(fr.rejected), _c(fr.pending)])
    w = dash.wear
    out += [[], ["Actigraphy coverage"],
            ["Patients", "Days recorded", "Days with wear", *(b for b, _ in w.histogram)],
            [_c(w.patients), _c(w.days_recorded), _c(w.wear_days),
             *(_c(n) for _b, n in w.histogram)]]  # fmt: skip
    return out


EXPORT_FORMATS = ("csv", "pdf")


def record_export(
    ctx: AppContext, principal: Principal, dash: Dashboard, *, kind: str, destination: Path | str
) -> None:
    """Audit the dashboard leaving the store as a file: a disclosure naming the patients it
    lists by identity (none for a researcher's) and where it went as a digest, never a name."""
    if kind not in EXPORT_FORMATS:
        raise ValidationError(f"unknown export format '{kind}' (one of {list(EXPORT_FORMATS)})")
    if _kind(principal) != dash.scope.kind:
        raise PermissionDeniedError("That dashboard was computed for another role.")
    dest = Path(destination)
    detail: dict[str, object] = {
        "format": kind,
        "destination_suffix": dest.suffix.lower(),
        "destination_sha256": phi_audit.destination_digest(dest),
        "scope": dash.scope.kind,
        "first": dash.filter.first.isoformat(),
        "last": dash.filter.last.isoformat(),
    }
    if dash.scope.kind == "research":
        detail["deidentified"] = True
    else:
        detail.update(phi_audit.encode_ids(r.patient_id for r in dash.overdue))
    ctx.store.write(
        lambda uow: uow.audit(
            actor_of(principal), phi_audit.DISCLOSURE, record_type="dashboard", detail=detail
        )
    )


def export_csv(ctx: AppContext, principal: Principal, dash: Dashboard, path: Path) -> Path:
    """Write the dashboard as CSV and audit the disclosure (the file is written first: a failed
    write discloses nothing)."""
    if _kind(principal) != dash.scope.kind:
        raise PermissionDeniedError("That dashboard was computed for another role.")
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(export_rows(dash))
    record_export(ctx, principal, dash, kind="csv", destination=path)
    return path
