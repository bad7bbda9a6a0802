"""Notes analysis panel: analyse a signed note with the local LLM, tokens streaming live, Cancel
within 200 ms; evidence quotes highlighted in the note; verified findings apart from unverified
suggestions; accept / reject each finding (audited); model provenance and its label.

This module holds the layout, the model check and the notes; streaming is in
ui.panels.notes_stream and the findings column in ui.panels.notes_findings. All background
work (store calls and the model's stream) runs on the panel's TaskManager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import NoteRecord, NoteStatus
from app.services import nlp, nlp_session, notes
from app.services.nlp import NoteAnalyser, StoredAnalysis
from engines.llm.results import GenParams
from ui.panels.common import heading, label, muted, notice, user_message
from ui.panels.notes_findings import FindingsView, finding_verified
from ui.panels.notes_stream import StreamController
from ui.workspace.panel import PatientPanel, select_item

__all__ = ["NotesAnalysisPanel", "finding_verified"]


class NotesAnalysisPanel(StreamController, FindingsView, PatientPanel):
    """Mount in the shell's Note analysis tab: ``NotesAnalysisPanel(ctx, principal, pid,
    tasks=ws.tasks, analyser=shared_analyser)``. Call ``set_patient(pid)`` on patient change
    and ``shutdown()`` at sign-out (stops the model child process if the panel owns the
    analyser)."""

    loaded = Signal()
    finished = Signal(str)  # "stored" | "cancelled" | "error"
    reviewed = Signal()
    record_types = frozenset({"note", "nlp"})

    def __init__(
        self,
        *args: Any,
        analyser: NoteAnalyser | None = None,
        params: GenParams | None = None,
        **kwargs: Any,
    ) -> None:
        """Arguments as PatientPanel's, plus a shared analyser and the generation settings."""
        self._owns_analyser = analyser is None
        self._given_analyser = analyser
        self.params = params or GenParams(max_tokens=1024, temperature=0.0)
        super().__init__(*args, **kwargs)

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.analyser = self._given_analyser or NoteAnalyser(self.ctx.settings)
        self.notes: list[NoteRecord] = []
        self.note: NoteRecord | None = None
        self.analysis: dict[str, Any] | None = None
        self.analysis_id: str | None = None
        self.model: nlp_session.ModelStatus | None = None
        self._flush_timer = QTimer(self)
        self._init_stream()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 12)
        top, self.model_info = heading("Note analysis", "language model")
        lay.addLayout(top)
        self.model_label = notice("", "model label")
        lay.addWidget(self.model_label)
        self.model_missing = notice("", "model missing", "danger")
        self.model_missing.hide()
        lay.addWidget(self.model_missing)
        self.not_model_output = notice("", "not model output", "danger")
        self.not_model_output.hide()
        lay.addWidget(self.not_model_output)

        split = QSplitter(Qt.Orientation.Horizontal)
        lay.addWidget(split, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(label("Notes", "cardTitle"))
        self.note_list = QListWidget()
        self.note_list.setAccessibleName("notes")
        self.note_list.currentItemChanged.connect(self._note_changed)
        ll.addWidget(self.note_list)
        split.addWidget(left)

        mid = QWidget()
        ml = QVBoxLayout(mid)
        ml.setContentsMargins(0, 0, 0, 0)
        self.note_title = label("", "cardTitle")
        ml.addWidget(self.note_title)
        self.note_text = QTextEdit()
        self.note_text.setReadOnly(True)
        self.note_text.setAccessibleName("note text with highlighted evidence")
        ml.addWidget(self.note_text, 3)
        row = QHBoxLayout()
        self.analyse_button = QPushButton("&Analyse")
        self.analyse_button.setProperty("primary", "true")
        self.analyse_button.setAccessibleName("analyse note")
        self.analyse_button.setToolTip(
            "Run the local language model on this signed note (Ctrl+Enter)"
        )
        self.analyse_button.setShortcut("Ctrl+Return")
        self.analyse_button.clicked.connect(self.analyse)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("cancel analysis")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("analysis progress")
        self.progress.setRange(0, self.params.max_tokens)
        self.progress.setValue(0)
        self.progress.setFormat("%v tokens")
        row.addWidget(self.analyse_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        ml.addLayout(row)
        self.status = muted("")
        self.status.setAccessibleName("analysis status")
        ml.addWidget(self.status)
        self.stream = QPlainTextEdit()
        self.stream.setReadOnly(True)
        self.stream.setAccessibleName("model output as it streams")
        self.stream.setPlaceholderText("Model output appears here as it is generated.")
        self.stream.setMaximumBlockCount(2000)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSize(9)
        self.stream.setFont(mono)
        ml.addWidget(self.stream, 1)
        split.addWidget(mid)

        split.addWidget(self._build_findings())
        split.setSizes([220, 560, 520])
        self._update_buttons()
        self._check_model()

    # -- model -------------------------------------------------------------------------------
    def _check_model(self) -> None:
        self.tasks.call(
            nlp_session.model_status,
            self.analyser,
            label="Checking language model",
            on_done=self._model_status,
        )

    def _model_status(self, st: nlp_session.ModelStatus) -> None:
        self.model = st
        self.model_missing.setVisible(not st.available)
        self.model_label.setVisible(st.available and not st.clinical_validity)
        if st.available:
            self.model_info.setText(st.message)
            self.model_label.setText(
                f"Model output: {st.label}. Findings are suggestions for the clinician to "
                "review; only quotes found verbatim in the note are marked verified."
            )
        else:
            self.model_info.setText("no language model")
            self.model_missing.setText(
                "Note analysis is unavailable: " + st.message.replace("\n", " ")
            )
        self._update_buttons()

    # -- notes -------------------------------------------------------------------------------
    def set_patient(self, patient_id: str | None, *, load: bool = True) -> None:
        if self.streaming:
            self.cancel()
        super().set_patient(patient_id, load=load)

    def clear(self) -> None:
        """Drop PHI from the widgets (lock, sign-out, patient switch)."""
        super().clear()
        self.notes, self.note, self.analysis, self.analysis_id = [], None, None, None
        self.note_list.clear()
        self.note_text.clear()
        self.note_title.setText("")
        self.stream.clear()
        self.summary.setText("")
        self.provenance.setText("")
        self.findings.setRowCount(0)
        self._show_origin(None)
        self._update_buttons()

    def load(self) -> None:
        pid = self.patient_id
        self._ask(
            notes.list_notes,
            pid,
            label="Loading notes",
            on_done=lambda ns: self._notes_loaded(pid, ns),
        )

    def _ask(
        self, fn: Callable[..., Any], *args: Any, label: str, on_done: Callable[[Any], None]
    ) -> None:
        """Call ``fn(ctx, principal, *args)`` in the background; a failure shows in the status."""
        self.tasks.call(
            fn,
            self.ctx,
            self.principal,
            *args,
            label=label,
            on_done=on_done,
            on_error=lambda e: self.status.setText(user_message(e)),
        )

    def _notes_loaded(self, pid: str | None, ns: list[NoteRecord]) -> None:
        if pid != self.patient_id:
            return
        self.notes = ns
        self.note_list.clear()
        for n in ns:
            signed = n.status == NoteStatus.SIGNED
            when = (n.signed_at or n.created_at).strftime("%Y-%m-%d")
            item = QListWidgetItem(f"{n.title}\n{when} · {'signed' if signed else 'draft'}")
            item.setData(Qt.ItemDataRole.UserRole, n.id)
            item.setToolTip("" if signed else "Sign the note before analysing it.")
            self.note_list.addItem(item)
        if ns:
            self.note_list.setCurrentRow(0)
        self.loaded.emit()

    def select_note(self, note_id: str) -> None:
        select_item(self.note_list, note_id)

    def _note_changed(self, item: QListWidgetItem | None, _prev: object = None) -> None:
        if self.streaming:
            self.cancel()
        note_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.note = next((n for n in self.notes if n.id == note_id), None)
        self.note_text.setPlainText(self.note.body if self.note else "")
        self.note_title.setText(self.note.title.upper() if self.note else "")
        self.analysis, self.analysis_id = None, None
        self._show_origin(None)
        self._render_analysis()
        self.stream.clear()
        self.status.setText("")
        if self.note is not None:
            self._load_analyses(self.note.id)

    def _load_analyses(self, note_id: str) -> None:
        self._ask(
            nlp.analyses_for_note,
            note_id,
            label="Loading analyses",
            on_done=lambda rows: self._analyses_loaded(note_id, rows),
        )

    def _analyses_loaded(self, note_id: str, rows: list[StoredAnalysis]) -> None:
        if self.note is None or self.note.id != note_id:
            return
        real = [r for r in rows if "findings" in r.result]
        if real:
            latest = real[-1]
            self.analysis_id = latest.id
            self._show_origin(latest)
            self.show_analysis(latest.result, latest.model_name)
        else:
            self.analysis = None
            self._show_origin(None)
            self._render_analysis()

    def _show_origin(self, stored: StoredAnalysis | None) -> None:
        """A banner over a shown analysis that no model produced (demo placeholder, the
        documentation's illustrative example): it is never presented as model output."""
        placeholder = stored is not None and not nlp_session.is_model_output(stored)
        self.not_model_output.setVisible(placeholder)
        self.not_model_output.setText(
            f"Not model output — {stored.model_name}. No language model produced this "
            "analysis: what is shown below (labelled “model”) is a placeholder written by hand."
            if stored is not None and placeholder
            else ""
        )

    def _update_buttons(self) -> None:
        signed = self.note is not None and self.note.status == NoteStatus.SIGNED
        model_ok = self.model is None or self.model.available
        self.analyse_button.setEnabled(signed and model_ok and not self.streaming)
        self.cancel_button.setEnabled(self.streaming)
        has = self.analysis_id is not None and self.selected_finding() is not None
        self.accept_button.setEnabled(has and not self.streaming)
        self.reject_button.setEnabled(has and not self.streaming)
        if self.note is not None and not signed:
            self.status.setText("Sign the note before analysing it.")

    # -- lifecycle ---------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop streaming and the model child process (if this panel owns the analyser)."""
        if self.streaming:
            self.analyser.cancel()  # returns once generation stopped
        self._flush_timer.stop()
        super().shutdown()
        if self._owns_analyser:
            self.analyser.close()
