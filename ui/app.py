"""Starting the desktop application: Qt set-up, theme, the store, the shell window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.services.context import AppContext

log = logging.getLogger(__name__)


def process_age_s() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere since import)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="novamind", description="Novamind clinician desktop.")
    p.add_argument(
        "--exit-after-paint",
        action="store_true",
        help="print the seconds from process start to the first painted window, then exit",
    )
    p.add_argument("--theme", choices=("system", "light", "dark"), help="theme for this run")
    return p.parse_args(list(argv))


def run(argv: Sequence[str] = ()) -> int:
    """Run the GUI until the window closes; returns the process exit code.

    Start-up paints an interactive sign-in window first (Qt and settings only) and opens the
    encrypted store as a background task (ui.tasks.TaskManager): importing SQLAlchemy and
    migrating take seconds on a slow machine, and the user can type meanwhile. The full shell
    replaces the start-up window when the store is open, keeping what was typed.
    """
    args = parse_args(argv)
    from PySide6.QtCore import QObject, Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

    from app import __version__
    from app.core.config import load_settings
    from app.core.errors import NovamindError
    from app.core.logging_setup import configure_logging
    from ui import theme
    from ui.login import LoginPage
    from ui.tasks import TaskManager

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    # The 3D twin is a native child window (ui/twin/host.py); its siblings need not be.
    QGuiApplication.setAttribute(Qt.ApplicationAttribute.AA_DontCreateNativeWidgetSiblings)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    if not isinstance(app, QApplication):
        raise RuntimeError("a non-widget Qt application already exists in this process")
    app.setApplicationName("Novamind")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Novamind")
    app.setDesktopFileName("novamind")
    try:
        settings = load_settings()
        configure_logging(settings.log_dir)
        theme.apply(app, args.theme or settings.theme)
    except NovamindError as exc:
        QMessageBox.critical(None, "Novamind cannot start", exc.user_message())
        return 3

    startup = QMainWindow()
    startup.setWindowTitle("Novamind — sign in")
    startup.setAccessibleName("Novamind")
    login = LoginPage("encrypted (SQLCipher)")
    login.show_message("Opening the encrypted store…")
    login.button.setEnabled(False)
    startup.setCentralWidget(login)
    startup.resize(1360, 820)
    state: dict[str, object] = {"window": None, "submit": False}
    exit_code = [0]  # 3 when the store could not be opened
    opened: list[AppContext] = []  # closed when the event loop ends
    login.submitted.connect(lambda *_: state.__setitem__("submit", True))

    def open_store() -> AppContext:
        from app.services.context import AppContext

        return AppContext.open(settings)

    def on_ready(ctx: AppContext) -> None:
        opened.append(ctx)
        if args.exit_after_paint:
            app.quit()
            return
        from ui.shell import ShellWindow

        window = ShellWindow(ctx)
        state["window"] = window
        user, pw = login.username.text(), login.password.text()
        window.show()
        startup.close()
        if window.stack.currentWidget() is window.login_page and (user or pw):
            window.login_page.username.setText(user)
            window.login_page.password.setText(pw)
            if state["submit"]:
                window.login_page.button.click()

    def on_failed(exc: object) -> None:
        message = (
            exc.user_message()
            if isinstance(exc, NovamindError)
            else "The encrypted store could not be opened. The details are in the log file."
        )
        QMessageBox.critical(startup, "Novamind cannot start", message)
        exit_code[0] = 3
        app.quit()

    opener = TaskManager(None, startup)

    def start_opening() -> None:
        opener.call(open_store, label="Opening the store", on_done=on_ready, on_error=on_failed)

    class _FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: object) -> bool:  # noqa: N802 — Qt API
            from PySide6.QtCore import QEvent

            if getattr(event, "type", lambda: None)() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                if args.exit_after_paint:
                    print(f"first paint after {process_age_s():.3f} s", flush=True)
                QTimer.singleShot(0, start_opening)
            return False

    painted = _FirstPaint(startup)
    login.installEventFilter(painted)
    startup.show()
    try:
        code = app.exec()
    finally:
        for ctx in opened:
            ctx.close()
    return exit_code[0] or code
