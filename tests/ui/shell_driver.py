"""Driving the real shell window from a test: sign in, wait for background work, lock, unlock."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.core.domain import Role
from app.services.context import AppContext
from tests.conftest import PASSWORD, make_user
from ui import shell as shell_mod
from ui.shell import ShellWindow

WAIT = 15000


def sign_in(qtbot, w: ShellWindow, username: str, password: str) -> None:
    w.login_page.username.setText(username)
    w.login_page.password.setText(password)
    qtbot.mouseClick(w.login_page.button, Qt.MouseButton.LeftButton)


def signed_in(qtbot, w: ShellWindow, username: str, password: str = PASSWORD) -> None:
    sign_in(qtbot, w, username, password)
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_MAIN, timeout=WAIT)


def idle(qtbot, w: ShellWindow) -> None:
    """Wait until no background task is queued, running or undelivered."""
    qtbot.waitUntil(lambda: not w.tasks.active(), timeout=WAIT)
    w.tasks.wait()


def lock_now(qtbot, w: ShellWindow) -> None:
    w.act_lock.trigger()
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_LOCK, timeout=WAIT)
    idle(qtbot, w)


def locked_clinician(qtbot, ctx: AppContext, make_shell, username: str) -> ShellWindow:
    """A new clinician signed in on a fresh shell, then locked (the idle screen shows)."""
    make_user(ctx, username, Role.CLINICIAN)
    w = make_shell()
    signed_in(qtbot, w, username)
    idle(qtbot, w)
    lock_now(qtbot, w)
    return w


def try_unlock(qtbot, w: ShellWindow, password: str) -> None:
    w.lock_page.show_message("")
    w.lock_page.password.setText(password)
    qtbot.mouseClick(w.lock_page.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: w.lock_page.message.isVisible() or w.stack.currentIndex() != shell_mod.PAGE_LOCK,
        timeout=WAIT,
    )
    idle(qtbot, w)
