"""The streaming side of the notes analysis panel: read the signed note (audited), run the local
language model as a TaskManager task, show its tokens live and cancel within ~200 ms.

The model runs in its own child process; the task only forwards its tokens into a deque that a
GUI timer drains every 30 ms, so a fast model cannot flood the event loop and no model output
(which quotes the note) ever reaches the task bar's progress messages. Cancel runs the model's
blocking cancel as a short task of its own; the stream then ends with a "cancelled" result.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import SignalInstance
from PySide6.QtGui import QTextCursor

from app.core.domain import NoteStatus
from app.core.errors import NotFoundError
from app.services import nlp, nlp_session
from ui.panels.common import user_message
from ui.tasks import CancelToken, Progress, Task

if TYPE_CHECKING:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QPushButton

    from app.core.domain import NoteRecord, Principal
    from app.services.context import AppContext
    from app.services.nlp import NoteAnalyser
    from engines.llm.results import GenParams
    from ui.tasks import TaskManager

FLUSH_MS = 30


class StreamController:
    """Mixed into NotesAnalysisPanel: analyse, stream, cancel, store."""

    if TYPE_CHECKING:  # provided by NotesAnalysisPanel
        ctx: AppContext
        principal: Principal | None
        tasks: TaskManager
        analyser: NoteAnalyser
        params: GenParams
        note: NoteRecord | None
        model: nlp_session.ModelStatus | None
        stream: QPlainTextEdit
        progress: QProgressBar
        status: QLabel
        cancel_button: QPushButton
        _flush_timer: QTimer

        @property
        def finished(self) -> SignalInstance: ...
        @property
        def user(self) -> Principal: ...
        def _update_buttons(self) -> None: ...
        def _load_analyses(self, note_id: str) -> None: ...

    def _init_stream(self) -> None:
        self.streaming = False
        self.tokens_seen = 0
        self.cancel_latency_s: float | None = None
        self._cancel_t0 = 0.0
        self._t_start = 0.0
        self._tokens: deque[str] = deque()
        self._stream_task: Task | None = None
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self.tasks.finished.connect(self._task_finished)

    def analyse(self) -> None:
        """Read the note (audited), then stream the model's analysis as a background task."""
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
        self.tasks.call(
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
        analyser, params, tokens = self.analyser, self.params, self._tokens

        def work(_token: CancelToken, _progress: Progress) -> tuple[str, Any]:
            from engines.llm.results import TokenChunk  # child process I/O only, no store

            result = None
            for item in analyser.stream(text, params):
                if isinstance(item, TokenChunk):
                    tokens.append(item.text)
                else:
                    result = item
            if result is None or result.stop_reason == "cancelled":
                return ("cancelled", None)
            return ("ok", nlp_session.finish_analysis(analyser, note_id, text, result))

        self._t_start = time.perf_counter()
        self.status.setText("Generating… tokens appear below as the model writes them.")
        self._flush_timer.start()
        # not cancellable from the task bar: the panel's Cancel stops the model itself
        self._stream_task = self.tasks.run(
            work,
            label="Analysing note",
            on_done=self._generation_done,
            on_error=self._generation_failed,
            cancellable=False,
        )

    def _flush(self) -> None:
        parts = []
        while self._tokens:
            parts.append(self._tokens.popleft())
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
        self.streaming = self._stream_task is not None
        if self.streaming:
            analyser = self.analyser
            self.tasks.run(
                lambda _t, _p: analyser.cancel(), label="Stopping the model", cancellable=False
            )
        else:  # still reading the note: nothing started yet
            self._end_stream()

    def _task_finished(self, task_id: int) -> None:
        """The stream task ended. Its result follows this signal, except when the shell
        cancelled every task (sign-out, closing): then the stream ends here."""
        task = self._stream_task
        if task is None or task.id != task_id:
            return
        self._stream_task = None
        if task.token.cancelled and self.streaming:
            self._generation_done(("cancelled", None))

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
        if self.note is None:  # the note was closed while the model ran: nothing to store
            self._generation_failed(NotFoundError("The note was closed."))
            return
        self.status.setText("Storing the analysis…")
        self.tasks.call(
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
