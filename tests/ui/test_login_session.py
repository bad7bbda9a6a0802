"""Drive the real shell: change password from the menu, the session re-check (deactivation,
role change) and the idle screen's respect for the lockout."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import AuthenticationError
from app.core.store.models import User
from app.services import admin, auth
from app.services.context import cli_actor
from tests.conftest import PASSWORD, make_user
from tests.ui.shell_driver import (
    WAIT,
    idle,
    locked_clinician,
    sign_in,
    signed_in,
    try_unlock,
)
from ui import shell as shell_mod
from ui.password_dialog import PasswordDialog

NEW_PASSWORD = "another long passphrase"


def test_change_password_dialog_then_sign_in_with_it(qtbot, ctx, make_shell):
    make_user(ctx, "dr.pw", Role.CLINICIAN)
    w = make_shell()
    signed_in(qtbot, w, "dr.pw")
    idle(qtbot, w)
    assert w.act_change_password.isEnabled()
    w.act_change_password.trigger()
    dialog = w.password_dialog
    assert isinstance(dialog, PasswordDialog)
    qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
    results: list[int] = []
    dialog.finished.connect(results.append)
    # the wrong current password is refused in the dialog
    qtbot.keyClicks(dialog.old, "not my password")
    qtbot.keyClicks(dialog.new, NEW_PASSWORD)
    qtbot.keyClicks(dialog.repeat, NEW_PASSWORD)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: dialog.message.isVisible() and dialog.ok_button.isEnabled(), timeout=WAIT
    )
    assert auth.GENERIC in dialog.message.text()
    # a mismatched repeat never reaches the core
    qtbot.keyClicks(dialog.old, PASSWORD)
    dialog.repeat.setText("something else entirely")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert "differ" in dialog.message.text()
    dialog.repeat.setText(NEW_PASSWORD)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: results == [PasswordDialog.DialogCode.Accepted.value], timeout=WAIT)
    idle(qtbot, w)
    w.act_sign_out.trigger()
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN
    sign_in(qtbot, w, "dr.pw", PASSWORD)  # the old password no longer works
    qtbot.waitUntil(lambda: w.login_page.message.isVisible(), timeout=WAIT)
    assert w.principal is None
    signed_in(qtbot, w, "dr.pw", NEW_PASSWORD)
    assert w.principal is not None and w.principal.username == "dr.pw"


def test_deactivated_user_is_signed_out_within_the_check(qtbot, ctx, make_shell):
    boss = make_user(ctx, "boss", Role.ADMIN)
    make_user(ctx, "dr.gone", Role.CLINICIAN)
    w = make_shell()
    signed_in(qtbot, w, "dr.gone")
    assert w.session_timer.isActive()
    assert w.session_timer.interval() <= 60_000
    idle(qtbot, w)
    admin.deactivate_user(ctx, boss, "dr.gone")
    w.session_timer.setInterval(50)  # test hook: the real check runs every minute
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_LOGIN, timeout=WAIT)
    assert w.principal is None
    assert "deactivated" in w.login_page.message.text()
    assert not w.session_timer.isActive()
    idle(qtbot, w)
    sign_in(qtbot, w, "dr.gone", PASSWORD)
    qtbot.waitUntil(lambda: auth.GENERIC in w.login_page.message.text(), timeout=WAIT)
    assert w.principal is None


def test_role_change_signs_out(qtbot, ctx, make_shell):
    make_user(ctx, "sup.role", Role.SUPERVISOR)
    w = make_shell()
    signed_in(qtbot, w, "sup.role")
    idle(qtbot, w)

    def demote(uow) -> None:
        uow.session.get(User, w.principal.user_id).role = Role.CLINICIAN.value

    ctx.store.write(demote)
    w.check_session()
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_LOGIN, timeout=WAIT)
    assert w.principal is None


def test_deactivated_while_locked_cannot_unlock(qtbot, ctx, make_shell):
    w = locked_clinician(qtbot, ctx, make_shell, "dr.locked.out")
    admin.deactivate_user(ctx, cli_actor(), "dr.locked.out")
    try_unlock(qtbot, w, PASSWORD)
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN
    assert w.principal is None


def test_idle_screen_does_not_unlock_a_locked_account(qtbot, ctx, make_shell):
    w = locked_clinician(qtbot, ctx, make_shell, "dr.idle")
    for _ in range(ctx.settings.lockout_threshold):  # someone guesses at another sign-in
        with pytest.raises(AuthenticationError):
            auth.login(ctx, "dr.idle", "wrong guess")
    try_unlock(qtbot, w, PASSWORD)  # the right password, but the account is locked
    assert w.stack.currentIndex() == shell_mod.PAGE_LOCK
    assert w.principal is None
    assert auth.GENERIC in w.lock_page.message.text()
    admin.reset_lockout(ctx, cli_actor(), "dr.idle")
    try_unlock(qtbot, w, PASSWORD)
    assert w.stack.currentIndex() == shell_mod.PAGE_MAIN
    idle(qtbot, w)
    QApplication.processEvents()


def test_idle_screen_guesses_lock_the_account(qtbot, ctx, make_shell):
    w = locked_clinician(qtbot, ctx, make_shell, "dr.guess")
    for _ in range(ctx.settings.lockout_threshold - 1):
        try_unlock(qtbot, w, "wrong guess")
        assert w.stack.currentIndex() == shell_mod.PAGE_LOCK
    try_unlock(qtbot, w, "wrong guess")
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN  # signed out
    locked = next(u for u in admin.list_users(ctx, cli_actor()) if u.username == "dr.guess")
    assert locked.locked  # and the core locked the account


def test_the_policy_sets_how_many_wrong_unlocks_sign_out(
    qtbot, ctx, env, make_shell, monkeypatch: pytest.MonkeyPatch
):
    assert ctx.settings.unlock_max_attempts == 5  # the default: five wrong passwords
    Path(env["NOVAMIND_POLICY"]).write_text("[policy]\nunlock_max_attempts = 2\n")
    strict = load_settings(env)
    assert strict.unlock_max_attempts == 2 and "unlock_max_attempts" in strict.locked_by_policy
    monkeypatch.setattr(ctx, "settings", strict)
    w = locked_clinician(qtbot, ctx, make_shell, "dr.strict")
    try_unlock(qtbot, w, "wrong guess")
    assert w.stack.currentIndex() == shell_mod.PAGE_LOCK
    try_unlock(qtbot, w, "wrong guess")
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN  # signed out after the policy's two
    locked = next(u for u in admin.list_users(ctx, cli_actor()) if u.username == "dr.strict")
    assert not locked.locked  # the account lockout (lockout_threshold) is a separate count
