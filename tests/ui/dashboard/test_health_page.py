"""The Health page over a real store: IT and supervisors see every health item with its status,
critical ones stand out, and anyone else is told the page is not theirs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.core.domain import Role
from app.services import backup, system_health
from app.services.context import AppContext, cli_actor
from ui.dashboard.health_page import HealthPage, summary_text


def _rows(page: HealthPage) -> list[tuple[str, str, str]]:
    t = page.table
    return [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]


@pytest.mark.parametrize("role", [Role.IT, Role.SUPERVISOR])
def test_it_and_supervisors_see_every_item(ctx: AppContext, clinic, qtbot, show, role) -> None:
    backup.create_backup(ctx, cli_actor())
    page = HealthPage(ctx, clinic["users"][role], None)
    with qtbot.waitSignal(page.loaded, timeout=20000):
        show(page, 1000, 520)
    expected = system_health.check(ctx)
    rows = _rows(page)
    assert [r[0] for r in rows] == [i.name for i in expected.items]
    status = dict((r[0], r[1]) for r in rows)
    assert status["backup"] == "OK" and status["free disk"] == "OK"
    assert status["policy"] == "Warning"  # the test store runs on built-in defaults
    assert page.info.text().startswith("1 warning — checked")


def test_critical_items_stand_out_and_refresh_reloads(
    ctx: AppContext, settings, clinic, qtbot, show
) -> None:
    tight = AppContext(
        replace(settings, operations={"health": {"min_free_disk_gb": 10**7}}), ctx.store, ctx.bus
    )
    page = HealthPage(tight, clinic["users"][Role.IT], None)
    with qtbot.waitSignal(page.loaded, timeout=20000):
        show(page, 1000, 520)
    row = next(
        r for r in range(page.table.rowCount()) if page.table.item(r, 0).text() == "free disk"
    )
    cell = page.table.item(row, 1)
    assert cell.text() == "Critical" and cell.font().bold()
    assert page.report is not None and page.info.text() == summary_text(page.report)
    # free disk is critical; no backup yet (a new store) and no site policy are warnings
    assert page.info.text().startswith("1 critical, 2 warnings — checked")
    with qtbot.waitSignal(page.loaded, timeout=20000):
        page.refresh_button.click()
    assert page.refresh_button.isEnabled()


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.RESEARCHER, Role.ADMIN])
def test_other_roles_are_told_no(ctx: AppContext, clinic, qtbot, show, role) -> None:
    page = HealthPage(ctx, clinic["users"][role], None)
    show(page, 1000, 520)
    qtbot.waitUntil(lambda: "IT and supervisors" in page.status.text(), timeout=20000)
    assert page.table.rowCount() == 0
