"""Notes tab: signed notes (read-only) and drafts; the editor autosaves into the encrypted
store, and unsaved work is kept as a draft before the patient closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import NoteRecord, NoteStatus
from app.services import drafts, notes
from ui.widgets import label, primary_button
from ui.workspace.panel import PatientPanel, select_item, when


class NotesTab(PatientPanel):
    """Signed notes (read-only) and drafts; the editor autosaves into the encrypted store."""

    AUTOSAVE_MS = 1500
    record_types = frozenset({"note"})

    def _build(self) -> None:
        self._notes: dict[str, NoteRecord] = {}
        self._editing: str | None = None  # note id of the draft being edited, None = new
        self._dirty = False
        split = QSplitter(Qt.Orientation.Horizontal)
        self.splitter = split
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(12, 12, 6, 12)
        self.new_button = QPushButton("&New note")
        self.new_button.setAccessibleName("New note")
        self.list = QListWidget()
        self.list.setAccessibleName("Notes")
        ll.addWidget(self.new_button)
        ll.addWidget(self.list, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(6, 12, 12, 12)
        self.title = QLineEdit()
        self.title.setPlaceholderText("Title")
        self.title.setAccessibleName("Note title")
        self.body = QPlainTextEdit()
        self.body.setPlaceholderText("Write the note…")
        self.body.setAccessibleName("Note text")
        self.state = label("", "muted")
        row = QHBoxLayout()
        self.save_button = QPushButton("&Save draft")
        self.save_button.setAccessibleName("Save draft")
        self.sign_button = primary_button("Si&gn note", "Sign note")
        self.sign_button.setDefault(False)
        row.addWidget(self.state, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.sign_button)
        rl.addWidget(self.title)
        rl.addWidget(self.body, 1)
        rl.addLayout(row)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([260, 700])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(self.AUTOSAVE_MS)
        self._autosave.timeout.connect(self.save_autodraft)
        self.title.textEdited.connect(self._changed)
        self.body.textChanged.connect(self._changed_body)
        self.new_button.clicked.connect(self.new_note)
        self.list.currentItemChanged.connect(self._select)
        self.save_button.clicked.connect(self.save_note)
        self.sign_button.clicked.connect(self.sign_note)
        self._loading = False
        self._set_editable(True)

    def has_unsaved_changes(self) -> bool:
        return self._dirty

    def keep_unsaved(self) -> None:
        self.save_autodraft()

    # -- loading -------------------------------------------------------------------------
    def load(self) -> None:
        ctx, who, pid = self.ctx, self.user, self.patient

        def fetch() -> tuple[list[NoteRecord], list[dict[str, Any]]]:
            own = [d for d in drafts.load_drafts(ctx, who, kind="note") if d["patient_id"] == pid]
            return notes.list_notes(ctx, who, pid), own

        self.call(fetch, label="Loading notes", on_done=self._show)

    def _show(self, result: tuple[list[NoteRecord], list[dict[str, Any]]]) -> None:
        records, autosaved = result
        self._notes = {n.id: n for n in records}
        current = self._editing
        self.list.blockSignals(True)
        self.list.clear()
        for n in records:
            tag = "Draft" if n.status is NoteStatus.DRAFT else f"Signed {n.signed_at:%Y-%m-%d}"
            item = QListWidgetItem(f"{n.title}\n{tag}")
            item.setData(Qt.ItemDataRole.UserRole, n.id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        if not self._dirty and autosaved:  # restore the work that was in progress
            d = autosaved[0]
            ref = d["ref"]
            self._editing = None if ref.startswith("new:") else ref
            self._put(d["content"].get("title", ""), d["content"].get("body", ""))
            self._set_editable(True)
            self.state.setText("Restored your unsaved draft")
            self._dirty = True
        elif current in self._notes:
            select_item(self.list, current)

    # -- editing ---------------------------------------------------------------------------
    def _put(self, title: str, body: str) -> None:
        self._loading = True
        self.title.setText(title)
        self.body.setPlainText(body)
        self._loading = False

    def _set_editable(self, on: bool) -> None:
        self.title.setReadOnly(not on)
        self.body.setReadOnly(not on)
        self.save_button.setEnabled(on)
        self.sign_button.setEnabled(on)

    def _changed(self, *_: Any) -> None:
        if self._loading or self.title.isReadOnly():
            return
        self._dirty = True
        self.state.setText("Unsaved changes")
        self._autosave.start()

    def _changed_body(self) -> None:
        self._changed()

    def _select(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is None or item.data(Qt.ItemDataRole.UserRole) not in self._notes:
            return
        if self._dirty:
            self.save_autodraft()
        n = self._notes[item.data(Qt.ItemDataRole.UserRole)]
        self._editing = n.id
        self._dirty = False
        self._put(n.title, n.body)
        signed = n.status is NoteStatus.SIGNED
        self._set_editable(not signed)
        self.state.setText(
            f"Signed {when(n.signed_at)} · read-only" if signed else "Draft (not signed)"
        )

    def new_note(self) -> None:
        if self._dirty:
            self.save_autodraft()
        self.list.clearSelection()
        self._editing = None
        self._dirty = False
        self._put("", "")
        self._set_editable(True)
        self.state.setText("New note")
        self.title.setFocus()

    def _ref(self) -> str:
        return self._editing or f"new:{self.patient_id}"

    def save_autodraft(self) -> None:
        """Keep the editor's content as an encrypted draft (autosave, lock, sign-out)."""
        self._autosave.stop()
        if not self._dirty or self.patient_id is None or self.principal is None:
            return
        ctx, who, pid = self.ctx, self.principal, self.patient_id
        content = {"title": self.title.text(), "body": self.body.toPlainText()}
        ref = self._ref()
        self.tasks.call(
            drafts.save_draft,
            ctx,
            who,
            kind="note",
            ref=ref,
            content=content,
            patient_id=pid,
            label="Saving draft",
            on_done=lambda _r: (
                self.state.setText("Draft kept (encrypted)") if self.patient_id == pid else None
            ),
        )

    def save_note(self, then: Callable[[NoteRecord], None] | None = None) -> None:
        """Write the editor into a draft note record (create or update)."""
        ctx, who, pid = self.ctx, self.user, self.patient
        title, body, editing, ref = (
            self.title.text(),
            self.body.toPlainText(),
            self._editing,
            self._ref(),
        )
        self._autosave.stop()

        def do() -> NoteRecord:
            if editing is None:
                rec = notes.create_draft(ctx, who, pid, title, body)
            else:
                rec = notes.update_draft(ctx, who, editing, title, body)
            drafts.discard_draft(ctx, who, kind="note", ref=ref)
            return rec

        def done(rec: NoteRecord) -> None:
            self._editing = rec.id
            self._dirty = False
            self.state.setText("Draft saved")
            if callable(then):
                then(rec)

        self.tasks.call(do, label="Saving note", on_done=done, on_error=self.show_error)

    def sign_note(self) -> None:
        ctx, who = self.ctx, self.user

        def sign(rec: NoteRecord) -> None:
            self.tasks.call(
                notes.sign,
                ctx,
                who,
                rec.id,
                label="Signing note",
                on_done=lambda r: self.state.setText(f"Signed {when(r.signed_at)}"),
                on_error=self.show_error,
            )

        self.save_note(then=sign)

    def clear(self) -> None:
        super().clear()
        self._autosave.stop()
        self.list.blockSignals(True)
        self.list.clear()
        self.list.blockSignals(False)
        self._notes.clear()
        self._editing = None
        self._dirty = False
        self._put("", "")
        self.state.setText("")
