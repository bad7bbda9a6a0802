"""The shell window's actions, menu bar and toolbar."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar, QToolButton, QWidget

from ui.widgets import label

if TYPE_CHECKING:
    from ui.shell.window import ShellWindow


class ShellActions:
    """The attributes `build_menus` gives the window (ShellWindow derives from this)."""

    act_about: QAction
    act_alerts: QAction
    act_backup: QAction
    act_caseload: QAction
    act_change_password: QAction
    act_clinic_dashboard: QAction
    act_close_patient: QAction
    act_conflicts: QAction
    act_find: QAction
    act_full: QAction
    act_lock: QAction
    act_open_mrn: QAction
    act_quit: QAction
    act_refresh: QAction
    act_sign_out: QAction
    act_sync: QAction
    theme_actions: dict[str, QAction]
    session_actions: list[QAction]
    alerts_button: QToolButton
    alerts_badge: QLabel
    toolbar: QToolBar


def make_action(
    parent: QObject,
    text: str,
    slot: Callable[..., object],
    shortcut: QKeySequence.StandardKey | str | None = None,
    *,
    name: str = "",
) -> QAction:
    """A QAction with its slot and optional shortcut and object name."""
    a = QAction(text, parent)
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    a.triggered.connect(slot)
    if name:
        a.setObjectName(name)
    return a


def build_menus(w: ShellWindow) -> None:
    """Give `w` its actions (act_*), menu bar, theme menu and toolbar."""
    sk = QKeySequence.StandardKey
    w.act_open_mrn = make_action(w, "&Open by MRN…", w.open_by_mrn, sk.Open)
    w.act_close_patient = make_action(
        w, "&Close patient", lambda: w.workspace.close_patient(), sk.Close
    )
    w.act_refresh = make_action(w, "&Refresh", w.refresh, sk.Refresh)
    w.act_caseload = make_action(w, "&Caseload by risk…", w.show_caseload)
    w.act_clinic_dashboard = make_action(
        w, "Clinic &dashboard…", w.show_clinic_dashboard, name="clinicDashboardAction"
    )
    w.act_lock = make_action(w, "&Lock", w.lock, "Ctrl+L")
    w.act_sign_out = make_action(w, "Sign &out", w.sign_out)
    w.act_change_password = make_action(w, "Change &password…", w.change_password)
    w.act_quit = make_action(w, "&Quit", w.close, sk.Quit)
    w.act_find = make_action(w, "&Find patient", lambda: w.patient_list.search.setFocus(), sk.Find)
    w.act_alerts = make_action(w, "Open &alerts", w.show_alert_inbox)
    w.act_about = make_action(w, "&About Novamind", w.about)
    w.act_sync = make_action(w, "&Sync now", lambda: w.sync.sync_now())
    w.act_backup = make_action(w, "&Backup and restore…", w.show_backups)
    w.act_conflicts = make_action(w, "Sync &conflicts…", w.show_conflicts)
    w.act_full = make_action(w, "&Full screen", w.toggle_full_screen, sk.FullScreen)
    menu = w.menuBar()
    m = menu.addMenu("&File")
    for a in (w.act_open_mrn, w.act_close_patient):
        m.addAction(a)
    m.addSeparator()
    for a in (w.act_change_password, w.act_lock, w.act_sign_out):
        m.addAction(a)
    m.addSeparator()
    m.addAction(w.act_quit)
    m = menu.addMenu("&Edit")
    m.addAction(w.act_find)
    m = menu.addMenu("&View")
    m.addAction(w.act_refresh)
    m.addAction(w.act_caseload)
    m.addAction(w.act_clinic_dashboard)
    m.addAction(w.act_full)
    themes = m.addMenu("&Theme")
    group = QActionGroup(w)
    w.theme_actions = {}
    for key, text in (("system", "Follow &system"), ("light", "&Light"), ("dark", "&Dark")):
        a = QAction(text, w)
        a.setCheckable(True)
        a.setChecked(w.settings.theme == key)
        a.triggered.connect(lambda _c=False, k=key: w.set_theme(k))
        group.addAction(a)
        themes.addAction(a)
        w.theme_actions[key] = a
    m = menu.addMenu("&Sync")
    m.addAction(w.act_sync)
    m.addAction(w.act_conflicts)
    m.addSeparator()
    m.addAction(w.act_backup)
    m = menu.addMenu("&Help")
    m.addAction(w.act_about)
    w.session_actions = [
        w.act_caseload,
        w.act_clinic_dashboard,
        w.act_backup,
        w.act_sync,
        w.act_conflicts,
        w.act_open_mrn,
        w.act_close_patient,
        w.act_refresh,
        w.act_lock,
        w.act_sign_out,
        w.act_find,
        w.act_alerts,
    ]
    w.session_actions.append(w.act_change_password)
    tb = w.addToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    tb.addWidget(label("  Novamind  ", "h2"))
    tb.addSeparator()
    tb.addAction(w.act_refresh)
    tb.addAction(w.act_open_mrn)
    spacer = QWidget()
    spacer.setSizePolicy(
        spacer.sizePolicy().horizontalPolicy().Expanding,
        spacer.sizePolicy().verticalPolicy().Preferred,
    )
    tb.addWidget(spacer)
    w.alerts_button = QToolButton()
    w.alerts_button.setDefaultAction(w.act_alerts)
    w.alerts_button.setAccessibleName("Open alerts")
    tb.addWidget(w.alerts_button)
    w.alerts_badge = label("0", "badgeZero")
    w.alerts_badge.setAccessibleName("Number of open alerts")
    tb.addWidget(w.alerts_badge)
    tb.addSeparator()
    tb.addAction(w.act_lock)
    w.toolbar = tb
