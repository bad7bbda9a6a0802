"""Dialogs: break-glass reason, About (versions and model provenance), and a modeless frame."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Sequence
from importlib import metadata, resources
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app import __version__
from app.core.config import Settings
from app.core.domain import Principal
from app.services.context import AppContext
from ui.tasks import TaskManager
from ui.widgets import label

MIN_REASON = 10


class ServiceDialog(QDialog):
    """A titled dialog that runs service calls for one user: ``ctx``, ``principal`` and the
    ``tasks`` it runs them on (the shell's, or its own when opened alone).

    A subclass names its ``title`` and lays itself out in ``build``.
    """

    title = ""

    def __init__(
        self,
        ctx: AppContext,
        principal: Principal,
        tasks: TaskManager | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx, self.principal = ctx, principal
        self.tasks = tasks or TaskManager(None, parent=self)
        self.setWindowTitle(self.title)
        self.setAccessibleName(self.title)
        self.build()

    def build(self) -> None:
        """Lay out the dialog's widgets (called once, from the constructor)."""

    def _records_table(
        self, lay: QVBoxLayout, intro: str, headers: Sequence[str], accessible: str
    ) -> QTableWidget:
        """An explanation above a row-selecting table of records (backups, conflicts)."""
        lay.addWidget(QLabel(intro))
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(list(headers))
        table.setAccessibleName(accessible)
        table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        lay.addWidget(table, 1)
        return table

    def _actions(self, lay: QVBoxLayout, buttons: Sequence[QPushButton]) -> None:
        """The dialog's action buttons in a row, then Close."""
        row = QHBoxLayout()
        for b in buttons:
            b.setAccessibleName(b.text().replace("&", "").rstrip("…"))
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay.addWidget(close)


def framed(parent: QWidget, title: str, widget: QWidget, size: tuple[int, int]) -> QDialog:
    """A titled dialog holding one feature widget (caseload, alert inbox)."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    dialog.setAccessibleName(title)
    QVBoxLayout(dialog).addWidget(widget)
    dialog.resize(*size)
    return dialog


def show_modeless(dialog: QDialog, then: Callable[[], object] | None = None) -> QDialog:
    """Show `dialog` beside the work; once it closes, run `then` and delete it."""

    def finished(_result: int) -> None:
        if then is not None:
            then()
        dialog.deleteLater()

    dialog.finished.connect(finished)
    dialog.setModal(False)
    dialog.show()
    return dialog


class BreakGlassDialog(QDialog):
    """Ask why an unassigned patient must be opened (the reason is audited)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Emergency access (break-glass)")
        self.setModal(True)
        lay = QVBoxLayout(self)
        lay.addWidget(
            label(
                "You are not on this patient's care team. Emergency access is recorded in "
                "the audit log with your reason, lasts 4 hours, and your supervisor is alerted.",
                wrap=True,
            )
        )
        self.reason = QPlainTextEdit()
        self.reason.setPlaceholderText(f"Reason (at least {MIN_REASON} characters)")
        self.reason.setAccessibleName("Reason for emergency access")
        self.reason.setFixedHeight(90)
        lay.addWidget(self.reason)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Open with emergency access")
        ok.setEnabled(False)
        self.reason.textChanged.connect(
            lambda: ok.setEnabled(len(self.reason.toPlainText().strip()) >= MIN_REASON)
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.resize(460, 240)

    def text(self) -> str:
        return self.reason.toPlainText().strip()


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance_html(settings: Settings) -> str:
    """Versions, instruments, XGBoost model cards (with their labels) and LLM model status."""
    rows = [
        f"<h2>Novamind {__version__}</h2>",
        f"<p>Python {platform.python_version()} · PySide6 {pyside_version} · "
        f"SQLCipher driver {_dist_version('sqlcipher3')} · XGBoost {_dist_version('xgboost')} · "
        f"VTK {_dist_version('vtk')}</p>",
        "<h3>Instruments</h3><ul>",
    ]
    inst_dir = resources.files("resources") / "instruments"
    for f in sorted(inst_dir.iterdir(), key=lambda p: p.name):
        if f.name.endswith(".json"):
            d = json.loads(f.read_text(encoding="utf-8"))
            rows.append(f"<li>{d.get('name', f.name)} (v{d.get('version', '?')})</li>")
    rows.append("</ul><h3>Prediction models (XGBoost)</h3><ul>")
    models_dir = resources.files("resources") / "models"
    for m in sorted(models_dir.iterdir(), key=lambda p: p.name):
        state = m / "state.json"
        if not state.is_file():
            continue
        active = json.loads(state.read_text(encoding="utf-8")).get("active")
        card_file = m / str(active) / "card.json"
        if not card_file.is_file():
            rows.append(f"<li>{m.name}: no active version</li>")
            continue
        card = json.loads(card_file.read_text(encoding="utf-8"))
        labels = "; ".join(card.get("labels", []))
        training = card.get("training_data", {}).get("kind", "unknown")
        rows.append(
            f"<li><b>{card.get('title', m.name)}</b> — {card['name']} v{card['version']}, "
            f"training data: {training}" + (f" — <i>{labels}</i>" if labels else "") + "</li>"
        )
    rows.append("</ul><h3>Language model (MentalLLaMA, GGUF)</h3><ul>")
    for d in settings.model_dirs:
        path = Path(d)
        ggufs = sorted(p.name for p in path.glob("*.gguf")) if path.is_dir() else []
        status = ", ".join(ggufs) if ggufs else ("no .gguf files" if path.is_dir() else "missing")
        rows.append(f"<li>{path}: {status}</li>")
    rows.append(
        "</ul><p>Models trained on synthetic or research data say so wherever their output is "
        "shown. No model estimates suicide risk.</p>"
    )
    return "\n".join(rows)


class AboutDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Novamind")
        lay = QVBoxLayout(self)
        self.text = QTextBrowser()
        self.text.setAccessibleName("About Novamind")
        self.text.setHtml(provenance_html(settings))
        lay.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(640, 560)
