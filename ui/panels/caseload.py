"""Caseload view: every patient the user may see, scored in one batch, highest risk first."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout

from app.services import caseload, model_cards, vocabulary
from app.services.caseload import CaseloadRow, CaseloadView
from engines.xgb.bands import SYNTHETIC_LABEL
from ui.panels.common import (
    BAND_COLOURS,
    emphasise,
    fill,
    label,
    notice,
    section,
    table,
    user_message,
)
from ui.workspace.panel import Panel


def _label_text(view: CaseloadView | None) -> str:
    """What the scores are: the model in use (the same active model as the patient view) and
    whether it was trained on synthetic data."""
    if view is None:
        what = "Model estimates"
    elif view.synthetic:
        what = f"Model estimates {SYNTHETIC_LABEL}"
    else:
        trained = f" (trained on {view.training_description})" if view.training_description else ""
        what = f"Model estimates from the clinic's model {view.model_version}{trained}"
    if view is not None and view.withheld:
        return (
            f"{what}. {model_cards.not_shown_text(view.withheld)} Patients are listed by name, "
            "not ranked. Suicide risk is not scored here: it is assessed with the C-SSRS and "
            "clinical judgement."
        )
    return (
        f"{what}; sorted by predicted probability. Suicide risk is not scored here: it is "
        "assessed with the C-SSRS and clinical judgement."
    )


def _interval(r: CaseloadRow) -> str:
    if r.interval_low is None or r.interval_high is None:
        return "—"
    return f"{r.interval_low:.0%}–{r.interval_high:.0%}"


class CaseloadWidget(Panel):
    """Mount anywhere (e.g. a 'Caseload' page of the shell):
    ``CaseloadWidget(ctx, principal, tasks=shell.tasks)``; ``patient_activated(pid)``
    fires on double-click / Enter so the shell can open that patient."""

    patient_activated = Signal(str)
    loaded = Signal()

    def _build(self) -> None:
        self.view: CaseloadView | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 16)
        top = QHBoxLayout()
        top.addWidget(section("Caseload by risk"))
        top.addStretch(1)
        self.target = QComboBox()
        self.target.setAccessibleName("risk target")
        for key, title in vocabulary.TARGET_LABELS.items():
            self.target.addItem(title, key)
        self.target.currentIndexChanged.connect(self.load)
        top.addWidget(self.target)
        self.refresh = QPushButton("&Refresh")
        self.refresh.setAccessibleName("rescore caseload")
        self.refresh.clicked.connect(self.load)
        top.addWidget(self.refresh)
        lay.addLayout(top)
        self.label = notice(_label_text(None), "caseload label")
        lay.addWidget(self.label)
        self.table = table(
            ("Patient", "MRN", "Probability", "Interval", "Band", "Record"), "caseload by risk"
        )
        self.table.cellActivated.connect(self._activate)
        self.table.cellDoubleClicked.connect(self._activate)
        lay.addWidget(self.table, 1)
        self.status = label("", "muted")
        self.status.setAccessibleName("caseload status")
        lay.addWidget(self.status)
        self.load()

    def load(self) -> None:
        target = self.target.currentData() or "relapse_6m"
        self.status.setText("Scoring caseload…")
        self.refresh.setEnabled(False)
        self.tasks.call(
            caseload.score_visible,
            self.ctx,
            self.principal,
            target,
            label="Scoring caseload",
            on_done=self._show,
            on_error=self._error,
        )

    def clear(self) -> None:
        """Drop PHI from the widgets."""
        self.view = None
        self.table.setRowCount(0)

    def _show(self, view: CaseloadView) -> None:
        self.refresh.setEnabled(True)
        if view.target != (self.target.currentData() or "relapse_6m"):
            return
        self.view = view
        self.label.setText(_label_text(view))
        self.label.setProperty("notice", "info" if view.withheld else "notice")
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)
        fill(
            self.table,
            [
                (
                    r.display_name,
                    r.mrn,
                    "withheld" if r.probability is None else f"{r.probability:.0%}",
                    _interval(r),
                    r.band or "—",
                    "synthetic demo" if r.is_synthetic else "",
                )
                for r in view.rows
            ],
            [r.patient_id for r in view.rows],
        )
        header = self.table.horizontalHeaderItem(3)
        if header is not None:
            header.setText(f"{view.interval_level} interval".strip().capitalize())
        for i, r in enumerate(view.rows):
            if r.probability is None:
                cell = self.table.item(i, 2)
                if cell is not None:
                    cell.setToolTip(model_cards.not_shown_text(view.withheld or ""))
                emphasise(cell, "#5b6675", italic=True)
            else:
                emphasise(self.table.item(i, 4), BAND_COLOURS.get(r.band, "#5b6675"), bold=True)
        how = "listed (model withheld)" if view.withheld else "scored in one batch"
        self.status.setText(
            f"{len(view.rows)} patients {how} with {view.model_version} at "
            f"{view.scored_at.astimezone():%H:%M}"
        )
        self.loaded.emit()

    def _error(self, exc: BaseException) -> None:
        self.refresh.setEnabled(True)
        self.status.setText(user_message(exc))

    def _activate(self, row: int, _col: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.patient_activated.emit(str(item.data(Qt.ItemDataRole.UserRole)))
