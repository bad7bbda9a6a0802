"""The desktop's sync controller with a gateway in the policy: an alert raised on A syncs A
promptly and tells the gateway; B's controller syncs on the hint (on the GUI thread) and B's
store has the alert in seconds, long before the 5-minute poll. The status line says
"instant" while the hint socket is up; without a gateway in the policy it says nothing of it."""

from __future__ import annotations

import time

from pytestqt.qtbot import QtBot
from sqlalchemy import select

from app.core.domain import Role
from app.core.store.models import Alert
from app.services import assessments, sync_service
from tests.integration.gateway.hints.conftest import Site
from tests.integration.sync.helpers import Workstation
from tests.support.records import add_patient, make_user
from ui.sync_panel import SyncController
from ui.tasks import TaskManager

PHQ9_ITEM9 = {f"q{i}": v for i, v in enumerate([1, 1, 1, 0, 1, 1, 1, 0, 2], start=1)}


def alerts(ws: Workstation) -> set[str]:
    return set(ws.ctx.store.read(lambda s: list(s.scalars(select(Alert.id)))))


def test_an_alert_on_a_reaches_b_through_the_controllers(qtbot: QtBot, site: Site) -> None:
    a, b = site.stations("ws-qa", "ws-qb")
    clinician = make_user(a.ctx, "dr.gamma", Role.CLINICIAN)
    pid = add_patient(a.ctx, clinician, "MRN-QT-1")
    a.sync()
    b.sync()
    tasks_a, tasks_b = TaskManager(a.ctx), TaskManager(b.ctx)
    ctl_a, ctl_b = SyncController(a.ctx, tasks_a), SyncController(b.ctx, tasks_b)
    texts: list[str] = []
    ctl_b.status_changed.connect(texts.append)
    try:
        ctl_a.start()
        ctl_b.start()
        qtbot.waitUntil(lambda: ctl_a.live and ctl_b.live, timeout=20000)
        qtbot.waitUntil(lambda: not ctl_a.running and not ctl_b.running, timeout=30000)
        qtbot.waitUntil(lambda: any("instant" in t for t in texts), timeout=10000)
        t0 = time.perf_counter()
        assessments.submit(a.ctx, clinician, pid, "phq9", dict(PHQ9_ITEM9))
        (new,) = alerts(a) - alerts(b)
        qtbot.waitUntil(lambda: new in alerts(b), timeout=10000)
        elapsed = time.perf_counter() - t0
        print(f"\nalert on A -> B through the desktop controllers: {1000 * elapsed:.0f} ms")
        assert elapsed < 5  # the poll is 5 minutes away; a GUI event loop adds its own delays
    finally:
        ctl_a.stop()
        ctl_b.stop()
        for t in (tasks_a, tasks_b):
            t.cancel_all()
            t.wait(10000)
        a.close()
        b.close()


def test_without_a_gateway_the_controller_polls_only(qtbot: QtBot, site: Site) -> None:
    (a,) = site.stations("ws-qn", hints=False)
    tasks = TaskManager(a.ctx)
    ctl = SyncController(a.ctx, tasks)
    texts: list[str] = []
    ctl.status_changed.connect(texts.append)
    try:
        ctl.start()
        assert ctl.instant is None and ctl.timer.isActive()
        qtbot.waitUntil(lambda: not ctl.running and texts and "last " in texts[-1], timeout=30000)
        assert not any("instant" in t or "gateway" in t for t in texts)
        assert sync_service.sync_status(a.ctx).last_sync_at
    finally:
        ctl.stop()
        tasks.cancel_all()
        tasks.wait(10000)
        a.close()
