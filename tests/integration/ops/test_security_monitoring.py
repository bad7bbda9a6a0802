"""Security monitoring over the real audit chain: real services write the audit events (chart
reads, sign-ins, role changes), the scan evaluates the rules and raises system alerts once.

The audit chain's clock is set per step (the audit module's `utcnow`), so a scenario can place
"60 charts in 9 minutes at 14:00" or "a clinic day from 09:00 to 17:00" exactly; every number
asserted is counted by hand from the scenario.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import ConfigError, load_settings
from app.core.domain import Principal, Role
from app.core.errors import AuthenticationError, PermissionDeniedError, ValidationError
from app.core.security import keys
from app.core.store.engine import connect_raw
from app.core.store.models import AuditEvent, Meta, SystemAlert, utcnow
from app.services import admin, auth, patients, phi_audit, security_monitoring
from app.services.context import AppContext, cli_actor
from app.services.system_alerts import list_system_alerts, transition_system_alert
from sync import audit_share
from tests.conftest import PASSWORD, cli_env
from tests.support.cli import admin as cli_admin
from tests.support.cli import run
from tests.support.records import add_patient, add_user, row_count

# Two days ahead: after every real-time setup event (times rise with seq on the chain) and
# beyond the first scan's 24-hour lookback from any time of that day.
POSITIONS = "security.scan_positions"
DAY = date.today() + timedelta(days=2)


def local(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    """A time on the clinic's (this workstation's) clock, as the built-in rules read it."""
    return datetime.combine(day, time(hour, minute, second)).astimezone()


@dataclass
class Clock:
    now: datetime | None = None  # None: the real time (setup before the scenario)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The audit chain's clock, set by each scenario step."""
    c = Clock()
    monkeypatch.setattr("app.core.security.audit.utcnow", lambda: c.now or utcnow())
    return c


def _ids(ctx: AppContext, actor: str, action: str) -> set[str]:
    return set(
        ctx.store.read(
            lambda s: s.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.actor_id == actor, AuditEvent.action == action
                )
            ).all()
        )
    )


def _charts(ctx: AppContext, owner: Principal, n: int, prefix: str) -> list[str]:
    return [add_patient(ctx, owner, f"{prefix}-{i}") for i in range(n)]


def _hits(hits: list[security_monitoring.RuleHit]) -> dict[tuple[str, str], int]:
    return {(h.rule, h.subject): h.count for h in hits}


def test_sixty_unassigned_charts_in_ten_minutes_trigger_the_access_rule(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    supervisor = clinic["users"][Role.SUPERVISOR]
    charts = _charts(ctx, clinic["other"], 60, "U")  # on another clinician's care team
    start = local(14)
    for i, pid in enumerate(charts):  # one chart every 9 s: the 60th at 14:08:51
        clock.now = start + timedelta(seconds=9 * i)
        patients.get_patient(ctx, supervisor, pid)

    hits = security_monitoring.scan(ctx, now=local(14, 15), since=local(13, 59))

    reads = _ids(ctx, supervisor.user_id, "patient.read")
    bulk = next(h for h in hits if h.rule == "unassigned_bulk_access")
    assert (bulk.subject, bulk.count, bulk.severity) == (supervisor.user_id, 60, "critical")
    assert set(bulk.evidence) == reads and len(reads) == 60  # audit event ids, nothing else
    assert (bulk.first_at, bulk.last_at) == (start, start + timedelta(seconds=9 * 59))
    # the daily outside-care-team rule (25 charts) fires too; no other rule does
    assert _hits(hits) == {
        ("unassigned_bulk_access", supervisor.user_id): 60,
        ("outside_care_team", supervisor.user_id): 60,
    }
    alerts = list_system_alerts(ctx, supervisor, source="security")
    assert {(a.rule, a.subject, a.severity) for a in alerts} == {
        ("unassigned_bulk_access", supervisor.user_id, "critical"),
        ("outside_care_team", supervisor.user_id, "warning"),
    }
    raised = next(a for a in alerts if a.rule == "unassigned_bulk_access")
    assert set(raised.evidence) == reads
    assert raised.summary == "Many unassigned charts in a short time: 60 within 10 min"


def test_forty_nine_unassigned_charts_stay_under_the_threshold(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    """49 unassigned charts in 10 minutes stay under the threshold of 50."""
    supervisor = clinic["users"][Role.SUPERVISOR]
    for i, pid in enumerate(_charts(ctx, clinic["other"], 49, "U")):
        clock.now = local(14) + timedelta(seconds=10 * i)
        patients.get_patient(ctx, supervisor, pid)
    hits = security_monitoring.scan(ctx, now=local(15), since=local(13, 59))
    assert "unassigned_bulk_access" not in {h.rule for h in hits}
    assert _hits(hits) == {("outside_care_team", supervisor.user_id): 49}


def test_a_normal_clinician_day_triggers_nothing(
    ctx: AppContext, clinic: dict, clock: Clock, tmp_path: Path
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    mine = [clinic["mine"], *_charts(ctx, me, 11, "M")]  # a caseload of 12
    clock.now = local(8, 55)
    with pytest.raises(AuthenticationError):
        auth.login(ctx, me.username, "typo in the password")  # one slip: under 5
    me = auth.login(ctx, me.username, PASSWORD)
    for visit in range(3):  # three passes over the caseload: 09:00, 12:00, 15:00
        for i, pid in enumerate(mine):
            clock.now = local(9 + 3 * visit, 4 * i)
            patients.get_patient(ctx, me, pid)
            patients.list_patients(ctx, me)
    clock.now = local(16, 30)
    for n in range(2):  # two letters written out as PDF
        phi_audit.record_disclosure(ctx, me, mine[n], kind="pdf", destination=tmp_path / "x.pdf")

    assert security_monitoring.scan(ctx, now=local(18), since=local(8)) == []
    assert list_system_alerts(ctx, clinic["users"][Role.SUPERVISOR], source="security") == []


def test_off_hours_bulk_access_triggers(ctx: AppContext, clinic: dict, clock: Clock) -> None:
    """20 charts of the user's own caseload between 02:00 and 02:19: off hours (20:00-07:00)."""
    me = clinic["users"][Role.CLINICIAN]
    for i, pid in enumerate(_charts(ctx, me, 20, "N")):
        clock.now = local(2, i)
        patients.get_patient(ctx, me, pid)
    hits = security_monitoring.scan(ctx, now=local(3), since=local(1))
    assert _hits(hits) == {("off_hours_bulk_access", me.user_id): 20}


def test_repeated_failed_sign_ins_trigger_for_the_account_and_the_workstation(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    for i in range(5):  # the policy locks the account at the 5th
        clock.now = local(10, i)
        with pytest.raises(AuthenticationError):
            auth.login(ctx, me.username, f"wrong {i}")
    for i in range(6):  # names nobody has: the workstation is the subject
        clock.now = local(11, i)
        with pytest.raises(AuthenticationError):
            auth.login(ctx, f"guess{i}", "whatever")

    hits = security_monitoring.scan(ctx, now=local(12), since=local(9))

    assert _hits(hits) == {
        ("signin_failures", me.user_id): 5,
        ("account_locked", me.user_id): 1,
        ("signin_failures", "device:this-workstation"): 6,
    }
    failed = next(h for h in hits if h.subject == me.user_id and h.rule == "signin_failures")
    assert set(failed.evidence) == _ids(ctx, me.user_id, "auth.login_failed")


def test_a_role_change_and_a_policy_change_trigger(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    admin_user = clinic["users"][Role.ADMIN]
    security_monitoring.scan(ctx, now=local(8), since=local(7))  # records the policy in force
    clock.now = local(10)
    admin.change_role(ctx, admin_user, "user.other", Role.SUPERVISOR)
    with pytest.raises(PermissionDeniedError):  # a clinician cannot re-role anyone
        admin.change_role(ctx, clinic["users"][Role.CLINICIAN], "user.other", Role.ADMIN)

    hits = security_monitoring.scan(ctx, now=local(11), since=local(9))
    assert _hits(hits) == {("role_change", admin_user.user_id): 1}
    assert hits[0].evidence == tuple(_ids(ctx, admin_user.user_id, "user.role_change"))

    clock.now = local(12)
    tightened = replace(ctx.settings, lockout_threshold=3)  # IT edited the policy file
    hits = security_monitoring.scan(
        AppContext(tightened, ctx.store, ctx.bus), now=local(13), since=local(11, 30)
    )
    assert _hits(hits) == {("policy_change", "device:this-workstation"): 1}


def test_a_second_scan_raises_no_duplicate_and_a_resolved_alert_stays_resolved(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    supervisor = clinic["users"][Role.SUPERVISOR]
    for i in range(5):
        clock.now = local(10, i)
        with pytest.raises(AuthenticationError):
            auth.login(ctx, me.username, "wrong")
    first = security_monitoring.scan(ctx, now=local(10, 30))  # from the policy's lookback
    assert ("signin_failures", me.user_id) in _hits(first)
    assert all(h.alert_id for h in first)
    alerts = row_count(ctx, SystemAlert)

    assert security_monitoring.scan(ctx, now=local(10, 40)) == []  # nothing new since
    again = security_monitoring.scan(ctx, now=local(10, 40), since=local(9))  # a re-scan
    assert _hits(again) == _hits(first) and all(h.alert_id is None for h in again)
    assert row_count(ctx, SystemAlert) == alerts  # still one alert per condition

    for a in list_system_alerts(ctx, supervisor, source="security"):
        transition_system_alert(ctx, supervisor, a.id, "resolved", "account owner confirmed")
    assert security_monitoring.scan(ctx, now=local(11)) == []  # old events raise nothing
    clock.now = local(11, 5)  # a new burst is a new alert
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            auth.login(ctx, "nobody", "wrong")
    later = security_monitoring.scan(ctx, now=local(11, 10))
    assert _hits(later) == {("signin_failures", "device:this-workstation"): 5}
    kept = ctx.store.read(lambda s: s.scalar(select(Meta.value).where(Meta.key == POSITIONS)))
    assert set(json.loads(kept or "{}")) == {"local"}  # this workstation's chain


def _policy(ctx: AppContext, env: dict, toml: str) -> AppContext:
    Path(env["NOVAMIND_POLICY"]).write_text(toml, encoding="utf-8")
    return AppContext(load_settings(env), ctx.store, ctx.bus)


def test_an_it_override_changes_the_threshold(
    ctx: AppContext, clinic: dict, clock: Clock, env: dict
) -> None:
    me = clinic["users"][Role.CLINICIAN]
    for i in range(3):
        clock.now = local(10, i)
        with pytest.raises(AuthenticationError):
            auth.login(ctx, me.username, "wrong")
    assert security_monitoring.scan(ctx, now=local(11), since=local(9)) == []
    tuned = _policy(
        ctx,
        env,
        '[[policy.security_rules]]\nid = "signin_failures"\nthreshold = 3\nwindow_minutes = 5\n',
    )
    hits = security_monitoring.scan(tuned, now=local(11), since=local(9))
    assert ("signin_failures", me.user_id, 3) in {(h.rule, h.subject, h.count) for h in hits}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('id = "signin_failures"\nthreshold = "five"', "'signin_failures': 'threshold' must be"),
        ('id = "signin_failures"\nthresold = 3', "'signin_failures': 'thresold' is not a rule"),
        ('id = "mine"\ntitle = "x"\nactions = ["auth.login"]', "'mine': 'kind' is required"),
        ('id = "repeated_exports"\nseverity = "loud"', "'repeated_exports': 'severity' must"),
        ('id = "off_hours_bulk_access"\ntimezone = "Mars/Base"', "'timezone' names no known"),
        ("threshold = 3", "table 1 has no 'id'"),
    ],
)
def test_a_malformed_rule_in_policy_is_refused_naming_it(
    ctx: AppContext, clinic: dict, env: dict, rule: str, message: str
) -> None:
    bad = _policy(ctx, env, f"[[policy.security_rules]]\n{rule}\n")
    before = row_count(ctx, AuditEvent), row_count(ctx, SystemAlert), row_count(ctx, Meta)
    with pytest.raises(ConfigError, match="policy security_rules") as err:
        security_monitoring.scan(bad)
    assert message in str(err.value)
    assert (row_count(ctx, AuditEvent), row_count(ctx, SystemAlert), row_count(ctx, Meta)) == before


def test_access_report_counts_per_user_and_is_audited(
    ctx: AppContext, clinic: dict, clock: Clock
) -> None:
    supervisor = clinic["users"][Role.SUPERVISOR]
    charts = _charts(ctx, clinic["other"], 60, "U")
    for i, pid in enumerate(charts):
        clock.now = local(14) + timedelta(seconds=9 * i)
        patients.get_patient(ctx, supervisor, pid)
    clock.now = local(16)
    patients.get_patient(ctx, clinic["users"][Role.CLINICIAN], clinic["mine"])

    report = security_monitoring.access_report(
        ctx, clinic["users"][Role.IT], since=local(13), until=local(17)
    )
    rows = {u.subject: u for u in report.users}
    assert (rows[supervisor.user_id].charts, rows[supervisor.user_id].unassigned_charts) == (60, 60)
    assert rows[supervisor.user_id].events == 60
    clin = rows[clinic["users"][Role.CLINICIAN].user_id]
    assert (clin.events, clin.charts, clin.unassigned_charts) == (1, 1, 0)
    assert rows[supervisor.user_id].username == "user.supervisor"
    assert {h.rule for h in report.hits} == {"unassigned_bulk_access", "outside_care_team"}
    assert row_count(ctx, SystemAlert) == 0  # a report raises nothing
    assert _ids(ctx, clinic["users"][Role.IT].user_id, "security.access_report")
    with pytest.raises(PermissionDeniedError):
        security_monitoring.access_report(ctx, clinic["users"][Role.CLINICIAN], since=date.today())


def test_cli_access_report_prints_the_hits(env: dict, tmp_path: Path) -> None:
    cenv = cli_env(env, tmp_path / "keyring.json")
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    for _ in range(5):  # someone guessing dr.adams's password
        assert cli_admin(cenv, "backups", user="dr.adams", password="guess").returncode == 1
    today = date.today().isoformat()
    out = cli_admin(cenv, "access-report", "--since", today, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    failures = [h for h in report["hits"] if h["rule"] == "signin_failures"]
    assert len(failures) == 1 and failures[0]["count"] == 5 and len(failures[0]["evidence"]) == 5
    adams = next(u for u in report["users"] if u["username"] == "dr.adams")
    assert adams["failed_signins"] == 5 and adams["subject"] == failures[0]["subject"]
    text_out = cli_admin(cenv, "access-report", "--since", today)
    assert text_out.returncode == 0 and "signin_failures" in text_out.stdout
    assert "account_locked" in text_out.stdout
    bad = cli_admin(cenv, "access-report", "--since", "last tuesday")
    assert bad.returncode != 0 and "not a date" in bad.stderr
    moved = cli_admin(cenv, "set-role", "dr.adams", "--role", "supervisor")
    assert moved.returncode == 0, moved.stderr
    after = json.loads(cli_admin(cenv, "access-report", "--since", today, "--json").stdout)
    roles = [h for h in after["hits"] if h["rule"] == "role_change"]
    assert roles and any(len(h["evidence"]) >= 1 for h in roles)
    audited = _count_actions(cenv, "security.access_report")
    assert audited == 3  # each report is audited (the refused one never ran)


def _count_actions(cenv: dict, action: str) -> int:
    """Audit events of one action in the CLI's store (read as a test, with its key)."""
    db = Path(cenv["NOVAMIND_DATA_DIR"]) / "novamind.db"
    entries = json.loads(Path(cenv["NOVAMIND_TEST_KEYRING_FILE"]).read_text())
    conn = connect_raw(db, bytes.fromhex(entries[f"novamind\x00db:{keys.store_id(db)}"]))
    try:
        row = conn.execute("SELECT COUNT(*) FROM audit_events WHERE action = ?", (action,))
        return int(row.fetchone()[0])
    finally:
        conn.close()


def test_change_role_refuses_own_account_and_the_last_admin(ctx: AppContext, clinic: dict) -> None:
    admin_user = clinic["users"][Role.ADMIN]
    with pytest.raises(ValidationError, match="your own role"):
        admin.change_role(ctx, admin_user, admin_user.username, Role.IT)
    add_user(ctx, "second.admin", Role.ADMIN)
    admin.change_role(ctx, admin_user, "second.admin", Role.IT)  # another admin remains
    with pytest.raises(ValidationError, match="last active administrator"):
        admin.change_role(ctx, cli_actor(), admin_user.username, Role.CLINICIAN)
    assert _ids(ctx, admin_user.user_id, "user.role_change")  # the one change, audited


def test_scan_of_an_empty_history_and_add_user_setup(ctx: AppContext) -> None:
    assert security_monitoring.scan(ctx) == []
    add_user(ctx, "someone", Role.CLINICIAN)  # an account created by IT at the workstation
    hits = security_monitoring.scan(ctx)
    assert [h.rule for h in hits] == ["role_change"] and hits[0].subject.startswith("os:")


def test_another_workstations_chain_is_scanned_when_it_arrives(
    ctx: AppContext, clinic: dict, clock: Clock, tmp_path: Path
) -> None:
    """Events copied from workstation B by sync (sync.audit_share, as a bundle delivers them)
    are scanned even when they arrive after this workstation's own scan of that hour."""
    other = load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp_path / "b"), "NOVAMIND_POLICY": str(tmp_path / "none")}
    )
    b = AppContext.open(other)
    try:
        for i in range(6):  # someone guessing names at workstation B
            clock.now = local(10, i)
            with pytest.raises(AuthenticationError):
                auth.login(b, f"guess{i}", "whatever")
        shared, _ = b.store.read(audit_share.pending)
    finally:
        b.close()
    assert security_monitoring.scan(ctx, now=local(10, 30)) == []  # nothing here yet

    def receive(s: Session) -> int:
        entries = audit_share.validate(shared)
        audit_share.check_links(s, "ws-b", entries)
        return audit_share.store(s, "ws-b", entries)

    assert ctx.store.write(lambda uow: receive(uow.session)) == len(shared)
    hits = security_monitoring.scan(ctx, now=local(10, 40))
    assert _hits(hits) == {("signin_failures", "device:ws-b"): 6}
    failed = {e["id"] for e in shared if e["action"] == "auth.login_failed"}
    assert set(hits[0].evidence) == failed


def test_off_hours_follow_the_clinic_time_zone_across_daylight_saving(
    ctx: AppContext, clinic: dict, clock: Clock, env: dict
) -> None:
    """London moves to BST at 01:00 UTC on 2027-03-28: on the 29th, 06:00-06:19 UTC is
    07:00-07:19 in London (working hours) but still off hours for a clinic on UTC."""
    me = clinic["users"][Role.CLINICIAN]
    for i, pid in enumerate(_charts(ctx, me, 20, "D")):
        clock.now = datetime(2027, 3, 29, 6, i, tzinfo=UTC)
        patients.get_patient(ctx, me, pid)
    since, now = datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 3, 29, 8, tzinfo=UTC)
    rule = '[[policy.security_rules]]\nid = "off_hours_bulk_access"\ntimezone = "{}"\n'
    london = _policy(ctx, env, rule.format("Europe/London"))
    assert security_monitoring.scan(london, now=now, since=since) == []
    it = clinic["users"][Role.IT]  # a report from the 27th spans the change (two offsets)
    report = security_monitoring.access_report(london, it, since=since, until=now)
    assert "off_hours_bulk_access" not in {h.rule for h in report.hits}
    on_utc = _policy(ctx, env, rule.format("UTC"))
    report = security_monitoring.access_report(on_utc, it, since=since, until=now)
    assert "off_hours_bulk_access" in {h.rule for h in report.hits}
    hits = security_monitoring.scan(on_utc, now=now, since=since)
    assert _hits(hits) == {
        ("off_hours_bulk_access", me.user_id): 20,
        ("policy_change", "device:this-workstation"): 1,  # retuning the rule is itself flagged
    }
