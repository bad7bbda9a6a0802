"""Administer an instrument: clinician entry in the tab, or patient self-report in its own
calm full-screen window that shows no other patient information.

Submission goes through app.services.assessments.submit in the background (score, store, alert
rules, events in one transaction); the scored result is then shown with the rule used.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.core.errors import NovamindError, ValidationError
from app.services import assessments
from app.services.assessments import AssessmentOutcome
from app.services.context import AppContext
from app.services.instrument_catalog import Instrument, instrument, instruments
from ui.assessments.form import InstrumentForm
from ui.assessments.result import ResultPanel
from ui.tasks import TaskManager
from ui.widgets import label

MODE_CLINICIAN = "clinician"
MODE_SELF = "self-report"


def _label(text: str, name: str = "", *, wrap: bool = True) -> QLabel:
    """Instrument wording: plain text, wrapped."""
    return label(text, name, wrap=wrap, plain=True)


class SelfReportWindow(QWidget):
    """The patient's view: instructions, one question, big answers, progress; nothing else.

    It is a top-level window (full screen by default) so the clinician's workspace — patient
    list, other results, notes — is not visible while the patient answers.
    """

    submitted = Signal(dict)
    closed = Signal(bool)  # True when it closes after a successful submission

    def __init__(self, inst: Instrument) -> None:
        super().__init__(None)
        self.setObjectName("selfReport")
        self.setWindowTitle("Questionnaire")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.inst = inst
        self.finished = False
        self.pages = QStackedWidget()
        # questions page
        q = QWidget()
        col = QVBoxLayout(q)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(16)
        self.intro = _label(inst.instructions or inst.time_frame, "calmIntro")
        self.progress_label = _label("", "calmProgress", wrap=False)
        self.bar = QProgressBar()
        self.bar.setObjectName("calmBar")
        self.bar.setTextVisible(False)
        self.bar.setAccessibleName("Progress")
        self.form = InstrumentForm(inst, large=True)
        self.form.current_changed.connect(self._progress)
        self.form.submitted.connect(self._submit)
        nav = QHBoxLayout()
        self.back = QPushButton("Back")
        self.next = QPushButton("Next")
        for b in (self.back, self.next):
            b.setObjectName("navButton")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the question
        self.back.setAccessibleName("Previous question")
        self.next.setAccessibleName("Next question")
        self.back.clicked.connect(self.form.previous)
        self.next.clicked.connect(self.form.next)
        nav.addWidget(self.back)
        nav.addStretch(1)
        nav.addWidget(self.next)
        help_ = _label(
            "Press a number or use the arrow keys to choose  ·  Enter: next  ·  Backspace: back",
            "calmHelp",
        )
        col.addWidget(self.intro)
        col.addWidget(self.progress_label)
        col.addWidget(self.bar)
        col.addWidget(self.form, 1)
        col.addLayout(nav)
        col.addWidget(help_)
        self.pages.addWidget(q)
        # thank-you page
        t = QWidget()
        tl = QVBoxLayout(t)
        tl.addStretch(1)
        tl.addWidget(_label("Thank you", "thanksTitle"))
        tl.addWidget(
            _label(
                "Your answers have been saved. Please hand the computer back to your clinician.",
                "thanksText",
            )
        )
        self.done_button = QPushButton("Return to clinician")
        self.done_button.setObjectName("navButton")
        self.done_button.setAccessibleName("Return to clinician")
        self.done_button.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addWidget(self.done_button)
        row.addStretch(1)
        tl.addLayout(row)
        tl.addStretch(2)
        self.pages.addWidget(t)
        # centred column of a comfortable reading width
        outer = QHBoxLayout(self)
        outer.setContentsMargins(40, 40, 40, 30)
        outer.addStretch(1)
        self.pages.setMaximumWidth(820)
        self.pages.setMinimumWidth(560)
        outer.addWidget(self.pages, 4)
        outer.addStretch(1)
        self.stop = QShortcut(QKeySequence("Ctrl+Shift+Q"), self)
        self.stop.activated.connect(self.close)
        self.form.focus_current()

    def _progress(self, pos: int, count: int) -> None:
        self.progress_label.setText(f"Question {pos} of {count}")
        self.bar.setMaximum(max(count, 1))
        self.bar.setValue(pos)
        last = pos == count
        self.next.setText("Finish" if last else "Next")
        self.back.setEnabled(pos > 1)

    def _submit(self, answers: dict) -> None:
        self.next.setEnabled(False)
        self.submitted.emit(answers)

    def submission_failed(self, message: str) -> None:
        """The service refused the response: stay on the questions with a plain message."""
        self.next.setEnabled(True)
        self.form.show_validation(message)

    def show_thanks(self) -> None:
        """Switch to the thank-you page (no score or band is shown to the patient)."""
        self.finished = True
        self.pages.setCurrentIndex(1)
        self.done_button.setFocus()

    def showEvent(self, event: Any) -> None:  # noqa: N802 — Qt override
        super().showEvent(event)
        if not self.finished:
            self.form.focus_current()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt override
        self.closed.emit(self.finished)
        super().closeEvent(event)


class AdministerWidget(QWidget):
    """Pick an instrument and administer it; shows the scored result afterwards.

    Mount: ``AdministerWidget(ctx, principal, patient_id, tasks=tasks)``.
    """

    outcome_ready = Signal(object)  # AssessmentOutcome
    self_report_active = Signal(bool)

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        patient_id: str,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
        *,
        self_report_fullscreen: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("administer")
        self.ctx, self.principal, self.patient_id = ctx, principal, patient_id
        self.tasks = tasks or TaskManager(None, parent=self)
        self.fullscreen = self_report_fullscreen
        self.form: InstrumentForm | None = None
        self.self_window: SelfReportWindow | None = None
        self.last_outcome: AssessmentOutcome | None = None
        self.busy = False

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        lay.setSpacing(8)
        top = QHBoxLayout()
        self.picker = QComboBox()
        self.picker.setAccessibleName("Instrument")
        for inst in instruments():
            who = "self-report" if inst.rater == "self" else "clinician-rated"
            self.picker.addItem(f"{inst.short_name} — {inst.name} ({who})", inst.id)
        self.self_button = QPushButton("Hand to &patient (self-report)…")
        self.self_button.setAccessibleName("Start patient self-report")
        self.self_button.setToolTip(
            "Opens the questionnaire full screen for the patient: one question at a time, "
            "no other patient information visible. Ctrl+Shift+Q stops it."
        )
        picker_label = QLabel("&Instrument:")
        picker_label.setBuddy(self.picker)
        top.addWidget(picker_label)
        top.addWidget(self.picker, 1)
        top.addWidget(self.self_button)
        lay.addLayout(top)
        self.info = _label("", "instrumentInfo")
        lay.addWidget(self.info)

        self.pages = QStackedWidget()
        self.form_page = QWidget()
        page = QVBoxLayout(self.form_page)
        page.setContentsMargins(0, 0, 0, 0)
        holder = QWidget()
        self.form_box = QVBoxLayout(holder)
        self.form_box.setContentsMargins(0, 0, 0, 0)
        page.addWidget(holder, 1)
        bottom = QHBoxLayout()
        self.licence = _label("", "licence")
        self.submit_button = QPushButton("&Submit  (Ctrl+Enter)")
        self.submit_button.setAccessibleName("Submit assessment")
        self.submit_button.clicked.connect(self._submit_clicked)
        bottom.addWidget(self.licence, 1)
        bottom.addWidget(self.submit_button)
        page.addLayout(bottom)
        self.pages.addWidget(self.form_page)

        self.result_page = QWidget()
        rl = QVBoxLayout(self.result_page)
        rl.setContentsMargins(0, 0, 0, 0)
        self.result = ResultPanel()
        rl.addWidget(self.result)
        rrow = QHBoxLayout()
        rrow.addStretch(1)
        self.again_button = QPushButton("&New administration")
        self.again_button.setAccessibleName("New administration")
        self.again_button.clicked.connect(self.reset)
        rrow.addWidget(self.again_button)
        rl.addLayout(rrow)
        rl.addStretch(1)
        self.pages.addWidget(self.result_page)
        lay.addWidget(self.pages, 1)
        self.status = _label("", "instrumentInfo")
        lay.addWidget(self.status)

        self.picker.currentIndexChanged.connect(lambda _i: self.reset())
        self.self_button.clicked.connect(self.start_self_report)
        self.reset()

    # -- building --------------------------------------------------------------------------
    @property
    def instrument(self) -> Instrument:
        """The instrument chosen in the picker."""
        return instrument(self.picker.currentData())

    def select_instrument(self, instrument_id: str) -> None:
        """Choose an instrument programmatically (e.g. from a 'due' reminder)."""
        self.picker.setCurrentIndex(self.picker.findData(instrument_id))

    def reset(self) -> None:
        """A blank clinician-entry form for the chosen instrument."""
        inst = self.instrument
        if self.form is not None:
            self.form.setParent(None)
            self.form.deleteLater()
        self.form = InstrumentForm(inst, large=False)
        self.form.submitted.connect(lambda a: self._send(a, MODE_CLINICIAN))
        self.form_box.addWidget(self.form, 1)
        self.form.show()  # a child added to a shown parent is otherwise shown only later
        rater = "Self-report" if inst.rater == "self" else "Clinician-rated"
        self.info.setText(
            f"{rater} · time frame: {inst.time_frame.rstrip('.')}. {inst.instructions or ''}"
        )
        self.licence.setText(inst.licence)
        self.self_button.setEnabled(inst.rater == "self")
        self.submit_button.setEnabled(True)
        self.pages.setCurrentWidget(self.form_page)
        self.result.clear()
        self.status.setText("")
        self.form.focus_current()

    # -- self-report -----------------------------------------------------------------------
    def start_self_report(self) -> SelfReportWindow | None:
        """Open the patient's full-screen questionnaire for the chosen self-report instrument."""
        inst = self.instrument
        if inst.rater != "self" or self.self_window is not None:
            return None
        w = SelfReportWindow(inst)
        w.submitted.connect(lambda a: self._send(a, MODE_SELF))
        w.closed.connect(self._self_closed)
        self.self_window = w
        self.self_report_active.emit(True)
        self.status.setText("The patient is answering the questionnaire in its own window…")
        if self.fullscreen:
            w.showFullScreen()
        else:
            w.resize(900, 680)
            w.show()
        w.activateWindow()
        return w

    def _self_closed(self, finished: bool) -> None:
        self.self_window = None
        self.self_report_active.emit(False)
        if not finished:
            self.status.setText("Self-report stopped before the end; nothing was saved.")

    # -- submission ------------------------------------------------------------------------
    def _submit_clicked(self) -> None:
        if self.form is not None:
            self.form.submit()

    def _send(self, answers: dict[str, int], mode: str) -> None:
        if self.busy:
            return
        self.busy = True
        self.submit_button.setEnabled(False)
        self.status.setText("Scoring and saving…")
        inst = self.instrument
        self.tasks.call(
            assessments.submit,
            self.ctx,
            self.principal,
            self.patient_id,
            inst.id,
            answers,
            mode=mode,
            label=f"Saving {inst.short_name}",
            on_done=lambda outcome: self._stored(inst, outcome, mode),
            on_error=lambda exc: self._failed(exc, mode),
        )

    def _stored(self, inst: Instrument, outcome: AssessmentOutcome, mode: str) -> None:
        self.busy = False
        self.last_outcome = outcome
        self.result.show_outcome(inst, outcome)
        self.pages.setCurrentWidget(self.result_page)
        self.status.setText(
            "Saved (patient self-report)." if mode == MODE_SELF else "Saved (clinician entry)."
        )
        if mode == MODE_SELF and self.self_window is not None:
            self.self_window.show_thanks()
        self.again_button.setFocus()
        self.outcome_ready.emit(outcome)

    def _failed(self, exc: BaseException, mode: str) -> None:
        self.busy = False
        self.submit_button.setEnabled(True)
        msg = exc.user_message() if isinstance(exc, NovamindError) else "Saving failed."
        self.status.setText("Not saved.")
        if mode == MODE_SELF and self.self_window is not None:
            self.self_window.submission_failed(msg)
        elif self.form is not None:
            if isinstance(exc, ValidationError):
                self.form.show_validation(msg)
            else:
                self.form.show_message(f"Not saved: {msg}")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 — Qt override
        if self.self_window is not None:
            self.self_window.close()
        super().closeEvent(event)
