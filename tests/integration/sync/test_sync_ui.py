"""Sync in the desktop: the status-bar text, a background sync, and resolving a conflict."""

from __future__ import annotations

from app.core.domain import Role
from app.services import admin, sync_service
from app.services.context import cli_actor
from tests.conftest import make_user
from tests.integration.sync.helpers import Workstation, add_patients, edit_patient
from ui.sync_panel import ConflictDialog, SyncController, status_text
from ui.tasks import TaskManager


def _round(ws: list[Workstation]) -> None:
    for _ in range(2):
        for w in ws:
            w.sync()


def test_status_background_sync_and_conflict_dialog(qtbot, stations: list[Workstation]) -> None:
    a, b, _ = stations
    assert status_text(sync_service.sync_status(a.ctx)).startswith("Sync: never synced")
    (pid,) = add_patients(a, 1, "A")
    _round([a, b])
    edit_patient(a, pid, family_name="Value-from-A")
    edit_patient(b, pid, family_name="Value-from-B")
    b.sync()
    tasks = TaskManager(a.ctx)
    controller = SyncController(a.ctx, tasks)
    texts: list[str] = []
    controller.status_changed.connect(texts.append)
    controller.sync_now()  # background: pushes A's edit, pulls B's, finds the conflict
    qtbot.waitUntil(
        lambda: not controller.running and texts and "conflict" in texts[-1], timeout=60000
    )
    assert "1 conflict(s)" in texts[-1] and "last " in texts[-1]
    me = make_user(a.ctx, "sync.doc", Role.CLINICIAN)
    admin.assign_care_team(a.ctx, cli_actor(), username="sync.doc", patient_id=pid)
    dialog = ConflictDialog(a.ctx, me, tasks)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=20000)
    assert {dialog.table.item(0, 2).text(), dialog.table.item(0, 3).text()} == {
        "Value-from-A",
        "Value-from-B",
    }
    dialog.table.selectRow(0)
    dialog.keep_remote.click()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=20000)
    assert sync_service.sync_status(a.ctx).open_conflicts == 0
    dialog.close()
    dialog.deleteLater()
    tasks.cancel_all()
    tasks.wait(10000)
