"""The application shell: main window, session controller, menus, dialogs, task status bar.

`from ui.shell import ShellWindow, PAGE_MAIN, ...` keeps working for every caller.
"""

from ui.shell.session import (
    PAGE_FIRST_RUN,
    PAGE_LOCK,
    PAGE_LOGIN,
    PAGE_MAIN,
    SESSION_CHECK_MS,
    Page,
    SessionController,
)
from ui.shell.taskbar import TaskStatusBar
from ui.shell.window import ShellWindow

__all__ = [
    "PAGE_FIRST_RUN",
    "PAGE_LOCK",
    "PAGE_LOGIN",
    "PAGE_MAIN",
    "SESSION_CHECK_MS",
    "Page",
    "SessionController",
    "ShellWindow",
    "TaskStatusBar",
]
