"""The operations schedule: each check runs when due and not before, a failing check does not
stop the others (and is retried), and last-run times survive a restart of the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.core.config import Settings
from app.core.errors import ValidationError
from app.core.store.models import SystemAlert
from app.services import ops_schedule
from app.services.context import AppContext
from app.services.ops_schedule import ScheduledCheck

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Recorder:
    """Checks that note when they ran (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.broken: set[str] = set()

    def fn(self, name: str) -> Callable[..., object]:
        def run(ctx: AppContext, *, now: datetime) -> None:
            if name in self.broken:
                raise RuntimeError("check broke")
            self.calls.append((name, now))

        return run

    def checks(self) -> tuple[ScheduledCheck, ...]:
        return (
            ScheduledCheck("models", self.fn("models"), ops_schedule._models_interval),
            ScheduledCheck("security", self.fn("security"), ops_schedule._security_interval),
            ScheduledCheck("health", self.fn("health"), lambda _c: timedelta()),
        )

    def ran_at(self, now: datetime) -> list[str]:
        return [n for n, t in self.calls if t == now]


def test_each_check_runs_when_due_and_not_before(ctx: AppContext) -> None:
    rec = Recorder()
    checks = rec.checks()
    first = ops_schedule.run_due_checks(ctx, now=T0, checks=checks)
    assert first.ran == ["models", "security", "health"] and not first.failed
    assert first.next_due["security"] == T0 + timedelta(minutes=60)

    t = T0 + timedelta(minutes=59)
    out = ops_schedule.run_due_checks(ctx, now=t, checks=checks)
    assert out.ran == ["health"] and out.not_due == ["models", "security"]

    t = T0 + timedelta(minutes=60)  # the policy's scan interval, exactly
    assert ops_schedule.run_due_checks(ctx, now=t, checks=checks).ran == ["security", "health"]

    t = T0 + timedelta(days=7) - timedelta(seconds=1)
    early = ops_schedule.run_due_checks(ctx, now=t, checks=checks)
    assert early.ran == ["security", "health"] and early.not_due == ["models"]
    t = T0 + timedelta(days=7)  # the policy's weekly model check, exactly
    assert ops_schedule.run_due_checks(ctx, now=t, checks=checks).ran == ["models", "health"]
    assert [n for n, _ in rec.calls].count("models") == 2
    assert [n for n, _ in rec.calls].count("security") == 3
    assert [n for n, _ in rec.calls].count("health") == 5


def test_intervals_come_from_policy(ctx: AppContext, settings: Settings) -> None:
    rec = Recorder()
    fast = AppContext(
        replace(settings, operations={"security": {"scan_interval_minutes": 5}}),
        ctx.store,
        ctx.bus,
    )
    ops_schedule.run_due_checks(fast, now=T0, checks=rec.checks())
    t = T0 + timedelta(minutes=5)
    assert "security" in ops_schedule.run_due_checks(fast, now=t, checks=rec.checks()).ran


def test_one_failing_check_does_not_stop_the_others_and_is_retried(ctx: AppContext) -> None:
    rec = Recorder()
    rec.broken.add("models")
    out = ops_schedule.run_due_checks(ctx, now=T0, checks=rec.checks())
    assert out.failed == {"models": "RuntimeError"}
    assert out.ran == ["security", "health"] and rec.ran_at(T0) == ["security", "health"]
    assert "models" not in ops_schedule.last_runs(ctx)  # not marked: tried again next time
    rec.broken.clear()
    t = T0 + timedelta(minutes=1)
    assert ops_schedule.run_due_checks(ctx, now=t, checks=rec.checks()).ran == ["models", "health"]


def test_last_run_times_survive_a_restart(settings: Settings) -> None:
    rec = Recorder()
    ctx = AppContext.open(settings)
    try:
        ops_schedule.run_due_checks(ctx, now=T0, checks=rec.checks())
    finally:
        ctx.close()
    reopened = AppContext.open(settings, create=False)
    try:
        assert ops_schedule.last_runs(reopened) == {"models": T0, "security": T0, "health": T0}
        t = T0 + timedelta(minutes=10)
        out = ops_schedule.run_due_checks(reopened, now=t, checks=rec.checks())
        assert out.ran == ["health"] and out.not_due == ["models", "security"]
    finally:
        reopened.close()


def test_a_time_without_zone_is_refused_and_changes_nothing(ctx: AppContext) -> None:
    rec = Recorder()
    with pytest.raises(ValidationError):
        ops_schedule.run_due_checks(ctx, now=datetime(2026, 12, 7, 9, 0), checks=rec.checks())
    assert rec.calls == [] and ops_schedule.last_runs(ctx) == {}


def test_the_real_schedule_raises_health_alerts(ctx: AppContext) -> None:
    """The shipped checks: health runs every call and raises its alert once (the models and
    security checks run or fail on their own; either way health is not held up)."""
    tight = AppContext(
        replace(ctx.settings, operations={"health": {"min_free_disk_gb": 10**7}}),
        ctx.store,
        ctx.bus,
    )
    first = ops_schedule.run_due_checks(tight, now=T0)
    second = ops_schedule.run_due_checks(tight, now=T0 + timedelta(minutes=1))
    assert "health" in first.ran and "health" in second.ran
    assert set(first.ran) | set(first.failed) == {"models", "security", "health"}
    rules = ctx.store.read(
        lambda s: s.scalars(select(SystemAlert.rule).where(SystemAlert.source == "health")).all()
    )
    assert rules.count("low_disk") == 1
