"""Render the clinic dashboard's Health and System alerts pages over a demo store to PNGs.

The demo store is backed up, and a free-disk minimum just above what is free makes disk space
critical. The operations schedule then runs dated three days ahead, so it also finds the
backup overdue: the alerts page shows the alerts it raised (plus whatever the model and
security checks found); the Health page is checked at the real time (backup fresh).

    xvfb-run -a python scripts/screenshots_ops.py [OUT_DIR]   (default docs/screenshots)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(out: Path) -> None:
    import keyring
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import auth, backup, ops_schedule
    from app.services.context import AppContext, cli_actor
    from tests.support.keyring_backends import MemoryKeyring
    from ui import theme
    from ui.dashboard.health_page import HealthPage
    from ui.dashboard.system_alerts_page import SystemAlertsPage

    keyring.set_keyring(MemoryKeyring())
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="novamind-shots-"))
    settings = load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp / "data"), "NOVAMIND_POLICY": str(tmp / "p.toml")}
    )
    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply(app, "light")
    ctx = AppContext.open(settings)
    create_demo_clinic(ctx, patients=6)
    backup.create_backup(ctx, cli_actor())
    later = datetime.now(UTC) + timedelta(days=3)
    free_gb = shutil.disk_usage(settings.data_dir).free // 1024**3
    policy = {"health": {"min_free_disk_gb": int(free_gb) + 10}}  # just above what is free
    tight = AppContext(replace(settings, operations=policy), ctx.store, ctx.bus)
    due = ops_schedule.run_due_checks(tight, now=later)
    print(f"schedule: ran {due.ran}, failed {due.failed}")
    sup = auth.login(ctx, "sup.davis", DEMO_PASSWORD)

    def settle(widget: QWidget, signal: object) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(30000, loop.quit)
        loop.exec()
        QTimer.singleShot(400, loop.quit)
        loop.exec()

    health = HealthPage(tight, sup, None)
    health.resize(1100, 520)
    health.show()
    settle(health, health.loaded)
    health.grab().save(str(out / "health_page.png"))
    health.close()

    alerts = SystemAlertsPage(ctx, sup, None)
    alerts.resize(1250, 420)
    alerts.show()
    settle(alerts, alerts.loaded)
    alerts.table.selectRow(0)
    alerts.grab().save(str(out / "system_alerts_page.png"))
    alerts.close()
    for w in (health, alerts):
        w.shutdown()
    ctx.close()
    print(f"saved screenshots to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots"))
