"""An enrolled workstation that has not synced yet has no accounts, but its accounts come from
the clinic: the shell shows the sign-in page, never the first-run page that creates an admin."""

from __future__ import annotations

from sync import state
from ui import shell as shell_mod


def test_enrolled_workstation_without_accounts_shows_sign_in(qtbot, ctx, make_shell):
    ctx.store.write(lambda uow: state.put(uow.session, state.CLINIC_ID, "clinic-1"))
    w = make_shell()
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN


def test_empty_unenrolled_store_shows_first_run(qtbot, ctx, make_shell):
    w = make_shell()
    assert w.stack.currentIndex() == shell_mod.PAGE_FIRST_RUN
