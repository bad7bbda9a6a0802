"""Save PNGs of the assessment widgets on a fresh demo store.

    xvfb-run -a python scripts/screenshots_assessments.py OUT_DIR [--theme light|dark]

Self-report form, clinician form, a result with a critical flag, the trend chart and the alert
inbox — rendered from the real widgets and services on a temporary demo clinic (6 synthetic
patients, in-memory keyring), so it never touches the user's own store or keyring.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shots import open_demo, settle, wait  # noqa: E402 — the scripts folder is not a package


def main() -> None:
    """Render the five screenshots into the folder given on the command line."""
    args, app, ctx = open_demo(__doc__, "novamind-assess-shots-")
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import assessments, auth, patients
    from ui.assessments import AdministerWidget, AlertInbox, TrendChart

    create_demo_clinic(ctx, patients=6, actigraphy_days=7)
    who = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    mine = patients.list_patients(ctx, who)
    pid = max(mine, key=lambda p: len(assessments.history(ctx, who, p.id))).id
    out = args.out

    # 1. self-report, third question answered
    adm = AdministerWidget(ctx, who, pid, self_report_fullscreen=False)
    adm.resize(1100, 760)
    adm.show()
    adm.select_instrument("phq9")
    win = adm.start_self_report()
    win.resize(1100, 760)
    for v in (1, 2):
        win.form.items[win.form.current].set_value(v)
        win.form.next()
    win.form.items[win.form.current].set_value(1)
    settle(app)
    win.grab().save(str(out / "self_report.png"))
    win.close()

    # 2. clinician form (C-SSRS with skip logic opened by 'yes' to Q2)
    adm.select_instrument("cssrs_screener")
    for item, v in (("q1", 1), ("q2", 1), ("q3", 1)):
        adm.form.items[item].set_value(v)
    adm.form.items["q4"].setFocus()
    settle(app)
    adm.grab().save(str(out / "clinician_form.png"))

    # 3. result with a critical flag: PHQ-9 with item 9 > 0
    adm.select_instrument("phq9")
    for i, v in enumerate((2, 2, 1, 2, 1, 2, 1, 1, 1, 1), start=1):
        adm.form.items[f"q{i}"].set_value(v)
    adm.form.submit()
    wait(app, lambda: adm.last_outcome is not None)
    settle(app)
    adm.grab().save(str(out / "result_critical.png"))

    # 4. trend chart, hovering the newest PHQ-9 point
    chart = TrendChart(ctx, who, pid)
    chart.resize(1100, 900)
    chart.show()
    wait(app, lambda: chart.series and not chart.loading)
    settle(app)
    phq = next(s for s in chart.series if s.inst.id == "phq9")
    chart.hover_at(chart.point_scene_pos("phq9", len(phq.xs) - 1))
    settle(app)
    chart.grab().save(str(out / "trend_chart.png"))

    # 5. alert inbox (caseload)
    inbox = AlertInbox(ctx, who)
    inbox.resize(1100, 520)
    inbox.show()
    wait(app, lambda: not inbox.loading and inbox.rows)
    settle(app)
    inbox.grab().save(str(out / "alert_inbox.png"))

    for w in (inbox, chart, adm):
        w.close()
        w.deleteLater()
    settle(app)
    for w in (adm.tasks, chart.tasks, inbox.tasks):
        w.wait()
    ctx.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
