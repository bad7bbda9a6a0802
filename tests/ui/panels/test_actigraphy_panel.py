"""Actigraphy panel: import a real Depresjon file through the dialog, see actogram and tables;
a malformed file shows the engine's line/column message and stores nothing; generic CSV."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from PySide6.QtCore import Qt

from app.core.domain import Role
from app.services import actigraphy_view, pat
from tests.ui.panels.conftest import DEPRESJON
from ui.panels.actigraphy import ActigraphyPanel


def _shown_dialog(ctx, me, pid, qtbot, show):
    """The import dialog of a shown, loaded panel."""
    panel = ActigraphyPanel(ctx, me, pid)
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel)
    return _open_dialog(panel, qtbot)


def _open_dialog(panel, qtbot):
    qtbot.mouseClick(panel.import_button, Qt.MouseButton.LeftButton)
    dlg = panel.dialog
    assert dlg is not None and dlg.isVisible()
    return dlg


def test_import_depresjon_shows_actogram_and_tables(ctx, clinic, qtbot, show) -> None:
    me = clinic["users"][Role.CLINICIAN]
    panel = ActigraphyPanel(ctx, me, clinic["mine"])
    with qtbot.waitSignal(panel.loaded, timeout=20000):
        show(panel, 1200, 1000)
    assert panel.empty.isVisible() and panel.view is None
    dlg = _open_dialog(panel, qtbot)
    dlg.set_path(DEPRESJON / "condition_10.csv.gz")
    qtbot.waitUntil(lambda: dlg.preview.columnCount() == 3, timeout=10000)
    assert [dlg.preview.horizontalHeaderItem(i).text() for i in range(3)] == [
        "timestamp",
        "date",
        "activity",
    ]
    with qtbot.waitSignal(panel.loaded, timeout=60000):
        qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    v = panel.view
    assert v is not None and v.minutes > 7 * 1440
    assert panel.actogram.rows >= 7 and panel.actogram.sleep_cells > 0
    assert panel.nightly.rowCount() == len(v.nightly) >= 7
    first = v.nightly[0]
    assert panel.nightly.item(0, 0).text() == first["night_of"]
    assert panel.nightly.item(0, 3).text() == f"{first['tst_min'] / 60:.1f} h"
    is_card = panel.circ_cards["IS"][0]
    assert is_card.text() == f"{v.circadian['binarized']['IS']:.2f}"
    assert actigraphy_view.RESEARCH_LABEL in panel.research.text()
    assert panel.cv.rowCount() >= 5 and "%" in panel.screen_value.text()
    assert "not installed" in panel.pat.text() or "found" in panel.pat.text()
    assert panel.dialog is None  # the dialog closed itself after a successful import


def test_malformed_file_shows_line_and_stores_nothing(ctx, clinic, qtbot, show, tmp_path) -> None:
    me = clinic["users"][Role.CLINICIAN]
    bad = tmp_path / "bad.csv"
    t0 = datetime(2024, 1, 1)
    lines = ["timestamp,date,activity"]
    for i in range(3000):
        t = t0 + timedelta(minutes=i)
        value = "lots" if i == 10 else str(i % 50)
        lines.append(f"{t:%Y-%m-%d %H:%M:%S},{t:%Y-%m-%d},{value}")
    bad.write_text("\n".join(lines) + "\n")
    dlg = _shown_dialog(ctx, me, clinic["mine"], qtbot, show)
    dlg.set_path(bad)
    with qtbot.waitSignal(dlg.failed, timeout=30000) as sig:
        qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    msg = sig.args[0]
    assert "line 12" in msg and "activity" in msg and "Nothing was imported" in msg
    assert dlg.error.isVisible() and dlg.isVisible()
    assert pat.latest_results(ctx, me, clinic["mine"]) is None
    # cancel before the write: nothing stored either
    dlg.set_path(DEPRESJON / "control_1.csv.gz")
    qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    assert "nothing was stored" in dlg.message.text()
    assert pat.latest_results(ctx, me, clinic["mine"]) is None
    dlg.reject()


def test_generic_csv_with_column_mapping(ctx, clinic, qtbot, show, tmp_path: Path) -> None:
    me = clinic["users"][Role.CLINICIAN]
    f = tmp_path / "watch.csv"
    t0 = datetime(2024, 3, 4)
    rows = ["when;steps"]
    for i in range(3 * 2880):  # three days of 30 s epochs
        t = t0 + timedelta(seconds=30 * i)
        hour = t.hour
        rows.append(f"{t:%Y-%m-%dT%H:%M:%S};{0 if hour < 7 else 40 + (i % 7)}")
    f.write_text("\n".join(rows) + "\n")
    dlg = _shown_dialog(ctx, me, clinic["mine"], qtbot, show)
    dlg.format.setCurrentIndex(dlg.format.findData("generic"))
    dlg.delimiter.setCurrentText("Semicolon (;)")
    dlg.set_path(f)
    qtbot.waitUntil(lambda: dlg.counts_col.findText("steps") >= 0, timeout=10000)
    dlg.ts_col.setCurrentText("when")
    dlg.counts_col.setCurrentText("steps")
    panel = dlg.parent()
    with qtbot.waitSignal(panel.loaded, timeout=60000):
        qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    assert panel.view is not None and panel.view.minutes == 3 * 1440
    assert panel.actogram.rows == 3
