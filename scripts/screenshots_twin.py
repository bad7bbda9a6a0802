"""Render the twin view (normal, region panel, compare, difference, what-if) to PNGs.

Usage: ``python scripts/screenshots_twin.py OUTDIR [--dark]`` — uses a throwaway demo store
(app.demo.create_demo_clinic, 6 patients) in a temp dir and an in-memory keyring.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wait(app: QCoreApplication, cond: Callable[[], object], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > end:
            raise TimeoutError("twin view did not finish in time")


def main() -> None:
    """Open the demo clinic's first patient in a TwinView and save screenshots."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dark", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NOVAMIND_DATA_DIR", tempfile.mkdtemp(prefix="twinshots-"))
    import keyring

    from tests.support.keyring_backends import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import auth, patients
    from app.services.context import AppContext
    from ui import theme
    from ui.twin import TwinView

    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    theme.apply(app, "dark" if args.dark else "light")  # the twin's styles live in the theme
    ctx = AppContext.open(load_settings())
    create_demo_clinic(ctx, patients=6)
    who = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    pid = patients.list_patients(ctx, who)[0].id
    view = TwinView(ctx, who)
    view.resize(1440, 900)
    view.show()
    view.set_patient(pid)
    _wait(app, lambda: view.timeline is not None)
    _wait(app, lambda: True, 0)
    app.processEvents()
    suffix = "-dark" if args.dark else ""

    def shot(name: str) -> None:
        for _ in range(5):
            app.processEvents()
            time.sleep(0.05)
        view.flush()
        app.processEvents()
        # From the screen: QWidget.grab() cannot see what VTK drew into a native child window.
        screen = QGuiApplication.primaryScreen()
        screen.grabWindow(view.winId()).save(str(args.out / f"twin-{name}{suffix}.png"))

    shot("normal")
    view.select_region("sgacc")
    _wait(app, lambda: view.panel.detail is not None)
    shot("region")
    view.set_mode("compare")
    shot("compare")
    view.diff_button.setChecked(True)
    shot("difference")
    view.diff_button.setChecked(False)
    view.run_whatif("ssri")
    _wait(app, lambda: view.whatif is not None)
    shot("whatif")
    view.set_mode("twin")
    view.save_screenshot(args.out / f"twin-scene{suffix}.png")
    view.export_report(args.out / "twin-report.pdf")
    _wait(app, lambda: (args.out / "twin-report.pdf").exists() and view.report_button.isEnabled())
    view.close()
    ctx.close()
    print(f"wrote screenshots to {args.out}")


if __name__ == "__main__":
    main()
