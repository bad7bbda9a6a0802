"""System health on a real store: each critical condition raises exactly one alert, a healthy
workstation raises none, and `novamind doctor` prints the same items (failing on critical)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.domain import Role
from app.core.errors import ConfigError, PermissionDeniedError
from app.core.store.models import SystemAlert
from app.services import backup, sync_service, system_health
from app.services.context import AppContext, cli_actor
from app.services.system_alerts import list_system_alerts
from sync.transport import Transport
from tests.conftest import cli_env
from tests.integration.sync.helpers import (
    Bucket,
    Workstation,
    add_patients,
    make_bucket,
    open_workstation,
)
from tests.support.cli import run
from tests.support.moto import running_moto
from tests.support.records import make_user


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


def _health_alerts(ctx: AppContext) -> list[tuple[str, str]]:
    """(rule, status) of every health alert in the store, open or not."""
    q = select(SystemAlert.rule, SystemAlert.status).where(SystemAlert.source == "health")
    return ctx.store.read(lambda s: sorted((r, st) for r, st in s.execute(q).all()))


def _item(report: system_health.HealthReport, name: str) -> system_health.HealthItem:
    return next(i for i in report.items if i.name == name)


def test_healthy_workstation_raises_nothing(ctx: AppContext) -> None:
    backup.create_backup(ctx, cli_actor())
    report = system_health.check(ctx)
    assert report.status != "critical", report.items
    assert _item(report, "backup").status == "ok"
    assert _item(report, "sync").value == "not enrolled"
    assert _item(report, "models").value.endswith("active")
    raised = system_health.raise_critical(ctx)
    assert raised.raised == [] and _health_alerts(ctx) == []


def test_stale_backup_raises_one_alert(ctx: AppContext) -> None:
    m = backup.create_backup(ctx, cli_actor())
    hours = ctx.settings.backup_interval_hours  # 24 by default; overdue after 2 x
    due = system_health.check(ctx, now=m.created + timedelta(hours=hours, minutes=1))
    assert _item(due, "backup").status == "warning"  # due, not yet critical
    late = m.created + timedelta(hours=2 * hours, minutes=1)
    first = system_health.raise_critical(ctx, now=late)
    again = system_health.raise_critical(ctx, now=late + timedelta(hours=1))
    assert len(first.raised) == 1 and again.raised == []
    assert _health_alerts(ctx) == [("backup_overdue", "new")]
    assert _item(first.report, "backup").value == f"last verified {2 * hours / 24:.1f} d ago"


def test_no_backup_is_critical_only_once_the_store_is_old_enough(ctx: AppContext) -> None:
    make_user(ctx, "first.user", Role.CLINICIAN)  # the store's age runs from its first event
    now = datetime.now(UTC)
    assert _item(system_health.check(ctx, now=now), "backup").status == "warning"
    old = system_health.raise_critical(ctx, now=now + timedelta(hours=49))
    assert [a.rule for a in _alerts(ctx)] == ["backup_overdue"] and len(old.raised) == 1


def _alerts(ctx: AppContext) -> list:
    it = make_user(ctx, "it.viewer", Role.IT)
    return list_system_alerts(ctx, it, source="health")


def test_low_disk_raises_one_alert_from_policy(ctx: AppContext) -> None:
    backup.create_backup(ctx, cli_actor())
    tight = AppContext(
        replace(ctx.settings, operations={"health": {"min_free_disk_gb": 10**7}}),
        ctx.store,
        ctx.bus,
    )
    report = system_health.raise_critical(tight).report
    assert _item(report, "free disk").status == "critical"
    system_health.raise_critical(tight)
    assert _health_alerts(ctx) == [("low_disk", "new")]
    bad = AppContext(
        replace(ctx.settings, operations={"health": {"min_free_gb": 1}}), ctx.store, ctx.bus
    )
    with pytest.raises(ConfigError, match="min_free_gb"):
        system_health.check(bad)  # a typo in the policy is refused, not ignored


def test_only_it_and_supervisors_see_health(ctx: AppContext, clinic: dict) -> None:
    users = clinic["users"]
    for role in (Role.IT, Role.SUPERVISOR):
        assert system_health.check(ctx, users[role]).items
    for role in (Role.CLINICIAN, Role.RESEARCHER, Role.ADMIN):
        with pytest.raises(PermissionDeniedError):
            system_health.check(ctx, users[role])


# ---- sync: a real bucket on a loopback moto server -------------------------------------------


@pytest.fixture
def bucket(moto_url: str, tmp_path: Path) -> Bucket:
    return make_bucket(moto_url, tmp_path)


def _flip_first_bundle(bucket: Bucket, device: str) -> None:
    s3 = bucket.s3()
    keys = sorted(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket.name)["Contents"]
        if "/dev/" in o["Key"] and device in o["Key"]
    )
    blob = bytearray(s3.get_object(Bucket=bucket.name, Key=keys[0])["Body"].read())
    blob[len(blob) // 2] ^= 0x01
    s3.put_object(Bucket=bucket.name, Key=keys[0], Body=bytes(blob))


def _device(ws: Workstation) -> str:
    from sync import state

    return ws.ctx.store.read(lambda s: state.get(s, state.DEVICE_ID))


def test_quarantined_bundle_raises_one_alert(bucket: Bucket, tmp_path: Path) -> None:
    a = open_workstation(tmp_path, "ws-a", bucket)
    b = open_workstation(tmp_path, "ws-b", bucket)
    try:
        add_patients(a, 2, "Q")
        a.sync()
        b.sync()  # b merges a's first bundle: a cursor for a
        add_patients(a, 1, "R")
        a.sync()
        _flip_first_bundle(bucket, _device(a) + "/000000000002")
        b.sync()
        assert sync_service.sync_status(b.ctx).quarantined == 1
        backup.create_backup(b.ctx, cli_actor())
        first = system_health.raise_critical(b.ctx)
        second = system_health.raise_critical(b.ctx)
        assert len(first.raised) == 1 and second.raised == []
        assert _health_alerts(b.ctx) == [("sync_quarantine", "new")]
        quarantine = _item(first.report, "sync quarantine")
        assert quarantine.value == "1 bundle(s)" and quarantine.subject == _device(b)
        lag = _item(first.report, f"sync lag {_device(a)[:8]}")
        assert lag.status == "ok" and lag.value.endswith("min")
    finally:
        a.close()
        b.close()


def test_sync_failing_for_a_day_raises_one_alert(bucket: Bucket, tmp_path: Path) -> None:
    ws = open_workstation(tmp_path, "ws-a", bucket)
    try:
        ws.sync()
        backup.create_backup(ws.ctx, cli_actor())
        dead = Transport(
            replace(bucket.endpoint(), endpoint_url="http://127.0.0.1:9"),
            attempts=1,
            base_delay=0.01,
        )
        with pytest.raises(ConfigError, match="Sync failed"):
            sync_service.run_sync(ws.ctx, dead)
        started = datetime.now(UTC)
        early = system_health.raise_critical(ws.ctx, now=started + timedelta(hours=2))
        failures = _item(early.report, "sync failures")
        assert failures.status == "warning" and early.raised == []
        assert "TransportError" in failures.detail
        with pytest.raises(ConfigError):
            sync_service.run_sync(ws.ctx, dead)  # still failing: the streak keeps its start
        late = started + timedelta(hours=24, minutes=1)
        day = system_health.raise_critical(ws.ctx, now=late)
        assert _item(day.report, "sync failures").status == "critical"
        assert len(day.raised) == 1
        assert system_health.raise_critical(ws.ctx, now=late).raised == []
        rules = [r for r, _ in _health_alerts(ws.ctx)]
        assert rules.count("sync_failing") == 1
        ws.sync()  # a good sync ends the streak
        assert _item(system_health.check(ws.ctx, now=late), "sync failures").status == "ok"
    finally:
        ws.close()


# ---- novamind doctor --------------------------------------------------------------------------


def test_doctor_prints_health_and_fails_on_critical(env: dict, tmp_path: Path) -> None:
    cenv = cli_env(env, tmp_path / "keyring.json")
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    out = run(cenv, "doctor")
    lines = out.stdout.splitlines()
    assert any(line.startswith("[ok  ] health: free disk") for line in lines), out.stdout
    assert any(line.startswith("[warn] health: backup") for line in lines), out.stdout
    assert any("health: models" in line and "active" in line for line in lines)
    assert not any(line.startswith("[fail") for line in lines), out.stdout
    Path(cenv["NOVAMIND_POLICY"]).write_text(
        "[policy.operations.health]\nmin_free_disk_gb = 10000000\n", encoding="utf-8"
    )
    low = run(cenv, "doctor")
    assert low.returncode == 1
    low_lines = low.stdout.splitlines()
    assert any(line.startswith("[fail] health: free disk") for line in low_lines)
    policy = next(line for line in low_lines if "health: policy" in line)
    assert policy.startswith("[ok  ]") and "sha256 " in policy  # which policy file applies
