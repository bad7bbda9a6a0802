"""Clinical history tab: what the prediction models read about the patient's past — the intake
history, the medications (with the reason each was stopped) and the admissions.

Every save goes through app.services.history on the TaskManager and then reloads the tab; a
refused save shows the service's message and changes nothing. Predictions are not rescored
here: the Predictions tab's "Score now" does that, as for every other record.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QPushButton, QTableWidget

from app.core.domain import Action, Principal
from app.services import access, drafts, history, model_inputs
from app.services.context import AppContext
from app.services.history import AdmissionView, ClinicalHistory, IntakeHistory, MedicationView
from app.services.model_inputs import InputValue
from ui.panels.common import Frame, heading, notice, scroll_body, section
from ui.tasks import user_message
from ui.widgets import fill_table, label, primary_button, table_widget
from ui.workspace.history.dialogs import (
    AddMedicationDialog,
    AdmissionDialog,
    DischargeDialog,
    RecordDialog,
    StopMedicationDialog,
)
from ui.workspace.history.intake import IntakeForm, from_draft, to_draft
from ui.workspace.panel import PatientPanel, when

MODELS_NOTE = (
    "Prediction models read these records; unknown values are shown as missing inputs on each "
    "prediction. Saving here does not rescore: use “Score now” on the Predictions tab."
)
DRAFT_KIND = "intake"
# what a load fetches: the history, the model inputs it feeds, the user's kept draft (if any)
Loaded = tuple[ClinicalHistory, list[InputValue], dict[str, Any] | None]
LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
READ_ONLY_NOTE = "Read only: your role may not change clinical records."
NOT_CARE_TEAM_NOTE = (
    "Read only: you are not on this patient's care team, so you may see these records but not "
    "change them."
)
INPUTS_NOTE = (
    "What the prediction models read from these records now: the totals add the intake's counts "
    "before this clinic to the medications and admissions below, and a flag is present when "
    "recorded on the intake or set by an accepted note finding."
)


def may_record(panel: PatientPanel) -> bool:
    """Whether the role may write clinical records at all (care-team scope is per patient: the
    service answers it with the history, ``ClinicalHistory.writable``)."""
    who = panel.principal
    return who is not None and Action.WRITE_CLINICAL in access.capabilities(who)


def input_text(v: InputValue) -> str:
    """A model input's value as the models read it ("missing" when they have none)."""
    if v.value is None:
        return "missing — the models treat it as unknown"
    if v.unit == "flag":
        return "present" if v.value >= 1 else "absent"
    if v.unit == "count":
        return f"{v.value:.0f}"
    if v.unit == "months":
        return "0 (in hospital now)" if v.value == 0 else f"{v.value:.1f} months"
    return f"{v.value:.0f} {v.unit}"


def _record_intake(ctx: AppContext, who: Principal, pid: str, intake: IntakeHistory) -> None:
    """Save the intake, then drop the user's unsaved copy of it."""
    history.record_intake(ctx, who, pid, intake)
    drafts.discard_draft(ctx, who, kind=DRAFT_KIND, ref=pid)


def _day(d: date | None, none: str = "") -> str:
    return f"{d:%Y-%m-%d}" if d else none


def _button(text: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setAccessibleName(text.rstrip("…"))
    b.setToolTip(tip)
    return b


class HistoryTab(PatientPanel):
    """Intake history, medications and admissions of one patient."""

    # the intake lives on the patient record; sync passes the merged table's name
    # (an accepted note finding sets a flag the models read; "nlp" is its review's record type)
    record_types = frozenset(
        {"patient", "medication", "encounter", "patients", "medications", "encounters"}
        | {"note", "nlp", "clinical_notes", "nlp_analyses"}
    )

    def _build(self) -> None:
        self.data: ClinicalHistory | None = None
        self.inputs: list[InputValue] = []
        self.dialog: RecordDialog | None = None  # the form open now, if any
        self._dirty = False
        self.setObjectName("clinicalHistory")
        lay = scroll_body(self)
        top, self.status = heading("Clinical history", "clinical history status")
        lay.addLayout(top)
        lay.addWidget(notice(MODELS_NOTE, "how the models use these records", "info"))
        self.read_only = label(READ_ONLY_NOTE, "muted", wrap=True)
        self.read_only.hide()
        lay.addWidget(self.read_only)
        self.error_line = label("", "error", wrap=True, plain=True)
        self.error_line.setAccessibleName("clinical history error")
        self.error_line.hide()
        lay.addWidget(self.error_line)

        lay.addWidget(section("Intake history"))
        card = Frame()
        self.intake = IntakeForm()
        self.intake.changed.connect(self._intake_edited)
        card.body.addWidget(self.intake)
        row = QHBoxLayout()
        self.recorded = label("", "muted")
        self.recorded.setAccessibleName("intake recorded")
        self.save_button = primary_button("Save intake history")
        self.save_button.setDefault(False)
        self.save_button.clicked.connect(self.save_intake)
        row.addWidget(self.recorded, 1)
        row.addWidget(self.save_button)
        card.body.addLayout(row)
        lay.addWidget(card)

        lay.addWidget(section("Medications"))
        self.meds = table_widget(
            (
                "Medication",
                "Class",
                "Dose",
                "Frequency",
                "Started",
                "Stopped",
                "Reason stopped",
                "Adherence",
            ),
            "Medications",
        )
        self.meds.setMinimumHeight(180)
        self.meds.horizontalHeader().setDefaultAlignment(LEFT)
        self.meds.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.meds)
        self.add_med = _button("Add medication…", "Record a medication")
        self.stop_med = _button(
            "Stop medication…",
            "Stop the selected current medication, with the reason (or double-click it)",
        )
        self.meds.cellDoubleClicked.connect(lambda *_: self._press(self.stop_med))
        self.add_med.clicked.connect(self.open_add_medication)
        self.stop_med.clicked.connect(self.open_stop_medication)
        lay.addLayout(self._row(self.add_med, self.stop_med))

        lay.addWidget(section("Psychiatric admissions"))
        self.admissions = table_widget(("Admitted", "Discharged", "Days in hospital"), "Admissions")
        self.admissions.setMinimumHeight(130)
        self.admissions.horizontalHeader().setDefaultAlignment(LEFT)
        self.admissions.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.admissions)
        self.admit = _button("Record admission…", "Record a psychiatric admission")
        self.discharge = _button(
            "Record discharge…",
            "Record the discharge of the selected current admission (or double-click it)",
        )
        self.admissions.cellDoubleClicked.connect(lambda *_: self._press(self.discharge))
        self.admit.clicked.connect(self.open_admission)
        self.discharge.clicked.connect(self.open_discharge)
        lay.addLayout(self._row(self.admit, self.discharge))

        lay.addWidget(section("What the models read"))
        lay.addWidget(label(INPUTS_NOTE, "muted", wrap=True))
        self.model_inputs = table_widget(("Model input", "Value now"), "Model inputs")
        rows = len(model_inputs.HISTORY_INPUTS)  # every row visible: a short, fixed list
        self.model_inputs.setMinimumHeight(
            self.model_inputs.verticalHeader().defaultSectionSize() * (rows + 1)
            + self.model_inputs.horizontalHeader().sizeHint().height()
        )
        self.model_inputs.horizontalHeader().setDefaultAlignment(LEFT)
        self.model_inputs.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        lay.addWidget(self.model_inputs)
        lay.addStretch(1)
        self._update_buttons()

    @staticmethod
    def _press(button: QPushButton) -> None:
        """A double-click on a row does what its button does, when the button is on."""
        if button.isEnabled():
            button.click()

    @staticmethod
    def _row(*buttons: QPushButton) -> QHBoxLayout:
        row = QHBoxLayout()
        for b in buttons:
            row.addWidget(b)
        row.addStretch(1)
        return row

    # -- the protocol the workspace uses --------------------------------------------------
    def has_unsaved_changes(self) -> bool:
        return self._dirty

    def keep_unsaved(self) -> None:
        """Keep a half-typed intake as an encrypted draft; it is restored on the next visit."""
        if not self._dirty or self.patient_id is None or self.principal is None:
            return
        pid = self.patient_id
        self.tasks.call(
            drafts.save_draft,
            self.ctx,
            self.principal,
            kind=DRAFT_KIND,
            ref=pid,
            content=to_draft(self.intake.value()),
            patient_id=pid,
            label="Keeping the unsaved intake history",
        )

    def load(self) -> None:
        if self.principal is None or self.patient_id is None:
            return
        ctx, who, pid = self.ctx, self.principal, self.patient_id

        def fetch() -> Loaded:
            kept = drafts.load_drafts(ctx, who, kind=DRAFT_KIND)
            mine = next((d["content"] for d in kept if d["ref"] == pid), None)
            data = history.get_history(ctx, who, pid)
            return data, model_inputs.history_inputs(ctx, who, pid), mine

        self.status.setText("Loading…")
        self.call(
            fetch, label="Loading clinical history", on_done=self._show, on_error=self._load_failed
        )

    def clear(self) -> None:
        super().clear()
        self.data = None
        self.inputs = []
        self._dirty = False
        self._close_dialog()
        self.intake.set_value(IntakeHistory())
        self.recorded.setText("")
        self.status.setText("")
        self.meds.setRowCount(0)
        self.admissions.setRowCount(0)
        self.model_inputs.setRowCount(0)
        self._set_error("")
        self._update_buttons()

    # -- showing --------------------------------------------------------------------------
    def _show(self, result: Loaded) -> None:
        data, inputs, kept = result
        self.data = data
        self.inputs = inputs
        self.status.setText("")
        if not self._dirty:  # never overwrite what the clinician is typing
            if kept is not None and self.writable():
                self.intake.set_value(from_draft(kept))
                self._dirty = True
                self.recorded.setText("Restored your unsaved intake history: not saved yet")
            else:
                self.intake.set_value(data.intake)
                self.recorded.setText(self._recorded_text(data))
        fill_table(
            self.meds,
            [
                (
                    m.name,
                    m.drug_class,
                    f"{m.dose:g} {m.unit}",
                    m.frequency,
                    _day(m.start),
                    _day(m.end, "current"),
                    history.STOP_REASONS.get(m.stop_reason, m.stop_reason) if m.stop_reason else "",
                    "" if m.adherence is None else f"{m.adherence:.0%}",
                )
                for m in data.medications
            ],
            [m.id for m in data.medications],
        )
        today = date.today()
        fill_table(
            self.admissions,
            [
                (
                    _day(a.admitted),
                    _day(a.discharged, "current"),
                    f"{((a.discharged or today) - a.admitted).days}"
                    + ("" if a.discharged else " so far"),
                )
                for a in data.admissions
            ],
            [a.id for a in data.admissions],
        )
        fill_table(
            self.model_inputs,
            [(v.label[:1].upper() + v.label[1:], input_text(v)) for v in inputs],
            [v.name for v in inputs],
        )
        self._update_buttons()

    @staticmethod
    def _recorded_text(data: ClinicalHistory) -> str:
        if data.intake.recorded_at is None:
            return "Not recorded yet: the models read every intake field as unknown."
        who = data.recorded_by_name or "a user no longer on this system"
        return f"Recorded {when(data.intake.recorded_at)} by {who}"

    def _load_failed(self, exc: BaseException) -> None:
        self.status.setText("")
        self._set_error(user_message(exc))

    def _set_error(self, text: str) -> None:
        self.error_line.setText(text)
        self.error_line.setVisible(bool(text))

    # -- selection and permission ---------------------------------------------------------
    def writable(self) -> bool:
        """Whether to offer the write controls: the role may write and, once loaded, the
        service says this user may write this patient's records (care team or break-glass)."""
        return may_record(self) and (self.data is None or self.data.writable)

    def selected_medication(self) -> MedicationView | None:
        return self._selected(self.meds, self.data.medications if self.data else ())

    def selected_admission(self) -> AdmissionView | None:
        return self._selected(self.admissions, self.data.admissions if self.data else ())

    @staticmethod
    def _selected(table: QTableWidget, rows: tuple[Any, ...]) -> Any:
        r = table.currentRow()
        item = table.item(r, 0) if r >= 0 and table.selectionModel().hasSelection() else None
        key = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return next((x for x in rows if x.id == key), None)

    def _update_buttons(self) -> None:
        loaded = self.data is not None
        ok = loaded and self.writable()
        self.read_only.setText(NOT_CARE_TEAM_NOTE if may_record(self) else READ_ONLY_NOTE)
        self.read_only.setVisible(loaded and not self.writable())
        self.intake.set_editable(ok)
        self.save_button.setEnabled(ok)
        self.add_med.setEnabled(ok)
        self.admit.setEnabled(ok)
        med = self.selected_medication()
        self.stop_med.setEnabled(ok and med is not None and med.end is None)
        adm = self.selected_admission()
        self.discharge.setEnabled(ok and adm is not None and adm.discharged is None)

    def _intake_edited(self) -> None:
        self._dirty = True
        self.recorded.setText("Unsaved changes")

    # -- saving ---------------------------------------------------------------------------
    def _save(
        self,
        label_text: str,
        fn: Callable[..., Any],
        *args: Any,
        done: Callable[[], None],
        failed: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        """Run one service write; reload on success, show the refusal otherwise."""
        self._set_error("")
        ctx, who, pid = self.ctx, self.user, self.patient_id

        def ok(_result: Any) -> None:
            done()
            self.status.setText(f"{label_text}: saved.")
            self.load()

        def refused(exc: BaseException) -> None:
            if self.patient_id != pid:  # another patient is shown now
                return
            message = user_message(exc)
            self._set_error(message)
            if failed is not None:
                failed(message)

        self.call(
            lambda: fn(ctx, who, *args, **kwargs),
            label=label_text,
            on_done=ok,
            on_error=refused,
            loads=False,
        )

    def save_intake(self) -> None:
        intake = self.intake.value()

        def done() -> None:
            self._dirty = False

        self._save("Intake history", _record_intake, self.patient, intake, done=done)

    def _open(self, dialog: RecordDialog, submit: Callable[[dict[str, Any]], None]) -> None:
        self._close_dialog()
        self.dialog = dialog
        dialog.submitted.connect(submit)
        dialog.finished.connect(lambda _r: self._forget(dialog))
        dialog.open()

    def _forget(self, dialog: RecordDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.reject()
            self.dialog = None

    def _write_from(self, dialog: RecordDialog, what: str, fn: Callable[..., Any], *args: Any):
        """A submit handler: save the dialog's values with ``fn(ctx, user, *args, **values)``."""

        def submit(values: dict[str, Any]) -> None:
            self._save(what, fn, *args, done=dialog.saved, failed=dialog.failed, **values)

        return submit

    def open_add_medication(self) -> None:
        d = AddMedicationDialog(self)
        self._open(d, self._write_from(d, "Medication", history.add_medication, self.patient))

    def open_stop_medication(self) -> None:
        med = self.selected_medication()
        if med is None:
            return
        d = StopMedicationDialog(med, self)
        self._open(d, self._write_from(d, "Medication stopped", history.stop_medication, med.id))

    def open_admission(self) -> None:
        d = AdmissionDialog(self)
        self._open(d, self._write_from(d, "Admission", history.record_admission, self.patient))

    def open_discharge(self) -> None:
        adm = self.selected_admission()
        if adm is None:
            return
        d = DischargeDialog(adm, self)
        self._open(d, self._write_from(d, "Discharge", history.record_discharge, adm.id))
