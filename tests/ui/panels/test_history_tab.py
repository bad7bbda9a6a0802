"""Clinical history tab (issue 20 item 1), driven like a clinician over the real encrypted
store: what is typed reaches app.services.history and comes back on screen, "Unknown" stays
unknown, refusals show the service's words and store nothing, read-only roles see the data
with every write control disabled."""

from __future__ import annotations

import json
from datetime import date

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QLabel

from app.core.domain import Action, Role
from app.core.security import rbac
from app.services import admin, drafts, history, model_inputs, nlp, notes
from app.services.context import AppContext
from app.services.history import STOP_REASONS, IntakeHistory
from app.services.vocabulary import FLAG_LABELS
from engines.llm.notes import parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, LoadParams, ModelProvenance
from ui.tasks import TaskManager
from ui.workspace.history import HistoryTab
from ui.workspace.history.dialogs import (
    FAILED_TRIAL_HELP,
    AddMedicationDialog,
    AdmissionDialog,
    DischargeDialog,
    StopMedicationDialog,
)
from ui.workspace.view import PatientWorkspace

WAIT = 15000


def idle(qtbot, tab: HistoryTab) -> None:
    qtbot.waitUntil(lambda: not tab.tasks.busy, timeout=WAIT)


def opened(qtbot, show, ctx: AppContext, who, pid: str) -> HistoryTab:
    tab = HistoryTab(ctx, who, pid)
    show(tab, 1100, 900)
    qtbot.waitUntil(lambda: tab.loaded_for == pid, timeout=WAIT)
    idle(qtbot, tab)
    return tab


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def column(tab_table, col: int) -> list[str]:
    return [tab_table.item(r, col).text() for r in range(tab_table.rowCount())]


def test_intake_round_trips_through_the_service_and_shows(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    assert tab.recorded.text().startswith("Not recorded yet")
    form = tab.intake
    form.episodes.setValue(2)
    form.onset.setValue(24)
    form.admissions.setValue(1)
    form.last_discharge.known.setChecked(True)
    form.last_discharge.date.setDate(QDate(2019, 3, 4))
    form.flags["substance_use"].setCurrentText("Absent")
    form.flags["hopelessness"].setCurrentText("Present")
    assert tab.has_unsaved_changes()
    click(qtbot, tab.save_button)
    idle(qtbot, tab)

    stored = history.get_history(ctx, me, pid).intake
    assert (stored.prior_episodes, stored.age_at_onset, stored.prior_admissions_before) == (
        2,
        24.0,
        1,
    )
    assert stored.last_discharge_before == date(2019, 3, 4)
    assert stored.failed_trials_before is None  # never touched: still unknown
    assert stored.flags.get("substance_use") is False and stored.flags.get("hopelessness")
    assert stored.flags.get("psychotic_features") is None
    assert stored.recorded_by == me.user_id
    assert not tab.has_unsaved_changes() and not tab.error_line.isVisible()
    assert tab.recorded.text().startswith("Recorded ") and me.display_name in tab.recorded.text()

    # a fresh tab shows what was stored
    again = opened(qtbot, show, ctx, me, pid)
    f = again.intake
    assert (f.episodes.text(), f.onset.text(), f.admissions.text()) == ("2", "24 y", "1")
    assert f.last_discharge.value() == date(2019, 3, 4)
    assert f.failed.text() == "Unknown"
    shown = {name: combo.currentText() for name, combo in f.flags.items()}
    assert shown == {
        "substance_use": "Absent",
        "psychotic_features": "Unknown",
        "psychosocial_stressor": "Unknown",
        "hopelessness": "Present",
    }


def test_unknown_stays_apart_from_zero(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    assert tab.intake.episodes.text() == "Unknown" and tab.intake.value() == IntakeHistory(
        flags=dict.fromkeys(history.FLAG_NAMES)
    )
    tab.intake.episodes.setValue(0)  # "no prior episodes" is a fact, not a missing input
    click(qtbot, tab.save_button)
    idle(qtbot, tab)
    stored = history.get_history(ctx, me, pid).intake
    assert stored.prior_episodes == 0
    assert stored.age_at_onset is None and stored.prior_admissions_before is None
    assert stored.failed_trials_before is None and stored.last_discharge_before is None
    assert all(stored.flags.get(n) is None for n in history.FLAG_NAMES)
    again = opened(qtbot, show, ctx, me, pid)
    assert again.intake.episodes.text() == "0"
    assert again.intake.onset.text() == "Unknown" and again.intake.failed.text() == "Unknown"


def test_add_then_stop_a_medication_with_a_reason(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    assert not tab.stop_med.isEnabled()  # nothing selected
    click(qtbot, tab.add_med)
    add = tab.dialog
    assert isinstance(add, AddMedicationDialog) and add.isVisible()
    assert [add.drug_class.itemText(i) for i in range(add.drug_class.count())] == list(
        history.DRUG_CLASSES
    )
    add.name.setText("sertraline")
    add.drug_class.setCurrentText("SSRI")
    add.dose.setValue(100)
    add.unit.setCurrentText("mg")
    add.frequency.setCurrentText("once daily")
    add.start.setDate(QDate(2025, 1, 10))
    add.adherence.setValue(80)
    click(qtbot, add.save_button)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=WAIT)
    idle(qtbot, tab)
    (med,) = history.get_history(ctx, me, pid).medications
    assert (med.name, med.drug_class, med.dose, med.unit, med.frequency) == (
        "sertraline",
        "SSRI",
        100.0,
        "mg",
        "once daily",
    )
    assert med.start == date(2025, 1, 10) and med.adherence == pytest.approx(0.8)
    assert med.end is None and med.stop_reason is None
    assert tab.meds.rowCount() == 1
    assert [tab.meds.item(0, c).text() for c in range(8)] == [
        "sertraline",
        "SSRI",
        "100 mg",
        "once daily",
        "2025-01-10",
        "current",
        "",
        "80%",
    ]

    tab.meds.selectRow(0)
    click(qtbot, tab.stop_med)
    stop = tab.dialog
    assert isinstance(stop, StopMedicationDialog)
    assert "counts as a failed adequate trial" in FAILED_TRIAL_HELP
    assert any(FAILED_TRIAL_HELP == w.text() for w in stop.findChildren(type(tab.recorded)))
    assert stop.reason.currentIndex() == -1  # no default reason
    click(qtbot, stop.save_button)  # refused locally until a reason is chosen
    assert stop.isVisible() and "Choose why" in stop.message.text()
    stop.end.setDate(QDate(2025, 6, 1))
    stop.reason.setCurrentIndex(stop.reason.findData("inadequate_response"))
    click(qtbot, stop.save_button)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=WAIT)
    idle(qtbot, tab)
    (med,) = history.get_history(ctx, me, pid).medications
    assert med.end == date(2025, 6, 1) and med.stop_reason == "inadequate_response"
    assert tab.meds.item(0, 5).text() == "2025-06-01"
    assert tab.meds.item(0, 6).text() == STOP_REASONS["inadequate_response"]
    tab.meds.selectRow(0)
    assert not tab.stop_med.isEnabled()  # a stopped medication cannot be stopped again


def test_record_an_admission_then_the_discharge(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    click(qtbot, tab.admit)
    d = tab.dialog
    assert isinstance(d, AdmissionDialog) and not d.discharged.isEnabled()
    d.admitted.setDate(QDate(2026, 1, 5))
    click(qtbot, d.save_button)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=WAIT)
    idle(qtbot, tab)
    (adm,) = history.get_history(ctx, me, pid).admissions
    assert adm.admitted == date(2026, 1, 5) and adm.discharged is None
    assert column(tab.admissions, 0) == ["2026-01-05"]
    assert column(tab.admissions, 1) == ["current"]
    assert not tab.discharge.isEnabled()  # nothing selected yet

    tab.admissions.selectRow(0)
    rect = tab.admissions.visualItemRect(tab.admissions.item(0, 0))
    for act in (qtbot.mouseClick, qtbot.mouseDClick):  # Qt pairs a double-click with a press
        act(tab.admissions.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dis = tab.dialog  # a double-click on the open admission asks for its discharge
    assert isinstance(dis, DischargeDialog)
    dis.discharged.setDate(QDate(2026, 1, 19))
    click(qtbot, dis.save_button)
    qtbot.waitUntil(lambda: tab.dialog is None, timeout=WAIT)
    idle(qtbot, tab)
    (adm,) = history.get_history(ctx, me, pid).admissions
    assert adm.discharged == date(2026, 1, 19)
    assert column(tab.admissions, 1) == ["2026-01-19"]
    assert column(tab.admissions, 2) == ["14"]
    tab.admissions.selectRow(0)
    assert not tab.discharge.isEnabled()


def test_a_refused_intake_shows_the_reason_and_changes_nothing(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]  # born 1980
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=1, age_at_onset=30))
    before = history.get_history(ctx, me, pid)
    tab = opened(qtbot, show, ctx, me, pid)
    tab.intake.onset.setValue(90)  # above the patient's age
    click(qtbot, tab.save_button)
    qtbot.waitUntil(tab.error_line.isVisible, timeout=WAIT)
    idle(qtbot, tab)
    assert "age at onset is above the patient's current age" in tab.error_line.text()
    assert history.get_history(ctx, me, pid) == before
    assert tab.has_unsaved_changes() and tab.intake.onset.text() == "90 y"  # input kept


def test_a_refused_medication_keeps_the_dialog_open(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    click(qtbot, tab.add_med)
    add = tab.dialog
    add.name.setText("lithium")
    add.drug_class.setCurrentText("mood stabiliser")
    add.dose.setValue(400)
    add.start.setDate(QDate(1970, 1, 1))  # before the patient was born
    click(qtbot, add.save_button)
    qtbot.waitUntil(add.message.isVisible, timeout=WAIT)
    idle(qtbot, tab)
    assert "before the patient's date of birth" in add.message.text()
    assert add.message.text() in tab.error_line.text() and tab.error_line.isVisible()
    assert tab.dialog is add and add.isVisible() and add.save_button.isEnabled()
    assert add.name.text() == "lithium"
    assert history.get_history(ctx, me, pid).medications == ()
    assert tab.meds.rowCount() == 0
    add.reject()


def test_outside_the_care_team_the_controls_are_off_before_any_save(
    ctx, clinic, qtbot, show
) -> None:
    """A supervisor may read every patient but write only for their care team: the tab says so
    up front (the service's answer) instead of refusing on save; once assigned, they may."""
    sup, other, pid = clinic["users"][Role.SUPERVISOR], clinic["other"], clinic["theirs"]
    history.record_intake(ctx, other, pid, IntakeHistory(prior_episodes=1))
    history.add_medication(
        ctx, other, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
        frequency="once daily", start=date(2025, 1, 1),
    )  # fmt: skip
    history.record_admission(ctx, other, pid, admitted=date(2025, 2, 1))
    before = history.get_history(ctx, sup, pid)
    tab = opened(qtbot, show, ctx, sup, pid)
    assert tab.intake.episodes.text() == "1"  # the records are shown
    assert tab.meds.rowCount() == 1 and tab.admissions.rowCount() == 1
    assert tab.recorded.text().endswith(f"by {other.display_name}")  # a name, not an id
    tab.meds.selectRow(0)
    tab.admissions.selectRow(0)
    assert tab.read_only.isVisible() and "not on this patient's care team" in tab.read_only.text()
    controls = (tab.save_button, tab.add_med, tab.stop_med, tab.admit, tab.discharge)
    assert not any(b.isEnabled() for b in controls)
    assert not tab.intake.episodes.isEnabled()
    assert not any(c.isEnabled() for c in tab.intake.flags.values())
    rect = tab.meds.visualItemRect(tab.meds.item(0, 0))
    qtbot.mouseDClick(tab.meds.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert tab.dialog is None  # a double-click opens no form either
    assert history.get_history(ctx, sup, pid) == before

    admin.assign_care_team(ctx, clinic["users"][Role.ADMIN], username=sup.username, patient_id=pid)
    on_team = opened(qtbot, show, ctx, sup, pid)
    on_team.meds.selectRow(0)
    on_team.admissions.selectRow(0)
    assert not on_team.read_only.isVisible()
    assert all(
        b.isEnabled()
        for b in (
            on_team.save_button,
            on_team.add_med,
            on_team.stop_med,
            on_team.admit,
            on_team.discharge,
        )
    )
    assert on_team.intake.episodes.isEnabled()


def test_a_role_without_write_permission_sees_the_data_and_no_controls(
    ctx, clinic, qtbot, show, monkeypatch: pytest.MonkeyPatch
) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    history.record_intake(ctx, me, pid, IntakeHistory(prior_episodes=4))
    mid = history.add_medication(
        ctx, me, pid, name="sertraline", drug_class="SSRI", dose=50, unit="mg",
        frequency="once daily", start=date(2025, 1, 1),
    )  # fmt: skip
    history.record_admission(ctx, me, pid, admitted=date(2025, 2, 1))
    read_only = rbac.PERMISSIONS[Role.CLINICIAN] - {Action.WRITE_CLINICAL}
    monkeypatch.setitem(rbac.PERMISSIONS, Role.CLINICIAN, read_only)
    tab = opened(qtbot, show, ctx, me, pid)
    assert tab.intake.episodes.text() == "4"
    assert tab.meds.rowCount() == 1 and tab.admissions.rowCount() == 1
    tab.meds.selectRow(0)
    tab.admissions.selectRow(0)
    assert tab.read_only.isVisible()
    controls = (tab.save_button, tab.add_med, tab.stop_med, tab.admit, tab.discharge)
    assert not any(b.isEnabled() for b in controls)
    assert not tab.intake.episodes.isEnabled()
    assert not any(c.isEnabled() for c in tab.intake.flags.values())
    assert history.get_history(ctx, me, pid).medications[0].id == mid


def test_the_workspace_offers_the_tab_second(ctx, clinic, qtbot) -> None:
    me = clinic["users"][Role.CLINICIAN]
    tasks = TaskManager(ctx)
    ws = PatientWorkspace(ctx, tasks)
    qtbot.addWidget(ws)
    ws.set_principal(me)
    assert ws.tab_titles()[:2] == ["Overview", "Clinical history"]
    assert ws.history.relevant("medication") and ws.history.relevant("encounter")
    assert ws.history.relevant("patient") and not ws.history.relevant("actigraphy")
    assert ws.history.relevant("nlp")  # accepted findings set the flags the tab shows
    tasks.wait()


def test_a_half_typed_intake_is_kept_when_the_patient_closes(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    tab.intake.failed.setValue(2)
    tab.keep_unsaved()  # what the workspace does before the patient closes
    idle(qtbot, tab)
    tab.set_patient(None)
    assert tab.intake.failed.text() == "Unknown"  # the widgets hold no PHI once closed
    tab.set_patient(pid)
    qtbot.waitUntil(lambda: tab.loaded_for == pid, timeout=WAIT)
    idle(qtbot, tab)
    assert tab.intake.failed.text() == "2" and tab.has_unsaved_changes()
    assert tab.recorded.text().startswith("Restored your unsaved intake history")
    assert history.get_history(ctx, me, pid).intake == IntakeHistory()  # not saved yet
    click(qtbot, tab.save_button)
    idle(qtbot, tab)
    assert history.get_history(ctx, me, pid).intake.failed_trials_before == 2
    assert drafts.load_drafts(ctx, me, kind="intake") == []  # the kept copy is gone


def test_inputs_offer_only_what_the_service_accepts(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    form = tab.intake
    assert form.failed.maximum() == history.MAX_FAILED_TRIALS == 50
    assert form.episodes.maximum() == form.admissions.maximum() == history.MAX_COUNT
    assert form.onset.maximum() == history.MAX_ONSET_YEARS
    form.failed.lineEdit().selectAll()
    qtbot.keyClicks(form.failed, "99")  # above the top: the box will not take it
    assert form.failed.value() <= history.MAX_FAILED_TRIALS
    form.failed.setValue(history.MAX_FAILED_TRIALS)
    click(qtbot, tab.save_button)
    idle(qtbot, tab)
    assert not tab.error_line.isVisible()
    assert history.get_history(ctx, me, pid).intake.failed_trials_before == 50


def test_flag_names_come_from_the_shared_vocabulary(ctx, clinic, qtbot, show) -> None:
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    assert set(FLAG_LABELS) == set(history.FLAG_NAMES)
    tab = opened(qtbot, show, ctx, me, pid)
    captions = {w.text() for w in tab.intake.findChildren(QLabel)}
    for name, combo in tab.intake.flags.items():
        assert combo.accessibleName() == FLAG_LABELS[name]
        assert f"{FLAG_LABELS[name]}:" in captions


def _model_input(tab: HistoryTab, name: str) -> str:
    rows = {
        tab.model_inputs.item(r, 0).data(Qt.ItemDataRole.UserRole): tab.model_inputs.item(r, 1)
        for r in range(tab.model_inputs.rowCount())
    }
    return rows[name].text()


def test_the_tab_shows_the_totals_the_models_read(ctx, clinic, qtbot, show) -> None:
    """Read-only totals from model_inputs.history_inputs (the values build_features gives
    the models): intake counts plus this app's records; an accepted note finding sets a flag
    and the tab, following the bus, shows it without being reopened."""
    me, pid = clinic["users"][Role.CLINICIAN], clinic["mine"]
    tab = opened(qtbot, show, ctx, me, pid)
    assert tab.model_inputs.rowCount() == len(model_inputs.HISTORY_INPUTS)
    assert _model_input(tab, "failed_trials").startswith("missing")  # no intake yet
    history.record_intake(
        ctx, me, pid, IntakeHistory(prior_admissions_before=1, failed_trials_before=1)
    )
    mid = history.add_medication(
        ctx, me, pid, name="citalopram", drug_class="SSRI", dose=20, unit="mg",
        frequency="once daily", start=date(2024, 1, 1),
    )  # fmt: skip
    history.stop_medication(ctx, me, mid, end=date(2024, 4, 1), reason="inadequate_response")
    history.record_admission(ctx, me, pid, admitted=date(2024, 5, 1), discharged=date(2024, 5, 20))
    tab.follow(ctx.bus)
    tab.load()
    qtbot.waitUntil(lambda: _model_input(tab, "failed_trials") == "2", timeout=WAIT)
    idle(qtbot, tab)
    assert _model_input(tab, "prior_admissions") == "2"  # intake 1 + 1 recorded here
    assert _model_input(tab, "months_since_admission").endswith("months")
    assert _model_input(tab, "nlp_hopelessness").startswith("missing")
    shown = {v.name: v for v in model_inputs.history_inputs(ctx, me, pid)}
    assert shown["failed_trials"].value == 2 and shown["prior_admissions"].value == 2

    aid = _analysis_with_hopelessness(ctx, me, pid)
    nlp.review_finding(ctx, me, aid, 0, accept=True)  # announces record type "nlp"
    qtbot.waitUntil(lambda: _model_input(tab, "nlp_hopelessness") == "present", timeout=WAIT)
    idle(qtbot, tab)


def _analysis_with_hopelessness(ctx: AppContext, me, pid: str) -> str:
    text = "She says she feels completely hopeless about the future."
    note = notes.create_draft(ctx, me, pid, "Review", text)
    payload = {
        "summary": "s",
        "risk_level": "low",
        "conditions": [],
        "risk_factors": [
            {"factor": "hopelessness", "evidence": ["feels completely hopeless about the future"]}
        ],
        "protective_factors": [],
    }
    result = GenerationResult(
        "t", json.dumps(payload), 1, 5, 0.1, 1.0, "stop", LoadParams(), GenParams()
    )
    prov = ModelProvenance("test", "t.gguf", "ab" * 32, "llama", "Q4_1", 1, 1, "demo", False)
    return nlp.store_analysis(ctx, me, pid, parse_note_analysis(note.id, text, result, prov))
