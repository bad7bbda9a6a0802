"""The patient list sorts its rows in the table model and the proxy only filters (issue 21:
sorting in the proxy made clearing a search of 10,000 patients take 1.6 s): the order shown is
still the header's order, through filtering, clearing and a row's update."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from PySide6.QtCore import Qt

from app.core.domain import PatientSummary
from ui.patients import ID_ROLE, PatientListPanel

BANDS = ("", "low", "very high", "moderate", "high")


def _rows(n: int) -> list[PatientSummary]:
    return [
        PatientSummary(
            id=f"p{i}", mrn=f"M-{i:03d}", display_name=f"family{(i * 7) % n:02d}, Given",
            birth_date=date(1950 + i, 1, 1), sex="other", status="active", is_synthetic=False,
            assigned=i % 2 == 0, open_alerts=i % 3, latest_risk_band=BANDS[i % len(BANDS)],
        )
        for i in range(n)
    ]  # fmt: skip


def _shown(panel: PatientListPanel) -> list[str]:
    proxy = panel.proxy
    return [str(proxy.data(proxy.index(r, 0), ID_ROLE)) for r in range(proxy.rowCount())]


def _names(panel: PatientListPanel) -> list[str]:
    proxy = panel.proxy
    return [str(proxy.data(proxy.index(r, 0))) for r in range(proxy.rowCount())]


def test_rows_follow_the_header_order_through_filter_and_update(qtbot) -> None:  # noqa: ANN001
    panel = PatientListPanel()
    qtbot.addWidget(panel)
    rows = _rows(20)
    panel.model.set_rows(rows)
    assert _names(panel) == sorted(_names(panel), key=str.lower)  # by name on arrival
    panel.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    assert _names(panel) == sorted(_names(panel), key=str.lower, reverse=True)
    panel.table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
    assert _shown(panel) == [f"p{i}" for i in range(20)]
    panel.search.setText("family1")
    assert _shown(panel) == [p.id for p in rows if "family1" in p.display_name]
    panel.search.setText("")
    assert _shown(panel) == [f"p{i}" for i in range(20)]
    panel.table.sortByColumn(3, Qt.SortOrder.DescendingOrder)
    risk = [panel.model.summary(pid).latest_risk_band for pid in _shown(panel)]
    assert risk[:4] == ["very high"] * 4 and risk[-4:] == [""] * 4
    panel.select("p0")
    panel.model.upsert(replace(rows[0], latest_risk_band="very high"))  # p0 was unscored
    assert _shown(panel).index("p0") < 5  # moved up with its new band
    selected = panel.table.selectionModel().selectedRows()
    assert [panel.proxy.data(i, ID_ROLE) for i in selected] == ["p0"]  # selection follows
