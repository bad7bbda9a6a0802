"""Security monitoring on a clinic's two-year audit history.

`python -m tests.bench security`. A store with 10,000 patients (NOVAMIND_BENCH_PATIENTS), 40
clinicians with 250 of them each on their care team and 2 supervisors, and
NOVAMIND_BENCH_AUDIT_EVENTS audit events (2,000,000) over two years, written with bulk SQL:
half in this workstation's chain, a quarter in each of two other workstations' chains
(remote_audit_events). 95 % are chart reads of the clinician's own patients, 3 % supervisors'
reads of any chart, 2 % sign-ins and list reads (no patient). The links' hashes are filler
(the chain is not verified here) and replace the setup's own few links; the chain head is set
so real services append after them.
The last hour then gets a real burst: a supervisor opens 60 unassigned charts through
patients.get_patient.

Timed (median of 3 after a warm-up): `security_monitoring.scan` as the hourly schedule runs
it (scan positions one hour back; the burst must raise `unassigned_bulk_access`), a first scan
(the policy's 24-hour lookback, no positions), and `access_report` over 7 and 30 days; the
report over the whole two years runs once.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import keyring
from sqlalchemy import delete, select

from app.core.config import load_settings
from app.core.domain import Role
from app.core.store.engine import connect_raw
from app.core.store.models import Meta, Patient, SystemAlert
from app.services import patients, security_monitoring
from app.services.context import AppContext
from tests.bench.filler import fill
from tests.support.keyring_backends import MemoryKeyring
from tests.support.records import make_user

RUNS = 3
CLINICIANS = 40
SPAN = timedelta(days=730)
_EVENT = (
    "INSERT INTO {table} ({extra}seq, id, at, actor_id, actor_role, action, patient_id,"
    " record_type, record_id, detail_json, prev_hash, hash) VALUES ({marks}?,?,?,?,?,?,?,?,?,?,?,?)"
)
_CARE_TEAM = (
    "INSERT INTO care_team (id, created_at, updated_at, version, patient_id, user_id, team_role,"
    " active) VALUES (?,?,?,1,?,?,'treating clinician',1)"
)
FILLER_HASH = "0" * 64


def _timed(
    fn: Callable[[], Any], before: Callable[[], None] = lambda: None, runs: int = RUNS
) -> float:
    """Median ms of `runs` calls after a warm-up; `before` resets state outside the timing."""
    times = []
    for _ in range(runs + 1):
        before()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])


def _fill_audit(
    ctx: AppContext, events: int, clinicians: list[str], supervisors: list[str], pids: list[str]
) -> tuple[datetime, dict[str, int]]:
    """Care teams and `events` audit events ending an hour ago; per chain, the last seq."""
    conn = connect_raw(ctx.settings.db_path, ctx.store._key)  # noqa: SLF001 — bulk fill
    rng = random.Random(22)
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    start = now - SPAN
    caseload = {c: pids[i::CLINICIANS] for i, c in enumerate(clinicians)}
    conn.execute("BEGIN")
    conn.execute("DELETE FROM audit_events")  # the setup's few links: the filler replaces them
    conn.executemany(
        _CARE_TEAM,
        [(str(uuid.uuid4()), start, start, p, c, ) for c, ps in caseload.items() for p in ps],
    )  # fmt: skip
    chains = {
        "local": events // 2,
        "dev-a": events // 4,
        "dev-b": events - events // 2 - events // 4,
    }
    last: dict[str, int] = {}
    for chain, n in chains.items():
        remote = chain != "local"
        sql = _EVENT.format(
            table="remote_audit_events" if remote else "audit_events",
            extra="device_id, received_at, " if remote else "",
            marks="?,?," if remote else "",
        )
        step = SPAN / n
        batch: list[tuple[Any, ...]] = []
        for seq in range(1, n + 1):
            at = start + step * seq
            r = rng.random()
            if r < 0.95:
                who, role = rng.choice(clinicians), "clinician"
                action, pid = "patient.read", rng.choice(caseload[who])
            elif r < 0.98:
                who, role, action, pid = rng.choice(supervisors), "supervisor", "twin.read", None
                pid = rng.choice(pids)
            else:
                who, role = rng.choice(clinicians), "clinician"
                action, pid = rng.choice(("auth.login", "patient.list")), None
            row = (seq, str(uuid.uuid4()), at, who, role, action, pid, "patient", "", "{}")
            batch.append(((chain, at) if remote else ()) + row + (FILLER_HASH, FILLER_HASH))
            if len(batch) == 50_000:
                conn.executemany(sql, batch)
                batch.clear()
        conn.executemany(sql, batch)
        last[chain] = n
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)",
        (f"{chains['local']}:{FILLER_HASH}",),
    )
    conn.execute("COMMIT")
    conn.close()
    return now.replace(tzinfo=UTC), last


def main() -> None:
    n_patients = int(os.environ.get("NOVAMIND_BENCH_PATIENTS", "10000"))
    n_events = int(os.environ.get("NOVAMIND_BENCH_AUDIT_EVENTS", "2000000"))
    keyring.set_keyring(MemoryKeyring())
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings({"NOVAMIND_DATA_DIR": d, "NOVAMIND_POLICY": d + "/none.toml"})
        ctx = AppContext.open(settings)
        clinicians = [make_user(ctx, f"clin{i}", Role.CLINICIAN) for i in range(CLINICIANS)]
        supervisors = [make_user(ctx, f"sup{i}", Role.SUPERVISOR) for i in range(2)]
        other = make_user(ctx, "intake", Role.CLINICIAN)
        fill(ctx, n_patients, visits=0)
        pids = ctx.store.read(lambda s: list(s.scalars(select(Patient.id))))
        t0 = time.perf_counter()
        hour_ago, last = _fill_audit(
            ctx, n_events, [c.user_id for c in clinicians], [s.user_id for s in supervisors], pids
        )
        fill_s = time.perf_counter() - t0
        burst = [patients.create_patient(ctx, other, mrn=f"X-{i}", given_name="B",
                 family_name="Burst", birth_date=datetime(1980, 1, 1).date(), sex="other")
                 for i in range(60)]  # fmt: skip
        for pid in burst:
            patients.get_patient(ctx, supervisors[0], pid)
        now = datetime.now(UTC)
        hourly_positions = json.dumps(last)

        def set_positions(value: str | None) -> Callable[[], None]:
            def reset() -> None:
                def do(uow: Any) -> None:
                    uow.session.execute(delete(SystemAlert))
                    uow.session.execute(delete(Meta).where(Meta.key == "security.scan_positions"))
                    if value is not None:
                        uow.session.add(Meta(key="security.scan_positions", value=value))

                ctx.store.write(do)

            return reset

        hits: list[security_monitoring.RuleHit] = []

        def hourly() -> None:
            hits[:] = security_monitoring.scan(ctx, now=now)

        hourly_ms = _timed(hourly, set_positions(hourly_positions))
        raised = sorted({h.rule for h in hits if h.alert_id})
        first_ms = _timed(lambda: security_monitoring.scan(ctx, now=now), set_positions(None))
        it = make_user(ctx, "it.bench", Role.IT)
        reports: dict[str, float] = {}

        def report_of(days: int) -> Callable[[], Any]:
            return lambda: security_monitoring.access_report(
                ctx, it, since=now - timedelta(days=days)
            )

        for label, days in (("7 days", 7), ("30 days", 30)):
            reports[label] = _timed(report_of(days))
        t0 = time.perf_counter()  # the whole history once (warm from the runs above)
        report = security_monitoring.access_report(ctx, it, since=now - timedelta(days=730))
        reports["730 days (one run)"] = (time.perf_counter() - t0) * 1000
        ctx.close()
    print(f"audit events: {n_events:,} (local {last['local']:,}, remote {last['dev-a']:,} + "
          f"{last['dev-b']:,}), patients {n_patients:,}, clinicians {CLINICIANS}; "
          f"bulk fill {fill_s:.0f} s")  # fmt: skip
    print()
    print("| operation | median ms |")
    print("|---|---:|")
    print(f"| scan, hourly (positions 1 h back, 60-chart burst) | {hourly_ms:,.0f} |")
    print(f"| scan, first (24 h lookback) | {first_ms:,.0f} |")
    for label, ms in reports.items():
        print(f"| access_report, {label} | {ms:,.0f} |")
    print()
    print(f"hourly scan raised: {', '.join(raised) or 'nothing'}")
    print(f"two-year report: {len(report.hits)} hit(s), {len(report.users)} subjects")
