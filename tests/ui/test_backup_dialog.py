"""The backup & restore wizard: back up now, verify, restore (store closed, then reopened)."""

from __future__ import annotations

from sqlalchemy import func, select

from app.core.domain import Role
from app.core.store.models import ClinicalNote
from app.services import notes
from app.services.context import AppContext
from tests.conftest import make_user
from ui.backup_dialog import BackupDialog
from ui.tasks import TaskManager


def test_backup_verify_and_restore(qtbot, ctx: AppContext, clinic: dict) -> None:
    it = make_user(ctx, "it.person", Role.IT)
    tasks = TaskManager(ctx)
    restarted: list[int] = []

    def restart(while_closed) -> None:
        tasks.cancel_all()
        tasks.wait(10000)
        ctx.close()
        while_closed()
        reopened = AppContext.open(ctx.settings, create=False)
        restarted.append(
            reopened.store.read(lambda s: s.scalar(select(func.count()).select_from(ClinicalNote)))
        )
        reopened.close()

    dialog = BackupDialog(ctx, it, tasks, restart)
    qtbot.addWidget(dialog)
    dialog.take_backup()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=30000)
    assert "written and verified" in dialog.message.text()
    dialog.verify_selected()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("Verified"), timeout=30000)
    # a note written after the backup is gone once the backup is restored
    notes.create_draft(ctx, clinic["users"][Role.CLINICIAN], clinic["mine"], "after", "x")
    dialog.restore_selected(confirm=False)
    assert restarted == [0]
    # after the restart the wizard offers to discard the store kept aside
    reopened = AppContext.open(ctx.settings, create=False)
    try:
        again = BackupDialog(reopened, it, TaskManager(reopened), restart)
        qtbot.addWidget(again)
        assert again.confirm_button.isVisibleTo(again) and again.previous
        again.confirm_button.click()
        assert not list(ctx.settings.data_dir.glob("pre-restore-*"))
    finally:
        reopened.close()
