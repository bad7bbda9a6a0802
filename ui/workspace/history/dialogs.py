"""The small forms of the Clinical history tab: add and stop a medication, record an admission
and a discharge.

A dialog only collects values. ``submitted`` asks the tab to save them; the dialog stays open
until the tab calls ``saved()``, or shows the service's refusal with ``failed(message)`` so
nothing the clinician typed is lost.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.services.history import DRUG_CLASSES, STOP_REASONS, AdmissionView, MedicationView
from ui.widgets import label
from ui.workspace.history.inputs import date_edit, date_of, qdate

UNITS = ("mg", "mcg", "g", "mL", "units")
FREQUENCIES = (
    "once daily",
    "twice daily",
    "three times daily",
    "at night",
    "once weekly",
    "as needed",
)
FAILED_TRIAL_HELP = (
    "“Inadequate response after an adequate trial” counts as a failed adequate trial: the "
    "prediction models read it as treatment resistance. Choose it only when the dose and the "
    "duration were adequate; otherwise choose another reason."
)


class RecordDialog(QDialog):
    """A titled form with a help line, an error line and Save / Cancel."""

    submitted = Signal(dict)

    def __init__(self, title: str, help_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyForm")
        self.setWindowTitle(title)
        self.setAccessibleName(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QVBoxLayout(self)
        self.form = QFormLayout()
        lay.addLayout(self.form)
        if help_text:
            lay.addWidget(label(help_text, "muted", wrap=True))
        self.message = label("", "error", wrap=True, plain=True)
        self.message.setAccessibleName(f"{title} error")
        self.message.hide()
        lay.addWidget(self.message)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(440)

    def values(self) -> dict[str, Any]:
        """The form's values as the service's keyword arguments (override)."""
        return {}

    def problem(self) -> str:
        """What must be fixed before saving, in plain words ("" when nothing; override)."""
        return ""

    def _submit(self) -> None:
        problem = self.problem()
        if problem:
            self.failed(problem)
            return
        self.message.hide()
        self.save_button.setEnabled(False)
        self.submitted.emit(self.values())

    def saved(self) -> None:
        """The tab stored the values: close."""
        self.accept()

    def failed(self, message: str) -> None:
        """Saving was refused: say why and let the user correct the form."""
        self.message.setText(message)
        self.message.show()
        self.save_button.setEnabled(True)


class AddMedicationDialog(RecordDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Add medication",
            "Record a medication the patient takes or took. Stop it from the list when it "
            "ends, with the reason.",
            parent,
        )
        self.name = QLineEdit()
        self.name.setAccessibleName("medication name")
        self.name.setPlaceholderText("e.g. sertraline")
        self.drug_class = QComboBox()
        self.drug_class.setAccessibleName("drug class")
        self.drug_class.addItems(list(DRUG_CLASSES))
        self.dose = QDoubleSpinBox()
        self.dose.setAccessibleName("dose")
        self.dose.setRange(0, 100000)
        self.dose.setDecimals(2)
        self.unit = QComboBox()
        self.unit.setAccessibleName("dose unit")
        self.unit.setEditable(True)
        self.unit.addItems(list(UNITS))
        self.frequency = QComboBox()
        self.frequency.setAccessibleName("frequency")
        self.frequency.setEditable(True)
        self.frequency.addItems(list(FREQUENCIES))
        self.start = date_edit("start date")
        self.adherence = QSpinBox()
        self.adherence.setAccessibleName("adherence")
        self.adherence.setRange(-1, 100)
        self.adherence.setSuffix(" %")
        self.adherence.setSpecialValueText("Not recorded")
        self.adherence.setValue(-1)
        self.adherence.setToolTip("Share of prescribed doses taken, if known")
        self.form.addRow("Medication:", self.name)
        self.form.addRow("Class:", self.drug_class)
        self.form.addRow("Dose:", self.dose)
        self.form.addRow("Unit:", self.unit)
        self.form.addRow("Frequency:", self.frequency)
        self.form.addRow("Started:", self.start)
        self.form.addRow("Adherence:", self.adherence)

    def problem(self) -> str:
        if not self.name.text().strip():
            return "Enter the medication's name."
        if self.dose.value() <= 0:
            return "Enter a dose above 0."
        if not self.unit.currentText().strip() or not self.frequency.currentText().strip():
            return "Enter the dose unit and the frequency."
        return ""

    def values(self) -> dict[str, Any]:
        adherence = self.adherence.value()
        return {
            "name": self.name.text().strip(),
            "drug_class": self.drug_class.currentText(),
            "dose": self.dose.value(),
            "unit": self.unit.currentText().strip(),
            "frequency": self.frequency.currentText().strip(),
            "start": date_of(self.start),
            "adherence": None if adherence < 0 else adherence / 100,
        }


class StopMedicationDialog(RecordDialog):
    def __init__(self, med: MedicationView, parent: QWidget | None = None) -> None:
        super().__init__("Stop medication", FAILED_TRIAL_HELP, parent)
        self.med = med
        what = label(
            f"{med.name} {med.dose:g} {med.unit} {med.frequency}, started {med.start:%Y-%m-%d}",
            plain=True,
        )
        self.end = date_edit("end date")
        self.end.setMinimumDate(qdate(med.start))
        self.reason = QComboBox()
        self.reason.setAccessibleName("reason for stopping")
        self.reason.setPlaceholderText("Choose a reason")
        for key, text in STOP_REASONS.items():
            self.reason.addItem(text, key)
        self.reason.setCurrentIndex(-1)  # no default: a failed trial is a deliberate choice
        self.form.addRow("Medication:", what)
        self.form.addRow("Stopped:", self.end)
        self.form.addRow("Reason:", self.reason)

    def problem(self) -> str:
        return "" if self.reason.currentIndex() >= 0 else "Choose why the medication was stopped."

    def values(self) -> dict[str, Any]:
        return {"end": date_of(self.end), "reason": str(self.reason.currentData())}


class AdmissionDialog(RecordDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Record admission",
            "A psychiatric inpatient admission. Leave “Discharged” unticked while the patient "
            "is still in hospital and record the discharge later.",
            parent,
        )
        self.admitted = date_edit("admission date")
        self.is_discharged = QCheckBox("Discharged")
        self.is_discharged.setAccessibleName("already discharged")
        self.discharged = date_edit("discharge date")
        self.discharged.setEnabled(False)
        self.is_discharged.toggled.connect(self.discharged.setEnabled)
        self.form.addRow("Admitted:", self.admitted)
        self.form.addRow(self.is_discharged, self.discharged)

    def problem(self) -> str:
        if self.is_discharged.isChecked() and date_of(self.discharged) < date_of(self.admitted):
            return "The discharge cannot be before the admission."
        return ""

    def values(self) -> dict[str, Any]:
        discharged: date | None = (
            date_of(self.discharged) if self.is_discharged.isChecked() else None
        )
        return {"admitted": date_of(self.admitted), "discharged": discharged}


class DischargeDialog(RecordDialog):
    def __init__(self, admission: AdmissionView, parent: QWidget | None = None) -> None:
        super().__init__("Record discharge", "", parent)
        self.admission = admission
        self.discharged = date_edit("discharge date")
        self.discharged.setMinimumDate(qdate(admission.admitted))
        self.form.addRow("Admitted:", label(f"{admission.admitted:%Y-%m-%d}"))
        self.form.addRow("Discharged:", self.discharged)

    def values(self) -> dict[str, Any]:
        return {"discharged": date_of(self.discharged)}
