"""Starting the desktop application: Qt set-up, theme, the store, the shell window."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

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
    """Run the GUI until the window closes; returns the process exit code."""
    args = parse_args(argv)
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app import __version__
    from app.config import load_settings
    from app.errors import NovamindError
    from app.logging_setup import configure_logging
    from ui import theme

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Novamind")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("Novamind")
    app.setDesktopFileName("novamind")
    try:
        settings = load_settings()
        configure_logging(settings.log_dir)
        theme.apply(app, args.theme or settings.theme)
        from app.services.context import AppContext

        ctx = AppContext.open(settings)
    except NovamindError as exc:
        QMessageBox.critical(None, "Novamind cannot start", exc.user_message())
        return 3
    from ui.shell import ShellWindow

    window = ShellWindow(ctx)

    class _FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt API
            if event.type() == QEvent.Type.Paint and obj in (
                window.login_page,
                window.first_run_page,
            ):
                obj.removeEventFilter(self)
                QTimer.singleShot(0, self._done)
            return False

        def _done(self) -> None:
            print(f"first paint after {process_age_s():.3f} s", flush=True)
            window.close()
            app.quit()

    if args.exit_after_paint:
        painter = _FirstPaint(window)
        window.login_page.installEventFilter(painter)
        window.first_run_page.installEventFilter(painter)
    window.show()
    try:
        return app.exec()
    finally:
        ctx.close()
