"""Render every clinical page of the clinic dashboard to PNGs, over a synthetic 400-patient,
two-year clinic (the benchmark filler plus alerts, predictions and wear days, spread over eight
clinicians): the supervisor's five pages for the last 12 months, a drill-down list, and the
researcher's de-identified completion and risk pages with small cells hidden.

    xvfb-run -a python scripts/screenshots_dashboard.py [OUT_DIR]   (default docs/screenshots)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _miss_some(ctx: object) -> None:
    """The filler's clinic never misses a visit: remove a share of administrations (one in
    five, more for some clinicians' patients, and the last two months for one patient in 25)
    so completion and the overdue list have something to show."""
    from app.core.store.engine import connect_raw

    conn = connect_raw(ctx.settings.db_path, ctx.store._key)  # type: ignore[attr-defined]  # noqa: SLF001
    conn.execute("BEGIN")
    conn.execute(
        "DELETE FROM assessment_responses WHERE abs(random()) % 5 = 0"
        " OR (patient_id IN (SELECT patient_id FROM care_team WHERE abs(random()) % 3 = 0)"
        "     AND abs(random()) % 3 = 0)"
        " OR (patient_id IN (SELECT id FROM patients WHERE abs(random()) % 25 = 0)"
        "     AND administered_at > datetime('now', '-60 days'))"
    )
    conn.execute("COMMIT")
    conn.close()


def main(out: Path) -> None:
    import keyring
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.core.domain import Role
    from app.services.context import AppContext
    from scripts.shots import settle, wait
    from tests.bench.bench_dashboard import extend
    from tests.bench.filler import fill
    from tests.support.keyring_backends import MemoryKeyring
    from tests.support.records import make_user
    from ui import theme
    from ui.dashboard.window import ClinicDashboard
    from ui.tasks import TaskManager

    keyring.set_keyring(MemoryKeyring())
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="novamind-dash-shots-"))
    settings = load_settings(
        {"NOVAMIND_DATA_DIR": str(tmp / "data"), "NOVAMIND_POLICY": str(tmp / "p.toml")}
    )
    app = QApplication.instance() or QApplication(sys.argv)
    theme.apply(app, "light")
    ctx = AppContext.open(settings)
    sup = make_user(ctx, "sup.davis", Role.SUPERVISOR)
    researcher = make_user(ctx, "res.okafor", Role.RESEARCHER)
    staff = [make_user(ctx, f"dr.{n}", Role.CLINICIAN) for n in
             ("adams", "baker", "chen", "diaz", "evans", "fox", "garcia", "hughes")]  # fmt: skip
    fill(ctx, 400, inputs=True)
    extend(ctx, [s.user_id for s in staff])
    _miss_some(ctx)

    def open_dashboard(principal: object) -> ClinicDashboard:
        tasks = TaskManager(ctx)
        d = ClinicDashboard(ctx, principal, tasks)  # type: ignore[arg-type]
        tasks.setParent(d)
        d.resize(1280, 860)
        d.show()
        wait(app, lambda: d.dash is not None)
        d.dash = None
        d.period.setCurrentIndex(2)  # last 12 months
        wait(app, lambda: d.dash is not None and not tasks.busy)
        settle(app, 60)
        return d

    d = open_dashboard(sup)
    names = ("completion", "alert_response", "risk", "findings", "actigraphy")
    for i, name in enumerate(names):
        d.tabs.setCurrentIndex(i)
        settle(app, 60)
        d.grab().save(str(out / f"dashboard_{name}.png"))
    d.tabs.setCurrentIndex(1)
    d.pages[1].table.cellDoubleClicked.emit(1, 0)  # warning alerts overdue
    wait(app, lambda: d.drill_dialog is not None and d.drill_dialog.isVisible())
    settle(app, 40)
    d.drill_dialog.grab().save(str(out / "dashboard_drill_down.png"))
    d.close()

    r = open_dashboard(researcher)
    r.tabs.setCurrentIndex(0)
    settle(app, 40)
    r.grab().save(str(out / "dashboard_research_completion.png"))
    r.tabs.setCurrentIndex(2)
    settle(app, 40)
    r.grab().save(str(out / "dashboard_research_risk.png"))
    r.close()
    ctx.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
