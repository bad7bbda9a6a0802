"""Save PNGs of the real app: login, patient list, workspace (overview, twin, notes, clinical
history) and lock screen.

    xvfb-run -a python scripts/screenshots.py OUT_DIR [--theme light|dark]

Runs the real shell on a fresh demo store (36 synthetic patients, 12 per clinician) in a
temporary data dir with an
in-memory keyring, so it never touches the user's own store or keyring.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots import open_demo, wait  # noqa: E402 — the scripts folder is not a package


def main() -> None:
    args, app, ctx = open_demo(__doc__, "novamind-shots-")
    from PySide6.QtGui import QGuiApplication

    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from ui.shell import ShellWindow

    create_demo_clinic(ctx, patients=36, actigraphy_days=7)
    window = ShellWindow(ctx)
    window.resize(1360, 820)
    window.show()
    window.login_page.username.setText("dr.adams")
    window.login_page.password.setText("xxxxxxxxxxxx")
    wait(app, lambda: window.isExposed() if hasattr(window, "isExposed") else True, 5)
    for _ in range(20):
        app.processEvents()
    window.grab().save(str(args.out / "login.png"))

    window.sign_in("dr.adams", DEMO_PASSWORD, "")
    wait(app, lambda: window.patient_list.model.rowCount() > 0)
    wait(app, lambda: not window.tasks.active())
    window.grab().save(str(args.out / "patients.png"))

    model = window.patient_list.model
    ids = model.ids()
    pid = max(ids, key=lambda i: (model.summary(i).open_alerts, model.summary(i).mrn))
    window.patient_list.select(pid)
    window.open_patient(pid)
    wait(app, lambda: window.workspace.overview.loaded_for == pid)
    wait(app, lambda: not window.tasks.active())
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "workspace.png"))

    window.workspace.tabs.setCurrentWidget(window.workspace.twin)
    wait(app, lambda: getattr(window.workspace.twin.view, "timeline", None) is not None)
    wait(app, lambda: not window.tasks.active())
    for _ in range(10):
        app.processEvents()
    # From the screen: QWidget.grab() cannot see what VTK drew into a native child window.
    QGuiApplication.primaryScreen().grabWindow(window.winId()).save(str(args.out / "twin.png"))

    window.workspace.tabs.setCurrentWidget(window.workspace.notes)
    wait(app, lambda: window.workspace.notes.loaded_for == pid)
    window.workspace.notes.list.setCurrentRow(0)
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "notes.png"))

    window.workspace.tabs.setCurrentWidget(window.workspace.history)
    wait(app, lambda: window.workspace.history.loaded_for == pid)
    wait(app, lambda: not window.tasks.active())
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "history.png"))

    window.lock()
    for _ in range(10):
        app.processEvents()
    window.grab().save(str(args.out / "lock.png"))
    window.close()
    ctx.close()
    print(f"saved screenshots to {args.out}")


if __name__ == "__main__":
    main()
