"""Which clinic-operations checks are due, and running them: the app calls this on sign-in and
every hour, so checks happen without anyone remembering them.

Model monitoring runs every `models.check_interval_days`, the security scan every
`security.scan_interval_minutes`, system health on every call. When each check last ran is
kept in the store's meta table, so a restart does not run them all again. Each check's module
is imported lazily and each call guarded: one that fails (or is not installed) is reported by
its error class and retried on the next call, and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import ValidationError
from app.core.store.models import Meta
from app.core.store.store import UnitOfWork
from app.services import ops_policy
from app.services.context import AppContext

log = logging.getLogger(__name__)
META_PREFIX = "ops.last_run."


@dataclass(frozen=True)
class ScheduledCheck:
    """One check, called as `run(ctx, now=now)` when `interval` has passed since it last ran."""

    name: str
    run: Callable[..., object]
    interval: Callable[[AppContext], timedelta]


# Each check imports its module only when it runs (an import error fails that check alone);
# plain import statements, so the packaged app (PyInstaller) finds the modules.
def _model_check(ctx: AppContext, *, now: datetime) -> object:
    from app.services import model_monitoring

    return model_monitoring.run_check(ctx, now=now)


def _security_scan(ctx: AppContext, *, now: datetime) -> object:
    from app.services import security_monitoring

    return security_monitoring.scan(ctx, now=now)


def _health(ctx: AppContext, *, now: datetime) -> object:
    from app.services import system_health

    return system_health.raise_critical(ctx, now=now)


def _models_interval(ctx: AppContext) -> timedelta:
    return timedelta(days=ops_policy.section(ctx.settings, "models")["check_interval_days"])


def _security_interval(ctx: AppContext) -> timedelta:
    return timedelta(minutes=ops_policy.section(ctx.settings, "security")["scan_interval_minutes"])


CHECKS: tuple[ScheduledCheck, ...] = (
    ScheduledCheck("models", _model_check, _models_interval),
    ScheduledCheck("security", _security_scan, _security_interval),
    ScheduledCheck("health", _health, lambda _c: timedelta()),
)


@dataclass(frozen=True)
class DueChecks:
    """What one call did: checks run, checks not yet due, and failures by error class."""

    ran: list[str] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    next_due: dict[str, datetime] = field(default_factory=dict)


def last_runs(ctx: AppContext) -> dict[str, datetime]:
    """When each check last completed (checks that never ran are absent)."""

    def read(session: Session) -> dict[str, datetime]:
        rows = session.scalars(select(Meta).where(Meta.key.startswith(META_PREFIX)))
        return {m.key[len(META_PREFIX) :]: datetime.fromisoformat(m.value) for m in rows}

    return ctx.store.read(read)


def _mark_run(ctx: AppContext, name: str, at: datetime) -> None:
    def do(uow: UnitOfWork) -> None:
        key = META_PREFIX + name
        row = uow.session.get(Meta, key)
        if row is None:
            uow.session.add(Meta(key=key, value=at.isoformat()))
        else:
            row.value = at.isoformat()

    ctx.store.write(do)


def run_due_checks(
    ctx: AppContext,
    *,
    now: datetime | None = None,
    checks: tuple[ScheduledCheck, ...] = CHECKS,
) -> DueChecks:
    """Run every check whose interval has passed since it last completed (health: always)."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("The check time must carry a time zone.")
    last = last_runs(ctx)
    out = DueChecks()
    for check in checks:
        interval = check.interval(ctx)
        previous = last.get(check.name)
        if previous is not None and now - previous < interval:
            out.not_due.append(check.name)
            out.next_due[check.name] = previous + interval
            continue
        try:
            check.run(ctx, now=now)
        except Exception as exc:  # noqa: BLE001 — one broken check must not stop the others
            out.failed[check.name] = type(exc).__name__
            log.warning("scheduled %s check failed: %s", check.name, type(exc).__name__)
            continue
        _mark_run(ctx, check.name, now)
        out.ran.append(check.name)
        out.next_due[check.name] = now + interval
    return out
