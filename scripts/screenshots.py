"""Save PNGs of the real app: login, patient list, workspace and lock screen.

    xvfb-run -a python scripts/screenshots.py OUT_DIR [--theme light|dark]

Runs the real shell on a fresh demo store (36 synthetic patients, 12 per clinician) in a
temporary data dir with an
in-memory keyring, so it never touches the user's own store or keyring.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wait(app: object, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not reach the expected state")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--theme", default="light", choices=("light", "dark"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="novamind-shots-")
    os.environ["NOVAMIND_DATA_DIR"] = str(Path(tmp) / "data")
    os.environ["NOVAMIND_POLICY"] = str(Path(tmp) / "policy.toml")

    import keyring
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from ui import theme
    from ui.shell import ShellWindow

    keyring.set_keyring(MemoryKeyring())
    app = QApplication.instance() or QApplication([])
    theme.apply(app, args.theme)
    ctx = AppContext.open(load_settings())
    create_demo_clinic(ctx, patients=36, actigraphy_days=7)
    window = ShellWindow(ctx)
    window.resize(1360, 820)
    window.show()
    window.login_page.username.setText("dr.adams")
    window.login_page.password.setText("xxxxxxxxxxxx")
    _wait(app, lambda: window.isExposed() if hasattr(window, "isExposed") else True, 5)
    for _ in range(20):
        app.processEvents()
    window.grab().save(str(args.out / "login.png"))

    window.sign_in("dr.adams", DEMO_PASSWORD, "")
    _wait(app, lambda: window.patient_list.model.rowCount() > 0)
    _wait(app, lambda: not window.tasks.active())
    window.grab().save(str(args.out / "patients.png"))

    model = window.patient_list.model
    ids = model.ids()
    pid = max(ids, key=lambda i: (model.summary(i).open_alerts, model.summary(i).mrn))
    window.patient_list.select(pid)
    window.open_patient(pid)
    _wait(app, lambda: window.workspace.overview.loaded_for == pid)
    _wait(app, lambda: not window.tasks.active())
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "workspace.png"))

    window.workspace.tabs.setCurrentWidget(window.workspace.twin)
    _wait(app, lambda: getattr(window.workspace.twin.view, "timeline", None) is not None)
    _wait(app, lambda: not window.tasks.active())
    for _ in range(10):
        app.processEvents()
    # From the screen: QWidget.grab() cannot see what VTK drew into a native child window.
    QGuiApplication.primaryScreen().grabWindow(window.winId()).save(str(args.out / "twin.png"))

    window.workspace.tabs.setCurrentWidget(window.workspace.notes)
    _wait(app, lambda: window.workspace.notes.loaded_for == pid)
    window.workspace.notes.list.setCurrentRow(0)
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "notes.png"))

    window.lock()
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "lock.png"))
    window.close()
    ctx.close()
    print(f"saved screenshots to {args.out}")


if __name__ == "__main__":
    main()
