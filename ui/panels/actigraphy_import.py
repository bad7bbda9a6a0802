"""Import dialog for actigraphy files: file picker, column mapping for generic CSV, progress and
cancel. Parsing and analysis run as a cancellable TaskManager task (progress and cancel through
its token); the store write is one transaction, so a malformed file (or a cancel before the
write) stores nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.services import actigraphy_view as av
from app.services.context import AppContext
from engines.pat.importer import DEPRESJON, ColumnMapping
from ui.panels.common import fill, muted, notice, table, user_message
from ui.tasks import Task, TaskManager

DELIMITERS = {"Comma (,)": ",", "Semicolon (;)": ";", "Tab": "\t"}


class ImportDialog(QDialog):
    """``imported(outcome)`` fires after the recording is stored."""

    imported = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        patient_id: str,
        tasks: TaskManager,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal, self.patient_id, self.tasks = ctx, principal, patient_id, tasks
        self.setWindowTitle("Import actigraphy recording")
        self.setAccessibleName("import actigraphy recording")
        self.setModal(True)
        self._task: Task | None = None  # the running parse-and-analyse task
        self._busy = False
        self._generation = 0  # bumped by each preview or import; stale results are dropped
        tasks.progress.connect(self._task_progress)
        tasks.finished.connect(self._task_finished)

        lay = QVBoxLayout(self)
        form = QFormLayout()
        pick = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setAccessibleName("file to import")
        self.path.setPlaceholderText("CSV or CSV.gz with one row per epoch")
        self.path.editingFinished.connect(self._preview)
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("choose file")
        browse.clicked.connect(self._browse)
        pick.addWidget(self.path, 1)
        pick.addWidget(browse)
        form.addRow("File:", pick)
        self.format = QComboBox()
        self.format.setAccessibleName("file format")
        self.format.addItem("Depresjon export (timestamp, date, activity)", "depresjon")
        self.format.addItem("Generic CSV — map the columns", "generic")
        self.format.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format:", self.format)
        self.delimiter = QComboBox()
        self.delimiter.setAccessibleName("delimiter")
        for name in DELIMITERS:
            self.delimiter.addItem(name)
        self.delimiter.currentIndexChanged.connect(self._preview)
        form.addRow("Delimiter:", self.delimiter)
        self.ts_col = QComboBox()
        self.ts_col.setAccessibleName("timestamp column")
        form.addRow("Timestamp column:", self.ts_col)
        self.counts_col = QComboBox()
        self.counts_col.setAccessibleName("activity counts column")
        form.addRow("Counts column:", self.counts_col)
        self.epoch = QSpinBox()
        self.epoch.setAccessibleName("epoch length in seconds")
        self.epoch.setRange(0, 3600)
        self.epoch.setSpecialValueText("detect from timestamps")
        self.epoch.setSuffix(" s")
        form.addRow("Epoch:", self.epoch)
        lay.addLayout(form)
        self.preview = table((), "file preview")
        self.preview.setMaximumHeight(150)
        lay.addWidget(self.preview)
        lay.addWidget(
            muted(
                "Epochs other than 60 s are resampled to minutes. Gaps and non-wear "
                "are detected and shown. A file with any malformed line is rejected "
                "as a whole."
            )
        )
        self.progress = QProgressBar()
        self.progress.setAccessibleName("import progress")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.message = muted("")
        self.message.setAccessibleName("import message")
        lay.addWidget(self.message)
        self.error = notice("", "import error", "danger")
        self.error.hide()
        lay.addWidget(self.error)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("cancel import")
        self.cancel_button.clicked.connect(self.cancel)
        self.import_button = QPushButton("&Import")
        self.import_button.setProperty("primary", "true")
        self.import_button.setAccessibleName("start import")
        self.import_button.setDefault(True)
        self.import_button.clicked.connect(self.start)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.import_button)
        lay.addLayout(buttons)
        self._format_changed()

    # -- inputs ------------------------------------------------------------------------------
    def set_path(self, path: Path | str) -> None:
        self.path.setText(str(path))
        self._preview()

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Choose an activity file", "", "Activity files (*.csv *.csv.gz *.txt);;All (*)"
        )
        if name:
            self.set_path(name)

    def _format_changed(self) -> None:
        generic = self.format.currentData() == "generic"
        for w in (self.delimiter, self.ts_col, self.counts_col, self.epoch):
            w.setEnabled(generic)
        self._preview()

    def _preview(self) -> None:
        text = self.path.text().strip()
        if not text:
            return
        delim = DELIMITERS[self.delimiter.currentText()]
        self._generation += 1
        gen = self._generation
        # a preview that arrives after a newer action (another file, an import) is stale
        self.tasks.call(
            av.preview_columns,
            Path(text),
            delim,
            label="Reading file header",
            on_done=lambda pv: self._show_preview(pv) if gen == self._generation else None,
            on_error=lambda exc: self._show_error(exc) if gen == self._generation else None,
        )

    def _show_preview(self, pv: av.ColumnPreview) -> None:
        self.error.hide()
        self.preview.setColumnCount(len(pv.columns))
        self.preview.setHorizontalHeaderLabels(list(pv.columns))
        fill(self.preview, [list(r) for r in pv.rows])
        for combo, guess in (
            (self.ts_col, ("timestamp", "time", "datetime")),
            (self.counts_col, ("activity", "counts", "count", "steps")),
        ):
            combo.clear()
            combo.addItems(list(pv.columns))
            for g in guess:
                i = combo.findText(g)
                if i >= 0:
                    combo.setCurrentIndex(i)
                    break

    def mapping(self) -> ColumnMapping:
        """The column mapping the user chose."""
        if self.format.currentData() == "depresjon":
            return DEPRESJON
        return ColumnMapping(
            timestamp=self.ts_col.currentText() or "timestamp",
            counts=self.counts_col.currentText() or "activity",
            delimiter=DELIMITERS[self.delimiter.currentText()],
            epoch_s=self.epoch.value() or None,
        )

    # -- running -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._busy

    def start(self) -> None:
        """Parse and analyse as a background task, then store in one transaction."""
        text = self.path.text().strip()
        if not text or self._busy:
            if not text:
                self._show_error_text("Choose a file to import.")
            return
        self._busy = True
        self._generation += 1  # any preview still in flight must not touch the messages
        self.error.hide()
        self.import_button.setEnabled(False)
        self.progress.setValue(0)
        path, mapping = Path(text), self.mapping()

        # parsing and the metrics are CPU-bound: a child process, so the window never stalls
        self._task = self.tasks.run_cpu(
            av.prepare_import_task,
            path,
            mapping,
            label="Reading actigraphy file",
            on_done=self._store,
            on_error=self._failed,
        )

    def cancel(self) -> None:
        """Stop an import before it is stored; close the dialog when idle."""
        if self._busy:
            # before cancel(): a task still queued for a child process ends at once, and its
            # "nothing was stored" must not be overwritten
            self.message.setText("Cancelling…")
            if self._task is not None:
                self.tasks.cancel(self._task.id)
        else:
            self.reject()

    def _task_progress(self, task_id: int, pct: int, msg: str) -> None:
        if self._task is not None and task_id == self._task.id:
            self._progress(pct, msg)

    def _task_finished(self, task_id: int) -> None:
        """A cancelled task delivers no result: end the import here."""
        task = self._task
        if task is not None and task_id == task.id:
            self._task = None
            if task.token.cancelled and self._busy:
                self._failed(av.ImportCancelled())

    def _progress(self, pct: int, msg: str) -> None:
        self.progress.setValue(pct)
        self.message.setText(msg)

    def _store(self, prepared: av.PreparedImport) -> None:
        self.cancel_button.setEnabled(False)  # the write is one short transaction
        self._progress(95, "Storing the recording")
        self.tasks.call(
            av.store_prepared,
            self.ctx,
            self.principal,
            self.patient_id,
            prepared,
            label="Storing actigraphy",
            on_done=self._stored,
            on_error=self._failed,
        )

    def _stored(self, outcome: Any) -> None:  # noqa: ANN401
        self._busy = False
        self.cancel_button.setEnabled(True)
        self.import_button.setEnabled(True)
        self._progress(100, f"Imported {outcome.minutes:,} minutes, {outcome.nights} nights.")
        self.imported.emit(outcome)
        self.accept()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, av.ImportCancelled) and not self._busy:
            return  # already ended when the cancelled task finished
        self._busy = False
        self.cancel_button.setEnabled(True)
        self.import_button.setEnabled(True)
        self.progress.setValue(0)
        if isinstance(exc, av.ImportCancelled):
            self.message.setText("Import cancelled; nothing was stored.")
            return
        self._show_error(exc)

    def _show_error(self, exc: BaseException) -> None:
        self._show_error_text(user_message(exc) + "\nNothing was imported.")

    def _show_error_text(self, text: str) -> None:
        self.message.setText("")
        self.error.setText(text)
        self.error.show()
        self.failed.emit(text)

    def done(self, result: int) -> None:  # noqa: D102 — stop the task before closing
        if self._task is not None:
            self.tasks.cancel(self._task.id)
        super().done(result)
