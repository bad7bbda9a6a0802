"""The running task in the status bar: its label, a progress bar once it runs a while, Cancel."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton

from ui.tasks import TaskManager

REVEAL_MS = 300  # quick calls finish before anyone sees a bar


class TaskStatusBar(QObject):
    """Follows a TaskManager's signals and shows the newest running task in `bar`."""

    def __init__(self, tasks: TaskManager, bar: QStatusBar, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(140)
        self.progress.setAccessibleName("Task progress")
        self.cancel = QToolButton()
        self.cancel.setText("Cancel")
        self.cancel.setAccessibleName("Cancel task")
        for w in (self.label, self.progress, self.cancel):
            w.hide()
            bar.addWidget(w)
        self.shown: int | None = None
        tasks.started.connect(self._started)
        tasks.progress.connect(self._progress)
        tasks.finished.connect(self._finished)
        self.cancel.clicked.connect(self._cancel_shown)

    def _started(self, task_id: int, text: str, cancellable: int) -> None:
        self.shown = task_id
        self.label.setText(text + "…")
        self.progress.setRange(0, 0)  # busy until the first progress report
        self.cancel.setVisible(bool(cancellable))
        self.label.show()
        QTimer.singleShot(REVEAL_MS, self.progress, lambda: self._reveal(task_id))

    def _reveal(self, task_id: int) -> None:
        if self.shown == task_id and any(t.id == task_id for t in self.tasks.active()):
            self.progress.show()

    def _progress(self, task_id: int, pct: int, msg: str) -> None:
        if task_id != self.shown:
            return
        self.progress.setRange(0, 100)
        self.progress.setValue(pct)
        self.progress.show()
        if msg:
            self.label.setText(msg)

    def _finished(self, task_id: int) -> None:
        if task_id != self.shown:
            return
        rest = self.tasks.active()
        if rest:
            last = rest[-1]
            self.shown = last.id
            self.label.setText(last.label + "…")
            self.cancel.setVisible(last.cancellable)
            return
        self.shown = None
        for w in (self.label, self.progress, self.cancel):
            w.hide()

    def _cancel_shown(self) -> None:
        if self.shown is not None:
            self.tasks.cancel(self.shown)
            self.label.setText("Cancelling…")
