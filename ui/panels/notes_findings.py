"""The findings side of the notes analysis panel: the model's risk level and summary (labelled as
unverified model text unless verified findings back them), each finding marked verified (every
quote is a clause found verbatim in the note, highlighted there) or an unverified suggestion with
the reason, accept / reject per finding (audited by the service) and the model's provenance."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import Principal
from app.services import nlp
from app.services.context import AppContext
from ui.panels.common import emphasise, fill, label, muted, table

if TYPE_CHECKING:
    from collections.abc import Callable

    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QLabel

    from app.core.domain import NoteRecord

VERIFIED_BG = QColor(255, 226, 122)  # quote found verbatim in the note
SELECTED_BG = QColor(255, 176, 64)  # quotes of the selected finding
KIND_TITLES = {
    "condition": "Condition",
    "risk_factor": "Risk factor",
    "protective_factor": "Protective factor",
}


def finding_verified(f: dict[str, Any]) -> bool:
    """A stored finding is verified only when every quote is (the service re-checks each stored
    analysis against the note with the current rules and records the result as "verified")."""
    if "verified" in f:
        return bool(f["verified"])
    ev = f.get("evidence", [])
    return bool(ev) and all(e.get("verified") for e in ev)


def risk_level_text(a: dict[str, Any]) -> tuple[str, str]:
    """(rich text, modelText property) for the model's risk level: backed by verified findings,
    or unverified model text."""
    level = html.escape(str(a.get("risk_level", "—")))
    backing = a.get("risk_level_backing") or []
    if a.get("risk_level_backed") and backing:
        n = len(backing)
        return (
            f"<b>Risk level (model's rating):</b> {level} — supported by {n} verified "
            f"finding{'s' if n != 1 else ''} quoted from the note. The level itself is the "
            "model's judgement, not a clinical risk assessment.",
            "backed",
        )
    why = (
        "the model rated no risk, and an absence of risk cannot be shown by a quote"
        if a.get("risk_level") == "none"
        else "no verified risk-factor or condition finding supports it"
    )
    return (
        f"<b>Risk level — unverified model text:</b> {level}. Not backed by the note: {why}. "
        "Make your own risk assessment.",
        "unverified",
    )


def summary_text(a: dict[str, Any]) -> str:
    """Rich text for the model's summary, always labelled as unverified model text."""
    return (
        "<b>Summary — unverified model text</b> (not checked against the note): "
        f"{html.escape(str(a.get('summary', '—')))}"
    )


def _restyle(w: QLabel, state: str) -> None:
    w.setProperty("modelText", state)
    w.style().unpolish(w)
    w.style().polish(w)


class FindingsView:
    """Mixed into NotesAnalysisPanel: builds the findings column and shows an analysis."""

    if TYPE_CHECKING:  # provided by NotesAnalysisPanel
        note: NoteRecord | None
        analysis: dict[str, Any] | None
        analysis_id: str | None
        note_text: QTextEdit
        status: QLabel

        @property
        def reviewed(self) -> SignalInstance: ...
        def _update_buttons(self) -> None: ...
        def _load_analyses(self, note_id: str) -> None: ...
        def _ask(
            self, fn: Callable[..., Any], *args: Any, label: str, on_done: Callable[[Any], None]
        ) -> None: ...

    def _build_findings(self) -> QWidget:
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(label("Findings", "cardTitle"))
        self.risk_level = label("", wrap=True)
        self.risk_level.setAccessibleName("analysis risk level")
        rl.addWidget(self.risk_level)
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
            muted(
                "Verified: every quote appears word for word in the note (highlighted) and "
                "is at least a clause (3 words or 20 characters). Suggestion: a quote is "
                "missing from the note or too short to prove anything — an unverified "
                "model suggestion, not a fact."
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
        self.provenance = muted("")
        self.provenance.setAccessibleName("analysis provenance")
        rl.addWidget(self.provenance)
        return right

    def clear(self) -> None:
        """Drop the model's risk level too when the panel drops PHI (lock, sign-out, patient
        switch); the panel's own clear() clears the rest."""
        self.risk_level.setText("")
        _restyle(self.risk_level, "")
        _restyle(self.summary, "")
        super().clear()  # type: ignore[misc]  # PatientPanel.clear, next in the panel's MRO

    # -- showing an analysis -----------------------------------------------------------------
    def show_analysis(self, result: dict[str, Any], model_name: str = "") -> None:
        """Show a stored analysis result (as kept by the NLP service)."""
        self.analysis = result
        self._render_analysis(model_name)

    def _render_analysis(self, model_name: str = "") -> None:
        a = self.analysis or {}
        found = a.get("findings", [])
        decisions = a.get("decisions", {})
        if a:
            risk, state = risk_level_text(a)
            self.risk_level.setText(risk)
            _restyle(self.risk_level, state)
            self.summary.setText(summary_text(a))
            _restyle(self.summary, "unverified")
        else:
            self.risk_level.setText("No analysis of this note yet.")
            _restyle(self.risk_level, "")
            self.summary.setText("")
            _restyle(self.summary, "")
        rows = []
        for i, f in enumerate(found):
            ok = finding_verified(f)
            quotes = "; ".join(
                f"“{e['quote']}”"
                + ("" if e.get("verified") else f" ({e.get('reason') or 'not in note'})")
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
                        emphasise(item, "#2e7d32", bold=True)
                elif item is not None:
                    emphasise(item, "#7b8591", italic=True)
                    why = f.get("reason") or "a quote is not in the note"
                    item.setToolTip(f"Unverified model suggestion: {why}.")
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
            s.cursor = cur  # type: ignore[attr-defined]  # PySide6 stub lacks ExtraSelection.cursor
            fmt = QTextCharFormat()
            fmt.setBackground(SELECTED_BG if selected else VERIFIED_BG)
            fmt.setForeground(QColor("#1b2430"))
            if selected:
                fmt.setFontUnderline(True)
            s.format = fmt  # type: ignore[attr-defined]  # PySide6 stub lacks ExtraSelection.format
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
        self._ask(
            _review, aid, i, accept, label="Recording review", on_done=lambda _r: self._reviewed(i)
        )

    def _reviewed(self, row: int) -> None:
        if self.note is not None:
            self._load_analyses(self.note.id)
        self.status.setText(f"Finding {row + 1} reviewed.")
        self.reviewed.emit()


def _review(
    ctx: AppContext, principal: Principal, analysis_id: str, finding: int, accept: bool
) -> None:
    nlp.review_finding(ctx, principal, analysis_id, finding, accept=accept)
