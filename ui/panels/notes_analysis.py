"""Notes analysis panel: analyse a signed note with the local LLM, tokens streaming live, Cancel
within 200 ms; evidence quotes highlighted in the note; verified findings apart from unverified
suggestions; accept / reject each finding (audited); model provenance and its label.

Threads: store calls go through ``run_task`` (the service thread); the model runs in its own
child process, driven from a plain Python thread that only forwards tokens into a buffer. A
GUI timer drains the buffer every 30 ms, so a fast model cannot flood the event loop.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
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

from app.core.domain import NoteRecord, NoteStatus, Principal
from app.services import nlp, nlp_session, notes
from app.services.context import AppContext
from app.services.nlp import NoteAnalyser, StoredAnalysis
from engines.llm.results import GenParams
from ui.panels.common import (
    RunTask,
    TaskRunner,
    fill,
    label,
    notice,
    section,
    table,
    user_message,
)

VERIFIED_BG = QColor(255, 226, 122)  # quote found verbatim in the note
SELECTED_BG = QColor(255, 176, 64)  # quotes of the selected finding
KIND_TITLES = {
    "condition": "Condition",
    "risk_factor": "Risk factor",
    "protective_factor": "Protective factor",
}
FLUSH_MS = 30


def finding_verified(f: dict[str, Any]) -> bool:
    return any(e.get("verified") for e in f.get("evidence", []))


class _Bridge(QObject):
    done = Signal(object)
    failed = Signal(object)


class NotesAnalysisPanel(QWidget):
    """Mount in the shell's Notes tab (e.g. beside the editor): ``NotesAnalysisPanel(ctx,
    principal, pid, run_task=ws.tasks.call, analyser=shared_analyser)``. Call
    ``set_patient(pid)`` on patient change and ``shutdown()`` at sign-out (stops the model
    child process if the panel owns the analyser)."""

    loaded = Signal()
    finished = Signal(str)  # "stored" | "cancelled" | "error"
    reviewed = Signal()

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        patient_id: str | None = None,
        run_task: RunTask | None = None,
        analyser: NoteAnalyser | None = None,
        params: GenParams | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal, self.patient_id = ctx, principal, patient_id
        self._runner = None if run_task is not None else TaskRunner(self)
        self.run_task: RunTask = run_task or self._runner  # type: ignore[assignment]
        self._owns_analyser = analyser is None
        self.analyser = analyser or NoteAnalyser(ctx.settings)
        self.params = params or GenParams(max_tokens=1024, temperature=0.0)
        self.notes: list[NoteRecord] = []
        self.note: NoteRecord | None = None
        self.analysis: dict[str, Any] | None = None
        self.analysis_id: str | None = None
        self.model: nlp_session.ModelStatus | None = None
        self.streaming = False
        self.tokens_seen = 0
        self.cancel_latency_s: float | None = None
        self._cancel_t0 = 0.0
        self._buffer: list[str] = []
        self._buffer_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._generation_done)
        self._bridge.failed.connect(self._generation_failed)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._t_start = 0.0
        self._build()
        self._check_model()
        if patient_id:
            self.load()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(16, 12, 16, 12)
        top = QHBoxLayout()
        top.addWidget(section("Note analysis"))
        top.addStretch(1)
        self.model_info = label("", "muted")
        self.model_info.setAccessibleName("language model")
        top.addWidget(self.model_info)
        lay.addLayout(top)
        self.model_label = notice("", "model label")
        lay.addWidget(self.model_label)
        self.model_missing = notice("", "model missing", "danger")
        self.model_missing.hide()
        lay.addWidget(self.model_missing)

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
        self.status = label("", "muted", wrap=True)
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

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(label("Findings", "cardTitle"))
        self.summary = label("", wrap=True)
        self.summary.setAccessibleName("analysis summary")
        rl.addWidget(self.summary)
        self.findings = table(("Evidence", "Finding", "Quote", "Review"), "findings")
        self.findings.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.findings.setWordWrap(True)
        hdr = self.findings.horizontalHeader()
        hdr.setStretchLastSection(False)
        hdr.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        hdr.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.findings.itemSelectionChanged.connect(self._highlight)
        rl.addWidget(self.findings, 1)
        rl.addWidget(
            label(
                "Verified: the quote appears verbatim in the note (highlighted). "
                "Suggestion: no quote could be found in the note — an unverified "
                "model suggestion, not a fact.",
                "muted",
                wrap=True,
            )
        )
        review = QHBoxLayout()
        self.accept_button = QPushButton("A&ccept")
        self.accept_button.setAccessibleName("accept selected finding")
        self.accept_button.clicked.connect(lambda: self.review(True))
        self.reject_button = QPushButton("&Reject")
        self.reject_button.setAccessibleName("reject selected finding")
        self.reject_button.clicked.connect(lambda: self.review(False))
        review.addWidget(self.accept_button)
        review.addWidget(self.reject_button)
        review.addStretch(1)
        rl.addLayout(review)
        self.provenance = label("", "muted", wrap=True)
        self.provenance.setAccessibleName("analysis provenance")
        rl.addWidget(self.provenance)
        split.addWidget(right)
        split.setSizes([220, 560, 520])
        self._update_buttons()

    # -- model -------------------------------------------------------------------------------
    def _check_model(self) -> None:
        self.run_task(
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
    def set_patient(self, patient_id: str | None) -> None:
        if self.streaming:
            self.cancel()
        self.patient_id = patient_id
        self.clear()
        if patient_id:
            self.load()

    def clear(self) -> None:
        """Drop PHI from the widgets (lock, sign-out, patient switch)."""
        self.notes, self.note, self.analysis, self.analysis_id = [], None, None, None
        self.note_list.clear()
        self.note_text.clear()
        self.note_title.setText("")
        self.stream.clear()
        self.summary.setText("")
        self.provenance.setText("")
        self.findings.setRowCount(0)
        self._update_buttons()

    def load(self) -> None:
        pid = self.patient_id
        self.run_task(
            notes.list_notes,
            self.ctx,
            self.principal,
            pid,
            label="Loading notes",
            on_done=lambda ns: self._notes_loaded(pid, ns),
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
        for i in range(self.note_list.count()):
            if self.note_list.item(i).data(Qt.ItemDataRole.UserRole) == note_id:
                self.note_list.setCurrentRow(i)
                return

    def _note_changed(self, item: QListWidgetItem | None, _prev: object = None) -> None:
        if self.streaming:
            self.cancel()
        note_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.note = next((n for n in self.notes if n.id == note_id), None)
        self.note_text.setPlainText(self.note.body if self.note else "")
        self.note_title.setText(self.note.title.upper() if self.note else "")
        self.analysis, self.analysis_id = None, None
        self._render_analysis()
        self.stream.clear()
        self.status.setText("")
        if self.note is not None:
            self._load_analyses(self.note.id)

    def _load_analyses(self, note_id: str) -> None:
        self.run_task(
            nlp.analyses_for_note,
            self.ctx,
            self.principal,
            note_id,
            label="Loading analyses",
            on_done=lambda rows: self._analyses_loaded(note_id, rows),
            on_error=lambda e: self.status.setText(user_message(e)),
        )

    def _analyses_loaded(self, note_id: str, rows: list[StoredAnalysis]) -> None:
        if self.note is None or self.note.id != note_id:
            return
        real = [r for r in rows if "findings" in r.result]
        if real:
            latest = real[-1]
            self.analysis_id = latest.id
            self.show_analysis(latest.result, latest.model_name)
        else:
            self.analysis = None
            self._render_analysis()

    # -- analysis ------------------------------------------------------------------------------
    def analyse(self) -> None:
        """Read the note (audited), then stream the model's analysis on a worker thread."""
        if self.streaming or self.note is None or self.note.status != NoteStatus.SIGNED:
            return
        if self.model is not None and not self.model.available:
            return
        self.streaming = True
        self.cancel_latency_s = None
        self.tokens_seen = 0
        self.stream.clear()
        self.progress.setRange(0, 0)  # busy until the first token
        self.status.setText("Starting the model…")
        self._update_buttons()
        note_id = self.note.id
        self.run_task(
            nlp.read_note,
            self.ctx,
            self.principal,
            note_id,
            label="Reading note for analysis",
            on_done=lambda pt: self._start_stream(note_id, pt[1]),
            on_error=self._generation_failed,
        )

    def _start_stream(self, note_id: str, text: str) -> None:
        if not self.streaming:  # cancelled before the model started
            self.finished.emit("cancelled")
            return
        analyser, params, bridge = self.analyser, self.params, self._bridge
        buf, lock = self._buffer, self._buffer_lock

        def work() -> None:  # worker thread: child process I/O only, no store, no widgets
            from engines.llm.results import TokenChunk

            try:
                result = None
                for item in analyser.stream(text, params):
                    if isinstance(item, TokenChunk):
                        with lock:
                            buf.append(item.text)
                    else:
                        result = item
                if result is None or result.stop_reason == "cancelled":
                    bridge.done.emit(("cancelled", None))
                    return
                analysis = nlp_session.finish_analysis(analyser, note_id, text, result)
                bridge.done.emit(("ok", analysis))
            except BaseException as exc:  # noqa: BLE001 — shown to the user
                bridge.failed.emit(exc)

        self._t_start = time.perf_counter()
        self.status.setText("Generating… tokens appear below as the model writes them.")
        self._flush_timer.start()
        self._thread = threading.Thread(target=work, name="llm-stream", daemon=True)
        self._thread.start()

    def _flush(self) -> None:
        with self._buffer_lock:
            parts = self._buffer[:]
            self._buffer.clear()
        if not parts:
            return
        if self.tokens_seen == 0:
            self.progress.setRange(0, self.params.max_tokens)
        self.tokens_seen += len(parts)
        cur = self.stream.textCursor()
        cur.movePosition(QTextCursor.MoveOperation.End)
        cur.insertText("".join(parts))
        self.stream.setTextCursor(cur)
        self.progress.setValue(min(self.tokens_seen, self.params.max_tokens))
        dt = time.perf_counter() - self._t_start
        if dt > 0:
            self.status.setText(
                f"Generating… {self.tokens_seen} tokens, {self.tokens_seen / dt:.0f} tokens/s"
            )

    def cancel(self) -> None:
        """Stop generation (the engine stops it within ~200 ms; the GUI never waits)."""
        if not self.streaming:
            return
        self._cancel_t0 = time.perf_counter()
        self.status.setText("Cancelling…")
        self.cancel_button.setEnabled(False)
        self.streaming = self._thread is not None and self._thread.is_alive()
        if self.streaming:
            threading.Thread(target=self.analyser.cancel, daemon=True).start()
        else:  # still reading the note: nothing started yet
            self._end_stream()

    def _end_stream(self) -> None:
        self._flush_timer.stop()
        self._flush()
        self.streaming = False
        self.progress.setRange(0, self.params.max_tokens)
        self._update_buttons()

    def _generation_done(self, payload: tuple[str, Any]) -> None:
        kind, analysis = payload
        if self._cancel_t0:
            self.cancel_latency_s = time.perf_counter() - self._cancel_t0
            self._cancel_t0 = 0.0
        self._end_stream()
        if kind == "cancelled":
            self.status.setText(f"Cancelled after {self.tokens_seen} tokens; nothing was stored.")
            self.finished.emit("cancelled")
            return
        self.status.setText("Storing the analysis…")
        self.run_task(
            nlp.store_analysis,
            self.ctx,
            self.principal,
            self.note.patient_id,
            analysis,
            label="Storing analysis",
            on_done=self._stored,
            on_error=self._generation_failed,
        )

    def _stored(self, analysis_id: str) -> None:
        self.progress.setValue(self.progress.maximum())
        self.status.setText(f"Analysis stored ({self.tokens_seen} tokens). Review each finding.")
        note_id = self.note.id if self.note else None
        if note_id:
            self._load_analyses(note_id)
        self.finished.emit("stored")

    def _generation_failed(self, exc: BaseException) -> None:
        self._cancel_t0 = 0.0
        self._end_stream()
        self.status.setText(
            "The analysis failed: " + user_message(exc).replace("\n", " ") + " Nothing was stored."
        )
        self.finished.emit("error")

    # -- showing an analysis -----------------------------------------------------------------
    def show_analysis(self, result: dict[str, Any], model_name: str = "") -> None:
        """Show a stored analysis result (as kept by the NLP service)."""
        self.analysis = result
        self._render_analysis(model_name)

    def _render_analysis(self, model_name: str = "") -> None:
        a = self.analysis or {}
        found = a.get("findings", [])
        decisions = a.get("decisions", {})
        self.summary.setText(
            f"<b>Risk level (model):</b> {a.get('risk_level', '—')}<br>"
            f"<b>Summary (model):</b> {a.get('summary', '—')}"
            if a
            else "No analysis of this note yet."
        )
        rows = []
        for i, f in enumerate(found):
            ok = finding_verified(f)
            quotes = "; ".join(
                f"“{e['quote']}”" + ("" if e.get("verified") else " (not in note)")
                for e in f.get("evidence", [])
            )
            d = decisions.get(str(i))
            review = "—" if d is None else ("accepted" if d.get("accepted") else "rejected")
            conf = f" ({f['confidence']})" if f.get("confidence") else ""
            rows.append(
                (
                    "✔ Verified" if ok else "? Suggestion",
                    f"{KIND_TITLES.get(f.get('kind', ''), f.get('kind', ''))}: "
                    f"{f.get('label', '')}{conf}",
                    quotes,
                    review,
                )
            )
        fill(self.findings, rows, list(range(len(rows))))
        self.findings.resizeRowsToContents()
        for i, f in enumerate(found):
            ok = finding_verified(f)
            for c in range(self.findings.columnCount()):
                item = self.findings.item(i, c)
                if ok:
                    if c == 0:
                        item.setForeground(QColor("#2e7d32"))
                        fnt = item.font()
                        fnt.setBold(True)
                        item.setFont(fnt)
                else:
                    item.setForeground(QColor("#7b8591"))
                    fnt = item.font()
                    fnt.setItalic(True)
                    item.setFont(fnt)
                    item.setToolTip("Unverified model suggestion: its quote is not in the note.")
        m = a.get("model") or {}
        if m:
            self.provenance.setText(
                f"Model {m.get('name', model_name)} ({m.get('file_name', '')}, "
                f"{m.get('quantization', '')}, SHA-256 {str(m.get('sha256', ''))[:12]}…) — "
                f"{m.get('label', '')}. {a.get('n_tokens', '?')} tokens in "
                f"{a.get('elapsed_s', 0):.1f} s; {a.get('verified_findings', 0)} verified, "
                f"{a.get('unverified_findings', 0)} unverified."
            )
        elif a:
            self.provenance.setText(
                f"{model_name or 'demo record'}: synthetic demo data, not a model output."
            )
        else:
            self.provenance.setText("")
        self._highlight()
        self._update_buttons()

    def spans(self) -> list[tuple[int, int, bool]]:
        """(start, end, selected) of every verified quote highlighted in the note."""
        out = []
        sel = self.selected_finding()
        for i, f in enumerate((self.analysis or {}).get("findings", [])):
            for e in f.get("evidence", []):
                if e.get("verified") and 0 <= e.get("start", -1) < e.get("end", -1):
                    out.append((int(e["start"]), int(e["end"]), i == sel))
        return out

    def _highlight(self) -> None:
        sels = []
        text_len = len(self.note_text.toPlainText())
        for start, end, selected in self.spans():
            if end > text_len:
                continue
            s = QTextEdit.ExtraSelection()
            cur = QTextCursor(self.note_text.document())
            cur.setPosition(start)
            cur.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            s.cursor = cur
            fmt = QTextCharFormat()
            fmt.setBackground(SELECTED_BG if selected else VERIFIED_BG)
            fmt.setForeground(QColor("#1b2430"))
            if selected:
                fmt.setFontUnderline(True)
            s.format = fmt
            sels.append(s)
            if selected:
                self.note_text.setTextCursor(QTextCursor(cur))
        self.note_text.setExtraSelections(sels)
        self._update_buttons()

    def selected_finding(self) -> int | None:
        rows = self.findings.selectionModel().selectedRows() if self.findings.model() else []
        return rows[0].row() if rows else None

    # -- review ------------------------------------------------------------------------------
    def review(self, accept: bool) -> None:
        """Accept or reject the selected finding (audited by the service)."""
        i = self.selected_finding()
        if i is None or self.analysis_id is None:
            return
        aid = self.analysis_id
        self.run_task(
            _review,
            self.ctx,
            self.principal,
            aid,
            i,
            accept,
            label="Recording review",
            on_done=lambda _r: self._reviewed(i),
            on_error=lambda e: self.status.setText(user_message(e)),
        )

    def _reviewed(self, row: int) -> None:
        if self.note is not None:
            self._load_analyses(self.note.id)
        self.status.setText(f"Finding {row + 1} reviewed.")
        self.reviewed.emit()

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
            self.analyser.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._flush_timer.stop()
        if self._owns_analyser:
            self.analyser.close()
        if self._runner is not None:
            self._runner.wait()

    def closeEvent(self, event: Any) -> None:  # noqa: ANN401, N802
        self.shutdown()
        super().closeEvent(event)


def _review(
    ctx: AppContext, principal: Principal, analysis_id: str, finding: int, accept: bool
) -> None:
    nlp.review_finding(ctx, principal, analysis_id, finding, accept=accept)
