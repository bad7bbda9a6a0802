"""The intake history form: episodes, onset, admissions and failed trials before this clinic's
records, and the four clinician-recorded flags. Every field starts at "Unknown", which the
models read as a missing input; 0 and "Absent" are facts."""

from __future__ import annotations

from datetime import date
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QLabel, QVBoxLayout, QWidget

from app.services.history import (
    FLAG_NAMES,
    MAX_COUNT,
    MAX_FAILED_TRIALS,
    MAX_ONSET_YEARS,
    IntakeHistory,
)
from app.services.vocabulary import FLAG_LABELS
from ui.widgets import label
from ui.workspace.history.inputs import (
    UNKNOWN,
    FlagCombo,
    OptionalDate,
    count_spin,
    set_spin,
    spin_value,
)


def to_draft(intake: IntakeHistory) -> dict[str, Any]:
    """The form's values as JSON for an encrypted draft (kept when the patient closes)."""
    last = intake.last_discharge_before
    return {
        "prior_episodes": intake.prior_episodes,
        "age_at_onset": intake.age_at_onset,
        "prior_admissions_before": intake.prior_admissions_before,
        "last_discharge_before": last.isoformat() if last else None,
        "failed_trials_before": intake.failed_trials_before,
        "flags": dict(intake.flags),
    }


def from_draft(d: dict[str, Any]) -> IntakeHistory:
    last = d.get("last_discharge_before")
    return IntakeHistory(
        prior_episodes=d.get("prior_episodes"),
        age_at_onset=d.get("age_at_onset"),
        prior_admissions_before=d.get("prior_admissions_before"),
        last_discharge_before=date.fromisoformat(last) if last else None,
        failed_trials_before=d.get("failed_trials_before"),
        flags={k: v for k, v in (d.get("flags") or {}).items() if k in FLAG_NAMES},
    )


class IntakeForm(QWidget):
    """Edits one IntakeHistory; ``changed`` fires on every edit by the user."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._filling = False
        self._editable = True
        self.episodes = count_spin("prior depressive episodes", MAX_COUNT)
        self.episodes.setToolTip("Depressive episodes before the current one")
        self.onset = QDoubleSpinBox()
        self.onset.setRange(-1, MAX_ONSET_YEARS)
        self.onset.setDecimals(0)
        self.onset.setSpecialValueText(UNKNOWN)
        self.onset.setSuffix(" y")
        self.onset.setValue(-1)
        self.onset.setAccessibleName("age at first episode")
        self.admissions = count_spin("admissions before this clinic's records", MAX_COUNT)
        self.admissions.setToolTip(
            "Psychiatric admissions not recorded in this app (admissions recorded below are "
            "counted as well)"
        )
        self.last_discharge = OptionalDate("discharge of the latest of those admissions")
        self.failed = count_spin(
            "failed adequate trials not in the medication list", MAX_FAILED_TRIALS
        )
        self.failed.setToolTip(
            "Adequate antidepressant trials without response that are not in the medication "
            "list below (those stopped there for inadequate response are counted as well)"
        )
        self.flags = {name: FlagCombo(name) for name in FLAG_NAMES}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(8)
        facts = QGridLayout()
        facts.setHorizontalSpacing(10)
        facts.setVerticalSpacing(8)
        rows: list[tuple[str, QWidget]] = [
            ("Prior depressive episodes", self.episodes),
            ("Age at first episode", self.onset),
            ("Admissions before this clinic's records", self.admissions),
            ("Discharge of the latest of those", self.last_discharge),
            ("Failed adequate trials not listed below", self.failed),
        ]
        for r, (text, field) in enumerate(rows):
            caption = QLabel(f"{text}:")
            caption.setBuddy(field.date if isinstance(field, OptionalDate) else field)
            facts.addWidget(caption, r, 0)
            facts.addWidget(field, r, 1)
            field.setMinimumWidth(120)
            field.setMaximumWidth(260)
        facts.setColumnStretch(2, 1)
        outer.addLayout(facts)
        outer.addWidget(label("Clinician-recorded flags", "muted"))
        flags = QGridLayout()
        flags.setHorizontalSpacing(10)
        flags.setVerticalSpacing(8)
        for i, (name, combo) in enumerate(self.flags.items()):
            r, c = divmod(i, 2)
            combo.setMinimumWidth(120)
            flag_caption = QLabel(f"{FLAG_LABELS.get(name, name)}:")
            flag_caption.setBuddy(combo)
            flags.addWidget(flag_caption, r, 3 * c)
            flags.addWidget(combo, r, 3 * c + 1)
        flags.setColumnMinimumWidth(2, 24)
        flags.setColumnStretch(5, 1)
        outer.addLayout(flags)

        for spin in (self.episodes, self.admissions, self.failed):
            spin.valueChanged.connect(self._edited)
        self.onset.valueChanged.connect(self._edited)
        self.last_discharge.changed.connect(self._edited)
        for combo in self.flags.values():
            combo.currentIndexChanged.connect(self._edited)
        self.last_discharge.setToolTip("Recorded when there was at least one such admission")
        self.last_discharge.set_editable(self._admitted())

    def _admitted(self) -> bool:
        """Whether admissions before this clinic are recorded (a discharge date needs one)."""
        return (spin_value(self.admissions) or 0) > 0

    def _edited(self, *_: object) -> None:
        self.last_discharge.set_editable(self._editable and self._admitted())
        if not self._filling:
            self.changed.emit()

    def value(self) -> IntakeHistory:
        """What the form says now (unknown fields as None)."""
        onset = self.onset.value()
        return IntakeHistory(
            prior_episodes=spin_value(self.episodes),
            age_at_onset=None if onset < 0 else float(onset),
            prior_admissions_before=spin_value(self.admissions),
            last_discharge_before=self.last_discharge.value() if self._admitted() else None,
            failed_trials_before=spin_value(self.failed),
            flags={name: combo.value() for name, combo in self.flags.items()},
        )

    def set_value(self, intake: IntakeHistory) -> None:
        """Show a stored intake (no ``changed`` signal)."""
        self._filling = True
        try:
            set_spin(self.episodes, intake.prior_episodes)
            self.onset.setValue(-1 if intake.age_at_onset is None else intake.age_at_onset)
            set_spin(self.admissions, intake.prior_admissions_before)
            self.last_discharge.set_value(intake.last_discharge_before)
            set_spin(self.failed, intake.failed_trials_before)
            for name, combo in self.flags.items():
                combo.set_value(intake.flags.get(name))
        finally:
            self._filling = False
        self.last_discharge.set_editable(self._editable and self._admitted())

    def set_editable(self, on: bool) -> None:
        self._editable = on
        for w in (self.episodes, self.onset, self.admissions, self.failed, *self.flags.values()):
            w.setEnabled(on)
        self.last_discharge.set_editable(on and self._admitted())
