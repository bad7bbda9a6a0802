"""Drive the real shell: first run, sign-in (wrong password, lockout, TOTP), patients, tabs,
notes, break-glass, idle lock and unlock, background tasks."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pyotp
import pytest
from PySide6.QtCore import Qt, QThread, QTimer
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableView,
    QTableWidget,
)

from app.core.domain import Role
from app.core.errors import ValidationError
from app.core.events import PatientDataUpdated
from app.demo import DEMO_PASSWORD, create_demo_clinic
from app.services import admin, drafts, notes, patients
from app.services.context import cli_actor
from tests.conftest import PASSWORD, REPO, make_user
from tests.ui.conftest import close_window
from tests.ui.shell_driver import WAIT, idle, sign_in, signed_in
from ui import shell as shell_mod
from ui.dialogs import BreakGlassDialog, provenance_html
from ui.launcher import wants_gui
from ui.shell import ShellWindow


@pytest.fixture
def demo(ctx):
    create_demo_clinic(ctx, patients=4, days=60, actigraphy_days=2)
    return ctx


def open_first_patient(qtbot, w: ShellWindow) -> str:
    qtbot.waitUntil(lambda: w.patient_list.model.rowCount() > 0, timeout=WAIT)
    table = w.patient_list.table
    table.setFocus()
    table.selectRow(0)
    table.setCurrentIndex(w.patient_list.proxy.index(0, 0))
    qtbot.keyClick(table, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.workspace.patient_id is not None, timeout=WAIT)
    pid = w.workspace.patient_id
    qtbot.waitUntil(lambda: w.workspace.overview.loaded_for == pid, timeout=WAIT)
    return pid


def visible_texts(w: ShellWindow) -> str:
    parts = [x.text() for x in w.findChildren(QLabel) if x.isVisible()]
    parts += [x.text() for x in w.findChildren(QLineEdit) if x.isVisible()]
    parts += [x.toPlainText() for x in w.findChildren(QPlainTextEdit) if x.isVisible()]
    return "\n".join(parts)


def test_first_run_creates_admin_then_shows_login(qtbot, make_shell):
    w = make_shell()
    assert w.stack.currentIndex() == shell_mod.PAGE_FIRST_RUN
    page = w.first_run_page
    page.username.setText("clinic.admin")
    page.display.setText("Clinic Admin")
    page.password.setText("a long password")
    page.repeat.setText("a different one")
    qtbot.mouseClick(page.create_button, Qt.MouseButton.LeftButton)
    assert "differ" in page.message.text()
    page.repeat.setText("a long password")
    qtbot.mouseClick(page.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_LOGIN, timeout=WAIT)
    signed_in(qtbot, w, "clinic.admin", "a long password")
    assert w.main_page.currentWidget() is w.no_clinical  # admins see no clinical content


def test_wrong_password_then_sign_in(qtbot, ctx, make_shell):
    make_user(ctx, "dr.one", Role.CLINICIAN)
    w = make_shell()
    sign_in(qtbot, w, "dr.one", "not the password")
    qtbot.waitUntil(lambda: w.login_page.message.isVisible(), timeout=WAIT)
    assert "wrong password" in w.login_page.message.text()
    assert w.stack.currentIndex() == shell_mod.PAGE_LOGIN
    signed_in(qtbot, w, "dr.one")
    assert "dr.one · clinician" in w.status_user.text()
    # the status bar's first refresh after sign-in reports this unenrolled workstation
    qtbot.waitUntil(lambda: "not enrolled" in w.status_sync.text(), timeout=WAIT)
    assert w.login_page.password.text() == ""  # the secret does not linger


def test_lockout_message(qtbot, ctx, make_shell):
    make_user(ctx, "dr.two", Role.CLINICIAN)
    w = make_shell()
    for _ in range(ctx.settings.lockout_threshold):
        w.login_page.show_message("")
        sign_in(qtbot, w, "dr.two", "wrong wrong")
        qtbot.waitUntil(lambda: w.login_page.button.isEnabled(), timeout=WAIT)
    assert "locked" in w.login_page.message.text()
    sign_in(qtbot, w, "dr.two", PASSWORD)  # even the right password is refused now
    qtbot.waitUntil(lambda: w.login_page.button.isEnabled(), timeout=WAIT)
    assert "locked" in w.login_page.message.text()
    assert w.principal is None


def test_totp_sign_in(qtbot, ctx, make_shell):
    make_user(ctx, "dr.mfa", Role.CLINICIAN)
    secret = admin.enrol_totp(ctx, cli_actor(), "dr.mfa")
    w = make_shell()
    sign_in(qtbot, w, "dr.mfa", PASSWORD)
    qtbot.waitUntil(lambda: w.login_page.totp.isVisible(), timeout=WAIT)
    w.login_page.totp.setText("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    w.login_page.password.setText(PASSWORD)
    qtbot.mouseClick(w.login_page.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: "not valid" in w.login_page.message.text() and w.login_page.button.isEnabled(),
        timeout=WAIT,
    )
    w.login_page.password.setText(PASSWORD)
    w.login_page.totp.setText(pyotp.TOTP(secret).now())
    qtbot.mouseClick(w.login_page.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_MAIN, timeout=WAIT)


def t_hidden(widget) -> bool:
    return widget.isHidden()


def test_open_patient_and_switch_tabs(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "dr.adams", DEMO_PASSWORD)
    assert w.workspace.tab_titles()[-1] == "Alerts"  # no Audit tab for clinicians
    pid = open_first_patient(qtbot, w)
    assert w.workspace.badge.isVisible()  # demo patients are marked synthetic
    assert w.workspace.overview.phq.value.text() != "—"
    assert "synthetic data" in w.workspace.overview.risk.detail.text()
    w.workspace.tabs.setCurrentWidget(w.workspace.assessments)
    qtbot.waitUntil(lambda: w.workspace.assessments.loaded_for == pid, timeout=WAIT)
    assert w.workspace.assessments.table.rowCount() > 0
    for tab in (w.workspace.actigraphy, w.workspace.predictions, w.workspace.analysis):
        w.workspace.tabs.setCurrentWidget(tab)
        qtbot.waitUntil(lambda t=tab: t.loaded_for == pid and t.panel is not None, timeout=WAIT)
        qtbot.waitUntil(lambda t=tab: t.panel.patient_id == pid, timeout=WAIT)
        assert not t_hidden(tab.panel)
    w.workspace.tabs.setCurrentWidget(w.workspace.twin)
    qtbot.waitUntil(lambda: w.workspace.twin.loaded_for == pid, timeout=WAIT)
    assert w.workspace.twin.view is not None and not w.workspace.twin.view.isHidden()


def test_supervisor_sees_audit_tab(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "sup.davis", DEMO_PASSWORD)
    assert "Audit" in w.workspace.tab_titles()
    pid = open_first_patient(qtbot, w)
    w.workspace.tabs.setCurrentWidget(w.workspace.audit)
    qtbot.waitUntil(lambda: w.workspace.audit.loaded_for == pid, timeout=WAIT)
    actions = {
        w.workspace.audit.table.item(r, 4).text() for r in range(w.workspace.audit.table.rowCount())
    }
    assert "patient.read" in actions


def test_search_and_filters(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "sup.davis", DEMO_PASSWORD)
    panel = w.patient_list
    qtbot.waitUntil(lambda: panel.model.rowCount() == 4, timeout=WAIT)
    qtbot.keyClicks(panel.search, "DEMO-0002")
    assert panel.proxy.rowCount() == 1
    panel.search.clear()
    panel.alerts_only.setChecked(True)
    expected = sum(1 for i in panel.model.ids() if panel.model.summary(i).open_alerts)
    assert panel.proxy.rowCount() == expected
    panel.alerts_only.setChecked(False)
    panel.risk.setCurrentIndex(panel.risk.count() - 1)  # very high only
    bands = [panel.model.summary(i).latest_risk_band for i in panel.model.ids()]
    assert panel.proxy.rowCount() == bands.count("very high")


def test_note_draft_then_sign(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "dr.adams", DEMO_PASSWORD)
    pid = open_first_patient(qtbot, w)
    tab = w.workspace.notes
    w.workspace.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.loaded_for == pid, timeout=WAIT)
    before = tab.list.count()
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(tab.title, "Phone call")
    qtbot.keyClicks(tab.body, "Spoke with patient; plan unchanged.")
    qtbot.mouseClick(tab.sign_button, Qt.MouseButton.LeftButton)
    principal = w.principal
    qtbot.waitUntil(lambda: tab.state.text().startswith("Signed"), timeout=WAIT)
    qtbot.waitUntil(lambda: tab.list.count() == before + 1, timeout=WAIT)
    idle(qtbot, w)  # the core's store is not safe for concurrent readers: check when idle
    signed = [n for n in notes.list_notes(w.ctx, principal, pid) if n.title == "Phone call"]
    assert [n.status.value for n in signed] == ["signed"]


def test_break_glass_asks_reason(qtbot, ctx, make_shell):
    me = make_user(ctx, "dr.me", Role.CLINICIAN)
    other = make_user(ctx, "dr.other", Role.CLINICIAN)
    from datetime import date

    theirs = patients.create_patient(
        ctx,
        other,
        mrn="BG-1",
        given_name="Una",
        family_name="Signed",
        birth_date=date(1970, 1, 1),
        sex="female",
    )
    assert me.username == "dr.me"
    w = make_shell()
    signed_in(qtbot, w, "dr.me")
    seen: list[BreakGlassDialog] = []

    def answer() -> None:
        dialogs = [d for d in QApplication.topLevelWidgets() if isinstance(d, BreakGlassDialog)]
        if not dialogs:
            QTimer.singleShot(50, answer)
            return
        d = dialogs[0]
        seen.append(d)
        ok = d.buttons.buttons()[0]
        d.reason.setPlainText("short")
        assert not ok.isEnabled()
        d.reason.setPlainText("Patient in ED, on-call cover, care team unreachable")
        d.accept()

    QTimer.singleShot(50, answer)
    w.open_patient(theirs)
    qtbot.waitUntil(lambda: w.workspace.patient_id == theirs, timeout=WAIT)
    assert seen
    assert "not on your care team" in w.workspace.facts.text()


def test_idle_lock_hides_phi_keeps_draft_and_unlocks(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "dr.adams", DEMO_PASSWORD)
    pid = open_first_patient(qtbot, w)
    family = w.workspace.name.text().split(",")[0]
    tab = w.workspace.notes
    w.workspace.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.loaded_for == pid, timeout=WAIT)
    qtbot.mouseClick(tab.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(tab.title, "Unfinished")
    qtbot.keyClicks(tab.body, "Half a thought")
    principal = w.principal
    w.idle.set_timeout_ms(400)  # test hook: the policy itself cannot go below 1 minute
    w.idle.start()
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_LOCK, timeout=WAIT)
    assert w.principal is None
    assert w.patient_list.model.rowCount() == 0
    assert family not in visible_texts(w)
    idle(qtbot, w)
    kept = drafts.load_drafts(w.ctx, principal, kind="note")
    assert [d["content"]["body"] for d in kept] == ["Half a thought"]
    w.lock_page.password.setText("wrong password!")
    qtbot.mouseClick(w.lock_page.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.lock_page.message.isVisible(), timeout=WAIT)
    assert w.stack.currentIndex() == shell_mod.PAGE_LOCK
    w.lock_page.password.setText(DEMO_PASSWORD)
    qtbot.mouseClick(w.lock_page.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.stack.currentIndex() == shell_mod.PAGE_MAIN, timeout=WAIT)
    qtbot.waitUntil(lambda: w.workspace.patient_id == pid, timeout=WAIT)
    w.workspace.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.body.toPlainText() == "Half a thought", timeout=WAIT)


def test_cancel_long_task_from_status_bar(qtbot, ctx, make_shell):
    w = make_shell()
    stopped = threading.Event()
    results: list[object] = []

    def long_task(token, progress):
        for i in range(1000):
            if token.cancelled:
                stopped.set()
                token.check()
            progress(i // 10, f"step {i}")
            time.sleep(0.01)
        return "finished"

    task = w.tasks.run(long_task, label="Long job", on_done=results.append)
    qtbot.waitUntil(lambda: w.task_cancel.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: w.task_progress.value() > 0, timeout=WAIT)
    qtbot.mouseClick(w.task_cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.tasks.active(), timeout=WAIT)
    assert stopped.is_set()
    assert results == []
    assert task.token.cancelled
    qtbot.waitUntil(lambda: not w.task_label.isVisible(), timeout=WAIT)


def test_task_errors_are_readable(qtbot, ctx, make_shell):
    w = make_shell()
    messages: list[str] = []
    w.tasks.error.disconnect(w.show_error)
    w.tasks.error.connect(messages.append)

    def bad(_t, _p):
        raise ValidationError("import.csv: line 3, column 'activity': not a number")

    def crash(_t, _p):
        raise RuntimeError("secret internals")

    w.tasks.run(bad, label="bad")
    w.tasks.run(crash, label="crash")
    qtbot.waitUntil(lambda: len(messages) == 2, timeout=WAIT)
    assert any("line 3" in m for m in messages)
    assert any("log file" in m and "secret" not in m for m in messages)


def test_write_task_and_events_reach_gui_thread(qtbot, ctx, make_shell):
    w = make_shell()
    threads: list[object] = []
    w.bridge.patient_data_updated.connect(lambda e: threads.append(QThread.currentThread()))
    done: list[object] = []

    def write(uow):
        uow.emit(PatientDataUpdated(patient_id="", record_type="test", record_id="x"))
        return threading.current_thread().name

    w.tasks.write(write, label="write", on_done=done.append)
    qtbot.waitUntil(lambda: bool(done and threads), timeout=WAIT)
    assert done[0] != threading.current_thread().name  # ran on the writer thread
    assert threads[0] is QApplication.instance().thread()


def test_geometry_is_restored(qtbot, ctx, make_shell):
    w = make_shell()
    w.resize(1000, 700)
    w.splitter.setSizes([300, 700])
    close_window(w)
    assert (ctx.settings.data_dir / "ui_state.json").exists()
    w2 = make_shell(resize=False)
    assert abs(w2.width() - 1000) <= 2
    assert abs(w2.splitter.sizes()[0] - 300) <= 40  # handle width and rounding


def test_about_lists_models_with_labels(ctx):
    html = provenance_html(ctx.settings)
    assert "PHQ-9" in html or "Patient Health Questionnaire-9" in html
    assert "synthetic data — demonstration only" in html
    assert "Language model" in html


def test_launcher_routes_cli_without_qt():
    assert wants_gui([]) and wants_gui(["--exit-after-paint"])
    assert not wants_gui(["doctor"]) and not wants_gui(["--help"])
    code = (
        "import sys\nfrom ui.launcher import main\n"
        "try:\n    main(['admin', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('QT' if 'PySide6' in sys.modules else 'NOQT')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().endswith("NOQT")


def test_alert_inbox_and_assessment_views(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "sup.davis", DEMO_PASSWORD)
    w.act_alerts.trigger()
    dialog = w.inbox_dialog
    qtbot.waitUntil(lambda: dialog.isVisible(), timeout=WAIT)
    assert w.patient_list.alerts_only.isChecked()  # the list narrows to patients with alerts
    dialog.close()
    w.patient_list.alerts_only.setChecked(False)
    pid = open_first_patient(qtbot, w)
    tab = w.workspace.assessments
    w.workspace.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.loaded_for == pid and tab.trends.widget is not None, timeout=WAIT)
    tab.sub.setCurrentWidget(tab.administer)
    assert tab.administer.widget is not None and tab.administer.patient_id == pid


def test_caseload_view_sorted_by_risk(qtbot, demo, make_shell):
    w = make_shell()
    signed_in(qtbot, w, "sup.davis", DEMO_PASSWORD)
    w.act_caseload.trigger()
    dialog = w.caseload_dialog
    table = dialog.findChild(QTableWidget) or dialog.findChild(QTableView)
    assert table is not None
    qtbot.waitUntil(lambda: table.model().rowCount() == 4, timeout=WAIT)
    dialog.close()
