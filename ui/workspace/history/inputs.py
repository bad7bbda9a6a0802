"""Inputs that keep "not known" apart from a value: the prediction models treat an unknown
count as a missing input, while 0 is a fact (no prior episodes), so a spin box shows "Unknown"
below its range and a date can be marked as not known."""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDateEdit, QHBoxLayout, QSpinBox, QWidget

from app.services.vocabulary import FLAG_LABELS

UNKNOWN = "Unknown"
#: The three answers to a clinician-recorded flag, in the order the combo offers them.
FLAG_CHOICES: tuple[tuple[str, bool | None], ...] = (
    (UNKNOWN, None),
    ("Absent", False),
    ("Present", True),
)


def count_spin(accessible: str, maximum: int) -> QSpinBox:
    """A whole-number input that starts at "Unknown" (one below 0) and goes 0..maximum (the
    service's limit, so the box offers no value a save would refuse)."""
    s = QSpinBox()
    s.setRange(-1, maximum)
    s.setSpecialValueText(UNKNOWN)
    s.setValue(-1)
    s.setAccessibleName(accessible)
    return s


def spin_value(s: QSpinBox) -> int | None:
    """The count, or None while the box shows "Unknown"."""
    return None if s.value() < 0 else s.value()


def set_spin(s: QSpinBox, value: float | None) -> None:
    s.setValue(-1 if value is None else round(value))


def qdate(d: date) -> QDate:
    return QDate(d.year, d.month, d.day)


def date_edit(accessible: str, value: date | None = None) -> QDateEdit:
    """A calendar date input (ISO format, no future dates)."""
    d = QDateEdit()
    d.setCalendarPopup(True)
    d.setDisplayFormat("yyyy-MM-dd")
    d.setMinimumDate(QDate(1900, 1, 1))
    d.setMaximumDate(QDate.currentDate())
    d.setDate(qdate(value) if value else QDate.currentDate())
    d.setAccessibleName(accessible)
    return d


def date_of(d: QDateEdit) -> date:
    q = d.date()
    return date(q.year(), q.month(), q.day())


class OptionalDate(QWidget):
    """A date with a "known" tick box: unticked means not recorded (None)."""

    changed = Signal()

    def __init__(self, accessible: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.known = QCheckBox("Known")
        self.known.setAccessibleName(f"{accessible} known")
        self.date = date_edit(accessible)
        self.date.setEnabled(False)
        lay.addWidget(self.known)
        lay.addWidget(self.date, 1)
        self.known.toggled.connect(self.date.setEnabled)
        self.known.toggled.connect(lambda _on: self.changed.emit())
        self.date.dateChanged.connect(lambda _d: self.changed.emit())

    def value(self) -> date | None:
        return date_of(self.date) if self.known.isChecked() else None

    def set_value(self, value: date | None) -> None:
        self.known.setChecked(value is not None)
        self.date.setDate(qdate(value) if value else QDate.currentDate())

    def set_editable(self, on: bool) -> None:
        self.known.setEnabled(on)
        self.date.setEnabled(on and self.known.isChecked())


class FlagCombo(QComboBox):
    """Unknown / Absent / Present for one clinician-recorded flag."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        for text, value in FLAG_CHOICES:
            self.addItem(text, value)
        self.setAccessibleName(FLAG_LABELS.get(name, name))

    def value(self) -> bool | None:
        data = self.currentData()
        return data if isinstance(data, bool) else None

    def set_value(self, value: bool | None) -> None:
        self.setCurrentIndex({None: 0, False: 1, True: 2}.get(value, 0))
