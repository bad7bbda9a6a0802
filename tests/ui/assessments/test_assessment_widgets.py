"""pytest-qt: the assessment widgets driven like a user, on a real encrypted store."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QDialog, QWidget

from app.core.domain import Role
from app.services import admin, alerts, assessments
from app.services.context import AppContext
from app.services.instrument_catalog import instrument
from ui.assessments import AdministerWidget, AlertInbox, TrendChart
from ui.assessments.form import ItemWidget

DIGIT = {d: getattr(Qt.Key, f"Key_{d}") for d in range(10)}


@pytest.fixture
def opened(qtbot: object) -> Iterator[list[QWidget]]:
    """Widgets a test opens; closed, drained and deleted afterwards."""
    widgets: list[QWidget] = []
    yield widgets
    alive = []
    for w in widgets:
        try:
            w.close()
        except RuntimeError:  # already deleted (e.g. the self-report window deletes on close)
            continue
        alive.append(w)
    widgets[:] = alive
    for w in widgets:
        runner = getattr(w, "tasks", None)
        if hasattr(runner, "wait"):
            qtbot.waitUntil(lambda r=runner: not r.busy, timeout=10_000)
            runner.wait()
        if not isinstance(w, TrendChart):
            # Known issue: deleting a TrendChart whose plots were rebuilt while shown makes
            # PySide6 6.12 abort at interpreter exit (bool_dealloc); it is closed and left to
            # Python's garbage collector instead.
            w.deleteLater()
    qtbot.wait(10)
    gc.collect()  # collect Qt wrappers while the QApplication is alive, not at interpreter exit


def _press(qtbot: object, target: QWidget, key: Qt.Key, mods: object = None) -> None:
    qtbot.keyClick(target, key, mods or Qt.KeyboardModifier.NoModifier)


def _focused_item(form: object) -> ItemWidget:
    """The question the keyboard acts on (the form keeps it focused)."""
    return form.items[form.current]


def test_phq9_keyboard_only_raises_critical_alert_in_inbox(
    qtbot: object, ctx: AppContext, clinic: dict, opened: list[QWidget]
) -> None:
    doc = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    inbox = AlertInbox(ctx, doc)
    adm = AdministerWidget(ctx, doc, pid, self_report_fullscreen=False)
    opened += [inbox, adm]
    adm.show()
    inbox.show()
    qtbot.waitUntil(lambda: not inbox.loading)
    assert inbox.rows == [] and inbox.summary.text() == "No open alerts."

    adm.select_instrument("phq9")
    adm.self_button.setFocus()
    _press(qtbot, adm.self_button, Qt.Key.Key_Space)  # keyboard opens the patient's window
    win = adm.self_window
    assert win is not None
    opened.append(win)
    form = win.form
    # the patient's window shows no patient information at all
    texts = " ".join(w.text() for w in win.findChildren(type(win.progress_label)))
    assert "Assigned" not in texts and "T-1" not in texts

    # Enter without an answer does not move on and says so plainly
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    assert form.current == "q1" and "choose one of the answers" in form.message.text()

    answers = {"q1": 1, "q2": 2, "q3": 1, "q4": 1, "q5": 0, "q6": 1, "q7": 0, "q8": 1, "q9": 2}
    for item_id, value in answers.items():
        assert form.current == item_id
        _press(qtbot, _focused_item(form), DIGIT[value])
        _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    # back to q9 with Backspace, lower it with the arrow key, forward again
    _press(qtbot, _focused_item(form), Qt.Key.Key_Backspace)
    assert form.current == "q9"
    _press(qtbot, _focused_item(form), Qt.Key.Key_Up)
    assert form.answers["q9"] == 1
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    assert form.current == "q10" and win.progress_label.text() == "Question 10 of 10"
    _press(qtbot, _focused_item(form), Qt.Key.Key_Down)  # first answer of q10 (0)
    _press(qtbot, _focused_item(form), Qt.Key.Key_Down)  # → 1
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    qtbot.waitUntil(lambda: win.finished, timeout=10_000)
    assert win.pages.currentIndex() == 1  # thank-you page, no score shown to the patient
    outcome = adm.last_outcome
    assert outcome.result.total == 8 and outcome.result.band.code == "mild"
    assert dict(outcome.result.answers)["q10"] == 1
    assert outcome.result.has_critical and len(outcome.alert_ids) == 1
    # the clinician's view: score, band with its rule, and the critical flag
    assert adm.result.critical_box is not None and not adm.result.critical_box.isHidden()
    assert "item q9 > 0" in adm.result.critical_box.accessibleName() or any(
        "item q9 > 0" in lab.text() for lab in adm.result.critical_box.findChildren(type(win.intro))
    )
    assert adm.result.total_label.text() == "8 / 27"
    assert adm.result.band_chip.text() == "Mild"
    shown = " ".join(lab.text() for lab in adm.result.findChildren(type(win.intro)))
    assert "total 8 lies in 5-9" in shown and "Kroenke" in shown
    _press(qtbot, win.done_button, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: adm.self_window is None)

    # the alert arrives in the inbox through the event bus, critical first, due within 1 h
    arrived = lambda: any(r.alert.id in outcome.alert_ids for r in inbox.rows)  # noqa: E731
    qtbot.waitUntil(arrived, timeout=10_000)
    top = inbox.rows[0]
    assert top.alert.severity == "critical" and top.alert.rule == "phq9_item9_positive"
    assert inbox.table.item(0, 0).text() == "CRITICAL"
    assert inbox.table.item(0, 4).text().startswith("act within")
    assert "critical alert" in inbox.summary.text()
    stored = assessments.history(ctx, doc, pid)
    assert [(r.instrument, r.total, r.critical) for r in stored] == [("phq9", 8.0, True)]


def test_cssrs_skip_logic_in_the_clinician_form(
    qtbot: object, ctx: AppContext, clinic: dict, opened: list[QWidget]
) -> None:
    doc = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    adm = AdministerWidget(ctx, doc, pid)
    opened.append(adm)
    adm.show()
    adm.select_instrument("cssrs_screener")
    form = adm.form
    skippable = ("q3", "q4", "q5", "q6_recent")
    assert all(form.items[i].isHidden() for i in skippable)
    assert not adm.self_button.isEnabled()  # clinician-rated: no patient self-report

    form.focus_current()
    _press(qtbot, _focused_item(form), DIGIT[1])  # q1 yes
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    _press(qtbot, _focused_item(form), DIGIT[1])  # q2 yes → q3-q5 are asked
    assert [i for i in skippable if not form.items[i].isHidden()] == ["q3", "q4", "q5"]
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    assert form.current == "q3"
    _press(qtbot, _focused_item(form), DIGIT[1])  # q3 yes
    _press(qtbot, _focused_item(form), Qt.Key.Key_Backspace)
    _press(qtbot, _focused_item(form), DIGIT[0])  # q2 no → q3-q5 skipped, q3's answer dropped
    assert form.current == "q2" and "q3" not in form.answers
    assert all(form.items[i].isHidden() for i in skippable)
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    assert form.current == "q6"  # skip logic jumps straight to question 6

    # submit with q6 missing: the engine's message, nothing stored
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert form.message.isVisible()
    assert "item q6 is required but not answered" in form.message.text()
    assert form.items["q6"].property("invalid") == "true"
    assert adm.last_outcome is None and assessments.history(ctx, doc, pid) == []

    _press(qtbot, _focused_item(form), DIGIT[1])  # q6 yes → the 3-month follow-up is asked
    assert not form.items["q6_recent"].isHidden()
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return)
    _press(qtbot, _focused_item(form), DIGIT[1])  # within the past 3 months
    assert form.response() == {"q1": 1, "q2": 0, "q6": 1, "q6_recent": 1}
    _press(qtbot, _focused_item(form), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: adm.last_outcome is not None, timeout=10_000)
    res = adm.last_outcome.result
    assert res.band.code == "high" and res.has_critical
    assert adm.result.band_chip.text() == "High risk"
    assert adm.pages.currentWidget() is adm.result_page


def _critical_alert(ctx: AppContext, doc: object, pid: str) -> str:
    answers = {f"q{i}": 1 for i in range(1, 11)}
    out = assessments.submit(ctx, doc, pid, "phq9", answers, mode="clinician")
    (alert_id,) = out.alert_ids
    return alert_id


def test_acknowledge_then_resolve_with_reasons(
    qtbot: object, ctx: AppContext, clinic: dict, opened: list[QWidget]
) -> None:
    doc = clinic["users"][Role.CLINICIAN]
    alert_id = _critical_alert(ctx, doc, clinic["mine"])
    inbox = AlertInbox(ctx, doc, patient_id=clinic["mine"])
    opened.append(inbox)
    inbox.show()
    qtbot.waitUntil(lambda: not inbox.loading and len(inbox.rows) == 1)
    assert inbox.select(alert_id) and inbox.ack_button.isEnabled()

    # cancelling changes nothing
    qtbot.mouseClick(inbox.dismiss_button, Qt.MouseButton.LeftButton)
    dlg = inbox.dialog
    assert dlg is not None and not dlg.ok.isEnabled()  # a dismissal needs a reason
    dlg.reject()
    assert alerts.list_open_alerts(ctx, doc)[0].status == "new"

    qtbot.mouseClick(inbox.ack_button, Qt.MouseButton.LeftButton)
    dlg = inbox.dialog
    assert dlg.ok.isEnabled()  # acknowledging may go without a note
    qtbot.keyClicks(dlg.reason, "Calling the patient now")
    qtbot.mouseClick(dlg.ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: inbox.rows and inbox.rows[0].alert.status == "acknowledged")
    assert inbox.table.item(0, 5).text() == "acknowledged"
    assert not inbox.ack_button.isEnabled() and inbox.resolve_button.isEnabled()

    qtbot.mouseClick(inbox.resolve_button, Qt.MouseButton.LeftButton)
    dlg = inbox.dialog
    assert not dlg.ok.isEnabled()
    qtbot.keyClicks(dlg.reason, "ok")
    assert not dlg.ok.isEnabled()  # too short to explain a resolution
    qtbot.keyClicks(dlg.reason, " - safety plan agreed, seen today")
    assert dlg.ok.isEnabled()
    _press(qtbot, dlg.reason, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert dlg.result() == QDialog.DialogCode.Accepted
    qtbot.waitUntil(lambda: not inbox.loading and inbox.rows == [])
    assert inbox.summary.text() == "No open alerts."
    assert alerts.list_open_alerts(ctx, doc) == []
    # every step is in the verified audit chain
    report = admin.verify_audit(ctx, clinic["users"][Role.IT])
    assert report.ok


def test_trend_chart_has_points_and_band_regions(
    qtbot: object, ctx: AppContext, clinic: dict, opened: list[QWidget]
) -> None:
    doc = clinic["users"][Role.CLINICIAN]
    pid = clinic["mine"]
    now = datetime.now(UTC).replace(microsecond=0)
    for weeks, level in ((8, 3), (5, 2), (2, 1)):
        answers = {f"q{i}": level for i in range(1, 11)} | {"q9": 0}
        assessments.submit(
            ctx, doc, pid, "phq9", answers, administered_at=now - timedelta(weeks=weeks)
        )
    cssrs = {"q1": 1, "q2": 0, "q6": 0}
    assessments.submit(ctx, doc, pid, "cssrs_screener", cssrs, administered_at=now)
    chart = TrendChart(ctx, doc, pid)
    qtbot.addWidget(chart)  # pytest-qt closes and disposes of it (see the fixture's note)
    opened.append(chart)
    chart.resize(900, 700)
    chart.show()
    qtbot.waitUntil(lambda: not chart.loading and len(chart.series) == 2)

    assert set(chart.plots) == {"phq9", "cssrs_screener"}
    xs, ys = chart.curves["phq9"].getData()
    assert list(ys) == [24.0, 16.0, 8.0]
    phq = instrument("phq9")
    regions = [tuple(r.getRegion()) for r in chart.regions["phq9"]]
    assert regions == [(b.min - 0.5, b.max + 0.5) for b in phq.bands]
    assert len(chart.regions["cssrs_screener"]) == 4
    assert list(chart.curves["cssrs_screener"].getData()[1]) == [1.0]  # 'low' by rank

    qtbot.waitUntil(lambda: chart.plots["phq9"].vb.sceneBoundingRect().width() > 100)
    text = chart.hover_at(chart.point_scene_pos("phq9", 1))
    when = (now - timedelta(weeks=5)).astimezone().strftime("%Y-%m-%d")
    assert "PHQ-9" in text and when in text and "total 16" in text and "Moderately severe" in text
    assert chart.tips["phq9"].isVisible()
    assert chart.hover_at(QPointF(-50, -50)) == ""

    # a new administration reaches the open chart through the event bus
    assessments.submit(ctx, doc, pid, "phq9", {f"q{i}": 0 for i in range(1, 11)})
    qtbot.waitUntil(lambda: len(chart.curves["phq9"].getData()[1]) == 4, timeout=10_000)
    assert list(chart.curves["phq9"].getData()[1]) == [24.0, 16.0, 8.0, 0.0]
