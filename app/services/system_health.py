"""System health: is this workstation syncing, backed up, roomy and running known models?

One report (`check`) feeds the dashboard's Health page and `novamind doctor`; `raise_critical`
turns its critical items into system alerts (source "health") so IT and supervisors learn of
a workstation that has not been backed up, cannot sync, holds quarantined bundles or is out
of disk. Items carry names, ages, counts and device ids only, never PHI. Thresholds come
from policy (`[policy.operations.health]`) and `backup_interval_hours`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.domain import Action, Principal
from app.core.errors import NovamindError, PermissionDeniedError
from app.core.security import rbac
from app.core.store.models import AuditEvent, SyncCursor, SyncQuarantine
from app.core.store.store import SYSTEM, Actor, UnitOfWork
from app.services import backup, ops_policy
from app.services.context import AppContext
from app.services.sync_service import FAILING_SINCE, LAST_FAILURE
from app.services.system_alerts import raise_system_alert
from sync import membership, state
from sync.hlc import Clock
from sync.identity import TrustError
from sync.registry import Registry

STATUSES = ("ok", "warning", "critical")
GB = 1024**3


@dataclass(frozen=True)
class HealthItem:
    """One line of the report; `rule` names the system alert a critical item raises."""

    name: str
    status: str  # ok | warning | critical
    value: str
    detail: str = ""
    rule: str = ""
    subject: str = ""
    evidence: tuple[Any, ...] = ()


@dataclass(frozen=True)
class HealthReport:
    checked_at: datetime
    items: tuple[HealthItem, ...]

    @property
    def status(self) -> str:
        """The worst status of any item."""
        return max((i.status for i in self.items), key=STATUSES.index, default="ok")

    def critical(self) -> list[HealthItem]:
        return [i for i in self.items if i.status == "critical"]


@dataclass(frozen=True)
class _Facts:
    """What one store read tells: sync state, cursors, quarantine, audit times."""

    device: str
    enrolled: bool
    last_sync: str
    last_failure: str
    failing_since: str
    cursors: dict[str, str]
    registry_devices: tuple[str, ...] | None
    quarantine: tuple[str, ...]
    verified_backups: frozenset[str]
    first_event_at: datetime | None


def _registry_devices(s: Session) -> tuple[str, ...] | None:
    ident = membership.identity(s)
    if ident is None:
        return None
    try:
        reg = Registry.from_meta(ident.clinic_id, ident.it_public, state.get(s, state.REGISTRY))
    except (TrustError, ValueError):
        return None
    return tuple(reg.active_devices())


def _facts(s: Session) -> _Facts:
    verified = s.scalars(
        select(AuditEvent.record_id).where(AuditEvent.action == "backup.create")
    ).all()
    return _Facts(
        device=state.get(s, state.DEVICE_ID),
        enrolled=membership.identity(s) is not None,
        last_sync=state.get(s, state.LAST_SYNC),
        last_failure=state.get(s, LAST_FAILURE),
        failing_since=state.get(s, FAILING_SINCE),
        cursors={c.device_id: c.max_clock for c in s.scalars(select(SyncCursor))},
        registry_devices=_registry_devices(s),
        quarantine=tuple(s.scalars(select(SyncQuarantine.id).order_by(SyncQuarantine.id))),
        verified_backups=frozenset(verified),
        first_event_at=s.scalar(select(func.min(AuditEvent.at))),
    )


def _when(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _json_dict(text: str) -> dict[str, Any]:
    """A meta value written as a JSON object ({} when unset or unreadable)."""
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _age(delta: timedelta) -> str:
    """A short human age: 40 min, 5.2 h, 3.0 d."""
    secs = max(delta.total_seconds(), 0.0)
    if secs < 3600:
        return f"{secs / 60:.0f} min"
    if secs < 48 * 3600:
        return f"{secs / 3600:.1f} h"
    return f"{secs / 86400:.1f} d"


def _sync_items(f: _Facts, policy: dict[str, float], now: datetime) -> list[HealthItem]:
    if not f.enrolled:
        return [HealthItem("sync", "ok", "not enrolled", "This workstation does not sync.")]
    last = _when(f.last_sync)
    items = [
        HealthItem(
            "sync",
            "ok" if last else "warning",
            f"last synced {_age(now - last)} ago" if last else "never synced",
        )
    ]
    failure = _json_dict(f.last_failure)
    since = _when(f.failing_since) if f.failing_since else None
    limit = timedelta(hours=policy["sync_failing_hours"])
    if since is None:
        detail = f"last failure {failure.get('at', '')[:16]} ({failure.get('class')})"
        items.append(HealthItem("sync failures", "ok", "none", detail if failure else ""))
    else:
        failing = now - since
        critical = failing >= limit
        items.append(
            HealthItem(
                "sync failures",
                "critical" if critical else "warning",
                f"failing for {_age(failing)}",
                f"last error: {failure.get('class', '?')} at {failure.get('at', '')[:16]}",
                rule="sync_failing" if critical else "",
                subject=f.device,
                evidence=(
                    {
                        "failing_hours": round(failing.total_seconds() / 3600, 1),
                        "error": failure.get("class", ""),
                    },
                ),
            )
        )
    items += _lag_items(f, policy, now)
    n = len(f.quarantine)
    items.append(
        HealthItem(
            "sync quarantine",
            "critical" if n else "ok",
            f"{n} bundle(s)",
            "Bundles that failed verification; nothing of them merged." if n else "",
            rule="sync_quarantine" if n else "",
            subject=f.device,
            evidence=({"bundles": n}, *f.quarantine[:20]),
        )
    )
    return items


def _lag_items(f: _Facts, policy: dict[str, float], now: datetime) -> list[HealthItem]:
    """Per other device: how old the newest change received from it is."""
    devices = set(f.cursors) | set(f.registry_devices or ())
    devices.discard(f.device)
    warn = timedelta(hours=policy["device_lag_warning_hours"])
    out = []
    for device in sorted(devices):
        clock = f.cursors.get(device, "")
        try:
            newest = datetime.fromtimestamp(Clock.parse(clock).ms / 1000, UTC) if clock else None
        except ValueError:
            newest = None
        if newest is None:
            out.append(HealthItem(f"sync lag {device[:8]}", "warning", "nothing received yet"))
            continue
        lag = now - newest
        out.append(
            HealthItem(
                f"sync lag {device[:8]}",
                "warning" if lag > warn else "ok",
                f"{_age(lag)}",
                "age of the newest change received from this device",
            )
        )
    return out


def _backup_item(ctx: AppContext, f: _Facts, policy: dict[str, float], now: datetime) -> HealthItem:
    interval = timedelta(hours=ctx.settings.backup_interval_hours)
    overdue = interval * policy["backup_overdue_factor"]
    verified = [m for m in backup.list_backups(ctx.settings) if m.backup_id in f.verified_backups]
    newest = max((m.created for m in verified), default=None)
    if newest is None:
        since = now - (f.first_event_at or now)
        critical = since >= overdue
        return HealthItem(
            "backup",
            "critical" if critical else "warning",
            "no verified backup",
            "IT runs 'novamind admin backup' or enables scheduled backups.",
            rule="backup_overdue" if critical else "",
            subject="backup",
            evidence=({"hours_without_backup": round(since.total_seconds() / 3600, 1)},),
        )
    age = now - newest
    status = "critical" if age >= overdue else "warning" if age >= interval else "ok"
    return HealthItem(
        "backup",
        status,
        f"last verified {_age(age)} ago",
        f"policy interval {ctx.settings.backup_interval_hours} h",
        rule="backup_overdue" if status == "critical" else "",
        subject="backup",
        evidence=({"backup_age_hours": round(age.total_seconds() / 3600, 1)},),
    )


def _disk_items(ctx: AppContext, policy: dict[str, float]) -> list[HealthItem]:
    db = ctx.settings.db_path
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    free = shutil.disk_usage(db.parent).free
    low = policy["min_free_disk_gb"] * GB
    status = "critical" if free < low else "warning" if free < 2 * low else "ok"
    return [
        HealthItem("store size", "ok", f"{size / 1024**2:.1f} MB"),
        HealthItem(
            "free disk",
            status,
            f"{free / GB:.1f} GB",
            f"minimum {policy['min_free_disk_gb']:g} GB",
            rule="low_disk" if status == "critical" else "",
            subject="data folder",
            evidence=({"free_gb": round(free / GB, 2), "min_gb": policy["min_free_disk_gb"]},),
        ),
    ]


def _model_item(ctx: AppContext) -> HealthItem:
    """The prediction models' active versions: the clinic's trained ones where IT installed
    and trusts them, else the shipped demo models (versions only: nothing is loaded)."""
    from app.services import predictions
    from engines.xgb.registry import ModelRegistry

    try:
        shipped = predictions.registry()
        keys = predictions.clinic_trusted_keys(ctx.settings)
        root = predictions.clinic_registry_dir(ctx.settings)
        clinic = ModelRegistry(root, keys, read_only=True) if keys and root.is_dir() else None
        parts = []
        for name in sorted(set(shipped.names()) | set(clinic.names() if clinic else ())):
            own = clinic.active_version(name) if clinic else None
            version = own or shipped.active_version(name)
            if version is not None:
                parts.append(f"{name} v{version}{'' if own else ' (demo)'}")
    except NovamindError as exc:
        return HealthItem("models", "warning", "cannot read", type(exc).__name__)
    return HealthItem("models", "ok", f"{len(parts)} active", "; ".join(parts))


def _other_models_item(ctx: AppContext) -> HealthItem:
    """The actigraphy depression screen's version and the note-analysis models installed."""
    from engines.errors import EngineError
    from engines.llm.manager import ModelManager
    from engines.pat.screen import MODEL_VERSION

    try:
        manager = ModelManager(ctx.settings.model_dirs, ctx.settings.model_manifest or None)
        found = manager.discover()
    except (EngineError, OSError) as exc:
        return HealthItem("other models", "warning", "cannot read", type(exc).__name__)
    usable = [e for e in found if e.usable]
    llm = ", ".join(f"{e.label}{' (demo)' if e.is_demo else ''}" for e in usable) or "none"
    status = "warning" if len(usable) < len(found) else "ok"
    return HealthItem(
        "other models",
        status,
        f"screen v{MODEL_VERSION}; {len(usable)} note model(s)",
        f"depression screen v{MODEL_VERSION}; note analysis: {llm}"
        + (f"; {len(found) - len(usable)} unreadable model file(s)" if status != "ok" else ""),
    )


def _policy_item(ctx: AppContext) -> HealthItem:
    path: Path | None = ctx.settings.policy_path
    if path is None or not path.exists():
        return HealthItem("policy", "warning", "built-in defaults", f"no site policy at {path}")
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        return HealthItem("policy", "warning", "unreadable", f"{path} ({type(exc).__name__})")
    return HealthItem("policy", "ok", f"sha256 {digest}", f"{path}")


def _authorize(principal: Principal | None) -> None:
    if principal is None:
        return
    caps = rbac.capabilities(principal)
    if not caps & {Action.OPERATE_SYSTEM, Action.MONITOR_OPERATIONS}:
        raise PermissionDeniedError("Only IT and supervisors see system health.")


def check(
    ctx: AppContext, principal: Principal | None = None, *, now: datetime | None = None
) -> HealthReport:
    """The health report. A signed-in principal needs OPERATE_SYSTEM or MONITOR_OPERATIONS;
    None is the workstation itself (doctor, the scheduler), which already holds the store key."""
    _authorize(principal)
    now = now or datetime.now(UTC)
    policy = ops_policy.section(ctx.settings, "health")
    f = ctx.store.read(_facts)
    items = [
        *_sync_items(f, policy, now),
        _backup_item(ctx, f, policy, now),
        *_disk_items(ctx, policy),
        _model_item(ctx),
        _other_models_item(ctx),
        _policy_item(ctx),
    ]
    return HealthReport(now, tuple(items))


@dataclass(frozen=True)
class RaisedHealth:
    report: HealthReport
    raised: list[str] = field(default_factory=list)  # new system-alert ids


def raise_critical(
    ctx: AppContext, *, now: datetime | None = None, actor: Actor = SYSTEM
) -> RaisedHealth:
    """Raise one system alert per critical condition (an open one is not raised again)."""
    report = check(ctx, now=now)
    alertable = [i for i in report.critical() if i.rule]
    if not alertable:
        return RaisedHealth(report)

    def do(uow: UnitOfWork) -> list[str]:
        out = []
        for item in alertable:
            alert = raise_system_alert(
                uow,
                actor,
                source="health",
                rule=item.rule,
                severity="critical",
                subject=item.subject,
                summary=f"{item.name}: {item.value}",
                evidence=list(item.evidence),
            )
            if alert is not None:
                out.append(alert)
        return out

    return RaisedHealth(report, ctx.store.write(do))
