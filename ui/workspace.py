"""The patient workspace: a header and tabs (Overview, Twin, Assessments, Notes, Actigraphy,
Predictions, Alerts, Audit). Tabs load on first view and refresh on the core's events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import NoteRecord, NoteStatus, PatientSummary, Principal
from app.services import alerts, drafts, notes, overview, patients
from app.services.access import Feature, may
from app.services.assessments import AssessmentRow
from ui.patients import age
from ui.tasks import TaskManager, user_message
from ui.widgets import (
    Card,
    EmptyState,
    fill_table,
    label,
    primary_button,
    synthetic_badge,
    table_widget,
)


def _when(dt: datetime | None) -> str:
    return dt.astimezone().strftime("%Y-%m-%d %H:%M") if dt else ""


class Tab(QWidget):
    """Base for workspace tabs: knows the session and loads its data in the background."""

    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)  # parented even while not in the tab bar (e.g. Audit)
        self.hide()
        self.ws = ws
        self.loaded_for: str | None = None

    def load(self) -> None:
        """Fetch this tab's data for the current patient (override)."""

    def clear(self) -> None:
        """Drop PHI held by the widgets (lock, sign-out, patient switch)."""
        self.loaded_for = None

    def relevant(self, record_type: str) -> bool:
        """Whether a PatientDataUpdated of this record type should reload the tab."""
        return False

    def _call(self, fn: Callable[..., Any], *args: Any, label: str, on_done: Callable) -> None:
        pid = self.ws.patient_id

        def done(result: Any) -> None:
            if self.ws.patient_id == pid:  # the patient may have changed meanwhile
                self.loaded_for = pid
                on_done(result)

        self.ws.tasks.call(fn, *args, label=label, on_done=done)


class OverviewTab(Tab):
    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
        grid = QGridLayout(self)
        grid.setContentsMargins(16, 16, 16, 16)
        grid.setSpacing(12)
        self.phq = Card("PHQ-9 (depression)")
        self.gad = Card("GAD-7 (anxiety)")
        self.risk = Card("Relapse risk, 6 months")
        self.alerts = Card("Open alerts")
        self.treatment = Card("Treatment")
        self.data = Card("Records")
        for i, card in enumerate(
            (self.phq, self.gad, self.risk, self.alerts, self.treatment, self.data)
        ):
            grid.addWidget(card, i // 3, i % 3)
        grid.setRowStretch(2, 1)

    def relevant(self, record_type: str) -> bool:
        return True

    def load(self) -> None:
        self._call(
            overview.patient_overview,
            self.ws.ctx,
            self.ws.principal,
            self.ws.patient_id,
            label="Loading overview",
            on_done=self._show,
        )

    def _show(self, o: overview.PatientOverview) -> None:
        for card, inst in ((self.phq, "phq9"), (self.gad, "gad7")):
            a = o.latest.get(inst)
            if a is None:
                card.set("—", "not administered yet")
            else:
                crit = "  ·  critical item answered" if a.critical else ""
                card.set(
                    f"{a.total:.0f}  {a.band.replace('_', ' ')}",
                    f"{a.administered_at:%Y-%m-%d}{crit}",
                )
        p = o.latest_prediction
        if p is None:
            self.risk.set("—", "no prediction stored")
        else:
            source = p.provenance
            self.risk.set(
                f"{p.probability:.0%}  {p.band}",
                f"interval {p.interval_low:.0%}–{p.interval_high:.0%} · {source}",
            )
        self.alerts.set(str(o.open_alerts), "see the Alerts tab" if o.open_alerts else "none open")
        meds = ", ".join(f"{m.name} {m.dose:g} {m.unit} {m.frequency}" for m in o.medications)
        self.treatment.set(o.treatment_option or "—", meds or "no active medication")
        self.data.set(
            f"{o.assessments_count}", f"assessments · {o.actigraphy_series} actigraphy series"
        )

    def clear(self) -> None:
        super().clear()
        for card in (self.phq, self.gad, self.risk, self.alerts, self.treatment, self.data):
            card.set("—", "")


class TwinTab(Tab):
    """The 3D digital twin (ui.twin.TwinView), built on first use so VTK never slows start-up."""

    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.view: Any = None

    def _ensure_view(self) -> Any:
        if self.view is not None and self.view.principal != self.ws.principal:
            self.view.shutdown()
            self.view.deleteLater()
            self.view = None
        if self.view is None:
            from ui.twin import TwinView

            tasks = self.ws.tasks

            def run_task(
                fn: Callable[..., Any],
                *args: Any,
                label: str,
                on_done: Callable,
                on_error: Callable | None = None,
            ) -> None:
                tasks.call(fn, *args, label=label, on_done=on_done, on_error=on_error)

            self.view = TwinView(self.ws.ctx, self.ws.principal, run_task=run_task)
            self.lay.addWidget(self.view)
            self.view.show()  # a child added to an already visible tab starts hidden
        return self.view

    def relevant(self, record_type: str) -> bool:
        return record_type in ("twin", "prediction", "assessment", "actigraphy")

    def load(self) -> None:
        if self.ws.principal is None or self.ws.patient_id is None:
            return
        self._ensure_view().set_patient(self.ws.patient_id)
        self.loaded_for = self.ws.patient_id

    def clear(self) -> None:
        super().clear()
        if self.view is not None:
            self.view.clear()

    def shutdown(self) -> None:
        """Release the 3D scene and its charts (window closing)."""
        if self.view is not None:
            self.view.shutdown()
            self.view.deleteLater()
            self.view = None


class PerPatient(QWidget):
    """Holds a widget that is built for one patient and rebuilt when the patient changes."""

    def __init__(self, build: Callable[[str], QWidget], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.build = build
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.widget: QWidget | None = None
        self.patient_id: str | None = None

    def set_patient(self, patient_id: str | None) -> None:
        if patient_id == self.patient_id and self.widget is not None:
            if hasattr(self.widget, "load"):
                self.widget.load()
            return
        self.clear()
        self.patient_id = patient_id
        if patient_id:
            self.widget = self.build(patient_id)
            self.lay.addWidget(self.widget)
            self.widget.show()

    def clear(self) -> None:
        if self.widget is not None:
            self.widget.close()
            self.widget.deleteLater()
            self.widget = None
        self.patient_id = None


class AssessmentsTab(Tab):
    """History table, trend charts with severity bands, and administering an instrument."""

    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        self.table = table_widget(
            ("Date", "Instrument", "Total", "Severity band", "Critical item", "Mode"),
            "Assessments",
        )
        self.sub = QTabWidget()
        self.sub.setAccessibleName("Assessment views")
        self.trends = PerPatient(self._build_trends)
        self.administer = PerPatient(self._build_administer)
        self.sub.addTab(self.table, "&History")
        self.sub.addTab(self.trends, "T&rends")
        self.sub.addTab(self.administer, "Ad&minister")
        lay.addWidget(self.sub)

    def _build_trends(self, pid: str) -> QWidget:
        from ui.assessments.trend import TrendChart

        return TrendChart(self.ws.ctx, self.ws.principal, pid, run_task=self.ws.tasks.call)

    def _build_administer(self, pid: str) -> QWidget:
        from ui.assessments.administer import AdministerWidget

        return AdministerWidget(self.ws.ctx, self.ws.principal, pid, run_task=self.ws.tasks.call)

    def relevant(self, record_type: str) -> bool:
        return record_type == "assessment"

    def load(self) -> None:
        self._call(
            overview.list_assessments,
            self.ws.ctx,
            self.ws.principal,
            self.ws.patient_id,
            label="Loading assessments",
            on_done=self._show,
        )
        self.trends.set_patient(self.ws.patient_id)
        if self.administer.patient_id != self.ws.patient_id:
            self.administer.set_patient(self.ws.patient_id)

    def _show(self, rows: list[AssessmentRow]) -> None:
        fill_table(
            self.table,
            [
                (
                    f"{a.administered_at:%Y-%m-%d}",
                    a.instrument,
                    "" if a.total is None else f"{a.total:g}",
                    a.band.replace("_", " "),
                    "yes" if a.critical else "",
                    a.mode,
                )
                for a in rows
            ],
        )

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)
        self.trends.clear()
        self.administer.clear()


class NotesTab(Tab):
    """Signed notes (read-only) and drafts; the editor autosaves into the encrypted store."""

    AUTOSAVE_MS = 1500

    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
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

    def relevant(self, record_type: str) -> bool:
        return record_type == "note"

    # -- loading -------------------------------------------------------------------------
    def load(self) -> None:
        ctx, who, pid = self.ws.ctx, self.ws.principal, self.ws.patient_id

        def fetch() -> tuple[list[NoteRecord], list[dict[str, Any]]]:
            own = [d for d in drafts.load_drafts(ctx, who, kind="note") if d["patient_id"] == pid]
            return notes.list_notes(ctx, who, pid), own

        self._call(fetch, label="Loading notes", on_done=self._show)

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
            self._select_id(current)

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

    def _select_id(self, note_id: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == note_id:
                self.list.setCurrentRow(i)
                return

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
            f"Signed {_when(n.signed_at)} · read-only" if signed else "Draft (not signed)"
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
        return self._editing or f"new:{self.ws.patient_id}"

    def save_autodraft(self) -> None:
        """Keep the editor's content as an encrypted draft (autosave, lock, sign-out)."""
        self._autosave.stop()
        if not self._dirty or self.ws.patient_id is None:
            return
        ctx, who, pid = self.ws.ctx, self.ws.principal, self.ws.patient_id
        content = {"title": self.title.text(), "body": self.body.toPlainText()}
        ref = self._ref()
        self.ws.tasks.call(
            drafts.save_draft,
            ctx,
            who,
            kind="note",
            ref=ref,
            content=content,
            patient_id=pid,
            label="Saving draft",
            on_done=lambda _r: (
                self.state.setText("Draft kept (encrypted)") if self.ws.patient_id == pid else None
            ),
        )

    def save_note(self, then: Callable[[NoteRecord], None] | None = None) -> None:
        """Write the editor into a draft note record (create or update)."""
        ctx, who, pid = self.ws.ctx, self.ws.principal, self.ws.patient_id
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

        self.ws.tasks.call(do, label="Saving note", on_done=done, on_error=self.ws.show_error)

    def sign_note(self) -> None:
        ctx, who = self.ws.ctx, self.ws.principal

        def sign(rec: NoteRecord) -> None:
            self.ws.tasks.call(
                notes.sign,
                ctx,
                who,
                rec.id,
                label="Signing note",
                on_done=lambda r: self.state.setText(f"Signed {_when(r.signed_at)}"),
                on_error=self.ws.show_error,
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


class PanelTab(Tab):
    """A tab whose content is one of the feature panels (ui.panels), built on first use.

    The panel is rebuilt when another user signs in (it holds the principal), gets the
    patient on load and drops its PHI on clear, like every tab.
    """

    def __init__(
        self, ws: PatientWorkspace, factory: Callable[..., Any], record_types: tuple[str, ...]
    ) -> None:
        super().__init__(ws)
        self.factory = factory
        self.record_types = record_types
        self.lay = QVBoxLayout(self)
        self.lay.setContentsMargins(0, 0, 0, 0)
        self.panel: Any = None

    def _ensure_panel(self) -> Any:
        if self.panel is not None and self.panel.principal != self.ws.principal:
            self.shutdown()
        if self.panel is None:
            self.panel = self.factory(
                self.ws.ctx, self.ws.principal, None, run_task=self.ws.tasks.call
            )
            self.lay.addWidget(self.panel)
            self.panel.show()  # a child added to an already visible tab starts hidden
        return self.panel

    def relevant(self, record_type: str) -> bool:
        return record_type in self.record_types

    def load(self) -> None:
        if self.ws.principal is None or self.ws.patient_id is None:
            return
        panel = self._ensure_panel()
        if getattr(panel, "patient_id", None) == self.ws.patient_id:
            panel.load()
        else:
            panel.set_patient(self.ws.patient_id)
        self.loaded_for = self.ws.patient_id

    def clear(self) -> None:
        super().clear()
        if self.panel is not None:
            self.panel.clear()

    def shutdown(self) -> None:
        """Release the panel (sign-in of another user, window closing)."""
        if self.panel is not None:
            if hasattr(self.panel, "shutdown"):
                self.panel.shutdown()
            self.panel.deleteLater()
            self.panel = None


def _actigraphy_panel(*args: Any, **kwargs: Any) -> Any:
    from ui.panels.actigraphy import ActigraphyPanel

    return ActigraphyPanel(*args, **kwargs)


def _predictions_panel(*args: Any, **kwargs: Any) -> Any:
    from ui.panels.predictions import PredictionsPanel

    return PredictionsPanel(*args, **kwargs)


def _analysis_panel(*args: Any, **kwargs: Any) -> Any:
    from ui.panels.notes_analysis import NotesAnalysisPanel

    return NotesAnalysisPanel(*args, **kwargs)


class AlertsTab(Tab):
    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        self.table = table_widget(
            ("Triggered", "Severity", "Rule", "Status", "Resolution"), "Alerts"
        )
        row = QHBoxLayout()
        self.ack = QPushButton("&Acknowledge")
        self.resolve = QPushButton("&Resolve")
        self.dismiss = QPushButton("&Dismiss…")
        for b in (self.ack, self.resolve, self.dismiss):
            b.setAccessibleName(b.text().replace("&", "").rstrip("…") + " alert")
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        lay.addWidget(self.table, 1)
        self.ack.clicked.connect(lambda: self.act("acknowledged"))
        self.resolve.clicked.connect(lambda: self.act("resolved"))
        self.dismiss.clicked.connect(lambda: self.act("dismissed"))

    def relevant(self, record_type: str) -> bool:
        return record_type == "alert"

    def load(self) -> None:
        self._call(
            overview.list_patient_alerts,
            self.ws.ctx,
            self.ws.principal,
            self.ws.patient_id,
            label="Loading alerts",
            on_done=self._show,
        )

    def _show(self, rows: list[Any]) -> None:
        fill_table(
            self.table,
            [(_when(a.triggered_at), a.severity, a.rule, a.status, a.resolution) for a in rows],
            keys=[a.id for a in rows],
        )

    def selected_alert(self) -> str | None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def act(self, status: str, reason: str | None = None) -> None:
        alert_id = self.selected_alert()
        if alert_id is None:
            return
        if status == "dismissed" and reason is None:
            reason, ok = QInputDialog.getText(self, "Dismiss alert", "Why is it dismissed?")
            if not ok:
                return
        self.ws.tasks.call(
            alerts.transition,
            self.ws.ctx,
            self.ws.principal,
            alert_id,
            status,
            reason or "",
            label="Updating alert",
            on_done=lambda _r: None,
            on_error=self.ws.show_error,
        )

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)


class AuditTab(Tab):
    def __init__(self, ws: PatientWorkspace) -> None:
        super().__init__(ws)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        self.table = table_widget(("#", "When", "Actor", "Role", "Action", "Record"), "Audit trail")
        lay.addWidget(self.table)
        # a supervisor ends emergency (break-glass) access early; shown only while a grant runs
        self.grant_ids: list[str] = []
        self.revoke_button = QPushButton("Revoke emergency access")
        self.revoke_button.setAccessibleName("Revoke emergency access to this patient")
        self.revoke_button.clicked.connect(self.revoke_grants)
        self.revoke_button.hide()
        lay.addWidget(self.revoke_button)

    def relevant(self, record_type: str) -> bool:
        return True

    def load(self) -> None:
        ctx, who, pid = self.ws.ctx, self.ws.principal, self.ws.patient_id
        self._call(
            overview.patient_audit, ctx, who, pid, label="Loading audit trail", on_done=self._show
        )
        if may(who, Feature.REVOKE_BREAK_GLASS):
            self._call(
                patients.active_break_glass,
                ctx,
                who,
                pid,
                label="Checking emergency access",
                on_done=self._show_grants,
            )

    def _show(self, rows: list[Any]) -> None:
        fill_table(
            self.table,
            [
                (str(e.seq), _when(e.at), e.actor_id[:8], e.actor_role, e.action, e.record_type)
                for e in rows
            ],
        )

    def _show_grants(self, ids: list[str]) -> None:
        self.grant_ids = ids
        self.revoke_button.setText(f"Revoke emergency access ({len(ids)})")
        self.revoke_button.setVisible(bool(ids))

    def revoke_grants(self) -> None:
        """Revoke every running grant on this patient (the service checks and audits)."""
        for gid in self.grant_ids:
            self._call(
                patients.revoke_break_glass,
                self.ws.ctx,
                self.ws.principal,
                gid,
                label="Revoking emergency access",
                on_done=lambda _r: self.load(),
            )
        self.grant_ids = []
        self.revoke_button.hide()

    def clear(self) -> None:
        super().clear()
        self.table.setRowCount(0)
        self._show_grants([])


class PatientWorkspace(QWidget):
    """Header plus tabs for one open patient; empty page when none is open."""

    error = Signal(str)

    def __init__(self, ctx: Any, tasks: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx, self.tasks = ctx, tasks
        self.principal: Principal | None = None
        self.patient_id: str | None = None
        self.stack = QStackedWidget()
        self.empty = EmptyState(
            "No patient open",
            "Choose a patient from the list (double-click or Enter) to open their record.",
        )
        page = QWidget()
        pl = QVBoxLayout(page)
        pl.setContentsMargins(12, 10, 12, 12)
        head = QHBoxLayout()
        self.name = label("", "h1")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.badge = synthetic_badge()
        self.facts = label("", "muted")
        head.addWidget(self.name)
        head.addSpacing(8)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(self.facts)
        pl.addLayout(head)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Patient record")
        self.tabs.setDocumentMode(False)
        pl.addWidget(self.tabs, 1)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(page)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        self.overview = OverviewTab(self)
        self.twin = TwinTab(self)
        self.assessments = AssessmentsTab(self)
        self.notes = NotesTab(self)
        self.analysis = PanelTab(self, _analysis_panel, ("note", "nlp"))
        self.actigraphy = PanelTab(self, _actigraphy_panel, ("actigraphy",))
        self.predictions = PanelTab(self, _predictions_panel, ("prediction",))
        self.alerts = AlertsTab(self)
        self.audit = AuditTab(self)
        self._all: list[tuple[str, Tab]] = [
            ("&Overview", self.overview),
            ("&Twin", self.twin),
            ("A&ssessments", self.assessments),
            ("&Notes", self.notes),
            ("Note anal&ysis", self.analysis),
            ("Acti&graphy", self.actigraphy),
            ("&Predictions", self.predictions),
            ("A&lerts", self.alerts),
            ("A&udit", self.audit),
        ]
        self.tabs.currentChanged.connect(self._tab_changed)

    def set_principal(self, principal: Principal | None) -> None:
        """Build the tab set the service layer allows (Audit only where the audit may be read)."""
        self.principal = principal
        self.tabs.blockSignals(True)
        while self.tabs.count():
            self.tabs.removeTab(0)
        for text, tab in self._all:
            if tab is self.audit and not may(principal, Feature.PATIENT_AUDIT):
                tab.setParent(self)
                tab.hide()
                continue
            self.tabs.addTab(tab, text)
        self.tabs.blockSignals(False)

    def tab_titles(self) -> list[str]:
        return [self.tabs.tabText(i).replace("&", "") for i in range(self.tabs.count())]

    def open(self, summary: PatientSummary) -> None:
        if self.patient_id and self.patient_id != summary.id:
            self.notes.save_autodraft()
        self.close_patient(save=False)
        self.patient_id = summary.id
        self.show_summary(summary)
        self.stack.setCurrentIndex(1)
        self.tabs.setCurrentIndex(0)
        self._tab_changed(self.tabs.currentIndex())

    def show_summary(self, s: PatientSummary) -> None:
        self.name.setText(s.display_name.replace(" [synthetic]", ""))
        self.badge.setVisible(s.is_synthetic)
        self.facts.setText(
            f"MRN {s.mrn}  ·  born {s.birth_date:%Y-%m-%d} ({age(s.birth_date)} y)  ·  {s.sex}"
            + ("" if s.assigned else "  ·  not on your care team")
        )

    def close_patient(self, *, save: bool = True) -> None:
        """Keep unsaved work as a draft, then drop every widget's PHI."""
        if save:
            self.notes.save_autodraft()
        self.patient_id = None
        for _, tab in self._all:
            tab.clear()
        self.name.setText("")
        self.facts.setText("")
        self.stack.setCurrentIndex(0)

    def current_tab(self) -> Tab | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, Tab) else None

    def _tab_changed(self, _index: int) -> None:
        tab = self.current_tab()
        if tab is not None and self.patient_id and tab.loaded_for != self.patient_id:
            tab.load()

    def on_data_updated(self, patient_id: str, record_type: str) -> None:
        """Reload only the visible tab that shows this record type; mark others stale."""
        if patient_id != self.patient_id:
            return
        for _, tab in self._all:
            if tab.relevant(record_type):
                tab.loaded_for = None
        tab = self.current_tab()
        if tab is not None and tab.loaded_for is None:
            if tab is self.notes and self.notes._dirty:
                return  # never overwrite what the user is typing
            tab.load()

    def show_error(self, exc: BaseException) -> None:
        self.error.emit(user_message(exc))
