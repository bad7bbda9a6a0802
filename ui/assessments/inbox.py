"""The alert inbox: open alerts, most urgent first, with acknowledge / resolve / dismiss.

Sorted by severity, then by the time by which someone must act (critical: within 1 hour of the
evidence, warning: within 24 hours). Every action asks for a reason in a dialog and goes through
app.services.alerts.transition, which checks the role and care team and audits who and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.domain import AlertRecord, Principal
from app.core.errors import NovamindError
from app.core.events import AlertTriggered, PatientDataUpdated
from app.services import alerts, patients
from app.services.context import AppContext
from app.services.instrument_catalog import rule_names
from ui.bus import EventBridge, concerns
from ui.tasks import TaskManager

RESPONSE_WINDOW = {"critical": timedelta(hours=1), "warning": timedelta(hours=24)}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
SEVERITY_COLOUR = {"critical": "#c0392b", "warning": "#d9822b", "info": "#5b6675"}
MIN_REASON = {"acknowledged": 0, "resolved": 5, "dismissed": 5}
VERB = {"acknowledged": "Acknowledge", "resolved": "Resolve", "dismissed": "Dismiss"}


@dataclass(frozen=True)
class InboxRow:
    """An open alert as the inbox shows it."""

    alert: AlertRecord
    patient: str
    rule_name: str
    rule_text: str
    due: datetime | None


def due_at(a: AlertRecord) -> datetime | None:
    """Act-by time: triggered + the severity's response window (info has none)."""
    window = RESPONSE_WINDOW.get(a.severity)
    return a.triggered_at + window if window else None


def sort_key(row: InboxRow) -> tuple:
    """Severity first, then the earliest act-by time, then the oldest."""
    far = datetime.max.replace(tzinfo=UTC)
    return (SEVERITY_ORDER.get(row.alert.severity, 9), row.due or far, row.alert.triggered_at)


def due_text(due: datetime | None, now: datetime) -> str:
    """'act within 42 min' / 'overdue by 3 h' / 'no deadline'."""
    if due is None:
        return "no deadline"
    left = due - now
    mins = int(abs(left).total_seconds() // 60)
    if mins < 90:
        span = f"{mins} min"
    elif mins < 48 * 60:
        span = f"{mins // 60} h"
    else:
        span = f"{mins // 1440} d"
    return f"act within {span}" if left.total_seconds() >= 0 else f"overdue by {span}"


class ReasonDialog(QDialog):
    """Asks why an alert is acknowledged, resolved or dismissed (the reason is audited)."""

    def __init__(self, status: str, summary: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self.setWindowTitle(f"{VERB[status]} alert")
        self.setModal(True)
        lay = QVBoxLayout(self)
        head = QLabel(summary)
        head.setWordWrap(True)
        head.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(head)
        need = MIN_REASON[status]
        prompt = {
            "acknowledged": "Note (optional): what are you doing about it?",
            "resolved": "How was it resolved? (required)",
            "dismissed": "Why is it dismissed? (required)",
        }[status]
        lab = QLabel(prompt)
        self.reason = QPlainTextEdit()
        self.reason.setAccessibleName("Reason")
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(90)
        lab.setBuddy(self.reason)
        lay.addWidget(lab)
        lay.addWidget(self.reason)
        self.hint = QLabel(f"At least {need} characters." if need else "")
        self.hint.setObjectName("instrumentInfo")
        lay.addWidget(self.hint)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText(VERB[status])
        self.ok.setAccessibleName(f"{VERB[status]} alert")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.reason.textChanged.connect(self._check)
        self.reason.installEventFilter(self)  # Ctrl+Enter accepts from inside the text box
        self._check()
        self.resize(440, 260)

    def text(self) -> str:
        """The reason as typed (trimmed)."""
        return self.reason.toPlainText().strip()

    def _check(self) -> None:
        self.ok.setEnabled(len(self.text()) >= MIN_REASON[self.status])

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt override
        if (
            obj is self.reason
            and isinstance(event, QKeyEvent)
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            if self.ok.isEnabled():
                self.accept()
            return True
        return super().eventFilter(obj, event)


class AlertInbox(QWidget):
    """Open alerts for this user's patients (or one patient) with the actions on them.

    Mount: ``AlertInbox(ctx, principal, tasks=tasks)`` for the caseload inbox, or with
    ``patient_id=...`` for one patient's Alerts tab.
    """

    changed = Signal(int)  # number of open alerts after a reload

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
        *,
        patient_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal, self.patient_id = ctx, principal, patient_id
        self.tasks = tasks or TaskManager(None, parent=self)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.rows: list[InboxRow] = []
        self.dialog: ReasonDialog | None = None
        self.loading = False
        self.pending = 0
        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 12, 12, 12)
        lay.setSpacing(8)
        head = QHBoxLayout()
        self.summary = QLabel("Loading alerts…")
        self.summary.setObjectName("inboxSummary")
        self.summary.setAccessibleName("Alert summary")
        head.addWidget(self.summary, 1)
        self.ack_button = QPushButton("&Acknowledge…")
        self.resolve_button = QPushButton("&Resolve…")
        self.dismiss_button = QPushButton("&Dismiss…")
        for b, status in (
            (self.ack_button, "acknowledged"),
            (self.resolve_button, "resolved"),
            (self.dismiss_button, "dismissed"),
        ):
            b.setAccessibleName(f"{VERB[status]} selected alert")
            b.clicked.connect(lambda _=False, s=status: self.act(s))
            head.addWidget(b)
        lay.addLayout(head)
        cols = ("Severity", "Patient", "Alert", "Triggered", "Act by", "Status")
        self.table = QTableWidget(0, len(cols))
        self.table.setHorizontalHeaderLabels(list(cols))
        self.table.setAccessibleName("Open alerts")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection)
        lay.addWidget(self.table, 1)
        self.detail = QLabel("")
        self.detail.setObjectName("instrumentInfo")
        self.detail.setWordWrap(True)
        self.detail.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.detail)
        self.message = QLabel("")
        self.message.setObjectName("formMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        lay.addWidget(self.message)
        self.bridge = EventBridge(ctx.bus, self, types=(AlertTriggered, PatientDataUpdated))
        self.bridge.any_event.connect(self._event)
        self.timer = QTimer(self)
        self.timer.setInterval(60_000)  # keep "act within" current
        self.timer.timeout.connect(self._render)
        self.timer.start()
        self._selection()
        self.load()

    # -- data ------------------------------------------------------------------------------
    def _event(self, e: object) -> None:
        if concerns(e, self.patient_id, "alert"):
            self.load()

    def load(self) -> None:
        """Fetch open alerts and patient names in the background."""
        self.loading = True
        self.pending += 1
        ctx, who, only = self.ctx, self.principal, self.patient_id

        def fetch() -> list[InboxRow]:
            open_alerts = alerts.list_open_alerts(ctx, who)
            if only:
                open_alerts = [a for a in open_alerts if a.patient_id == only]
            names = {p.id: p.display_name for p in patients.list_patients(ctx, who)}
            rules = rule_names()
            return [
                InboxRow(
                    a,
                    names.get(a.patient_id, "(not on your list)"),
                    rules.get(a.rule, (a.rule, ""))[0],
                    rules.get(a.rule, (a.rule, ""))[1],
                    due_at(a),
                )
                for a in open_alerts
            ]

        self.tasks.call(fetch, label="Loading alerts", on_done=self._loaded, on_error=self._error)

    def _loaded(self, rows: list[InboxRow]) -> None:
        self.pending -= 1
        self.loading = self.pending > 0
        self.rows = sorted(rows, key=sort_key)
        self._render()
        self.changed.emit(len(self.rows))

    def _error(self, exc: BaseException) -> None:
        self.pending -= 1
        self.loading = self.pending > 0
        self._show_error(exc)

    def _show_error(self, exc: BaseException) -> None:
        msg = exc.user_message() if isinstance(exc, NovamindError) else "The action failed."
        self.message.setText(msg)
        self.message.show()

    def _render(self) -> None:
        keep = self.selected_id()
        now = self.clock()
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            a = row.alert
            overdue = row.due is not None and row.due < now
            cells = (
                a.severity.upper(),
                row.patient,
                row.rule_name,
                a.triggered_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                due_text(row.due, now),
                a.status,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setData(Qt.ItemDataRole.UserRole, a.id)
                    item.setForeground(QBrush(QColor(SEVERITY_COLOUR.get(a.severity, "#5b6675"))))
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                if c == 4 and (overdue or a.severity == "critical"):
                    item.setForeground(QBrush(QColor(SEVERITY_COLOUR["critical"])))
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                item.setToolTip(row.rule_text)
                self.table.setItem(r, c, item)
        crit = sum(1 for x in self.rows if x.alert.severity == "critical")
        if not self.rows:
            self.summary.setText("No open alerts.")
        elif crit:
            self.summary.setText(
                f"{crit} critical alert{'s' if crit > 1 else ''} — act within 1 hour  ·  "
                f"{len(self.rows)} open"
            )
        else:
            self.summary.setText(f"{len(self.rows)} open alert{'s' if len(self.rows) > 1 else ''}")
        self.summary.setProperty("critical", "true" if crit else "false")
        self.summary.style().unpolish(self.summary)
        self.summary.style().polish(self.summary)
        if keep:
            self.select(keep)
        elif self.rows:
            self.table.selectRow(0)
        self._selection()

    # -- selection and actions ---------------------------------------------------------------
    def selected_id(self) -> str | None:
        """Id of the selected alert."""
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    def select(self, alert_id: str) -> bool:
        """Select an alert by id; False if it is not in the inbox."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == alert_id:
                self.table.selectRow(r)
                return True
        return False

    def _row(self, alert_id: str | None) -> InboxRow | None:
        return next((x for x in self.rows if x.alert.id == alert_id), None)

    def _selection(self) -> None:
        row = self._row(self.selected_id())
        status = row.alert.status if row else None
        self.ack_button.setEnabled(status == "new")
        self.resolve_button.setEnabled(status in ("new", "acknowledged"))
        self.dismiss_button.setEnabled(status in ("new", "acknowledged"))
        if row is None:
            self.detail.setText("")
        else:
            self.detail.setText(
                f"{row.rule_name}: {row.rule_text}. Severity {row.alert.severity}; "
                f"{due_text(row.due, self.clock())}."
                + (f" Note: {row.alert.resolution}" if row.alert.resolution else "")
            )

    def act(self, status: str) -> ReasonDialog | None:
        """Open the reason dialog for the selected alert (non-blocking; returns it)."""
        row = self._row(self.selected_id())
        if row is None or self.dialog is not None:
            return None
        summary = f"{row.alert.severity.upper()} · {row.patient} · {row.rule_name}"
        dlg = ReasonDialog(status, summary, self)
        self.dialog = dlg
        alert_id = row.alert.id
        dlg.finished.connect(lambda result: self._dialog_done(dlg, alert_id, status, result))
        dlg.open()
        return dlg

    def _dialog_done(self, dlg: ReasonDialog, alert_id: str, status: str, result: int) -> None:
        self.dialog = None
        reason = dlg.text()
        dlg.deleteLater()
        if result != QDialog.DialogCode.Accepted:
            return
        self.message.hide()
        self.pending += 1
        self.loading = True
        self.tasks.call(
            alerts.transition,
            self.ctx,
            self.principal,
            alert_id,
            status,
            reason,
            label=f"{VERB[status]} alert",
            on_done=lambda _rec: self._acted(),
            on_error=self._error,
        )

    def _acted(self) -> None:
        self.pending -= 1
        self.loading = self.pending > 0
        self.load()  # the PatientDataUpdated event also reloads; this covers other patients
