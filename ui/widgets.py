"""Small shared widgets: cards, empty states, the synthetic-data badge, primary buttons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def label(
    text: str = "",
    name: str = "",
    *,
    wrap: bool = False,
    selectable: bool = False,
    plain: bool = False,
) -> QLabel:
    """A QLabel with an object name for the style sheet (h1, h2, muted, error ...).

    ``selectable`` lets clinicians copy the text; ``plain`` never interprets it as rich text
    (instrument wording and anything typed by a person).
    """
    w = QLabel(text)
    if name:
        w.setObjectName(name)
    w.setWordWrap(wrap)
    if plain:
        w.setTextFormat(Qt.TextFormat.PlainText)
    if selectable:
        w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return w


def primary_button(text: str, accessible: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setProperty("primary", "true")
    b.setAccessibleName(accessible or text.replace("&", ""))
    b.setDefault(True)
    return b


def synthetic_badge() -> QLabel:
    """The visible mark on every synthetic (demo) person."""
    b = label("SYNTHETIC — demo data", "synthetic")
    b.setAccessibleName("synthetic demo record")
    b.setToolTip("A fictional person from the demo clinic. Not a real patient.")
    return b


class Card(QFrame):
    """A titled panel with a big value and a detail line (overview tiles)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 12, 14, 12)
        lay.setSpacing(4)
        self.title = label(title.upper(), "cardTitle")
        self.value = label("—", "cardValue")
        self.detail = label("", "muted", wrap=True)
        for w in (self.title, self.value, self.detail):
            lay.addWidget(w)
        lay.addStretch(1)
        self.setAccessibleName(title)

    def set(self, value: str, detail: str = "") -> None:
        self.value.setText(value)
        self.detail.setText(detail)


class EmptyState(QWidget):
    """An honest 'nothing here yet' page with a title and an explanation."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        self.title = label(title, "h2")
        self.text = label(text, "muted", wrap=True)
        for w in (self.title, self.text):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lay.addWidget(w)
        lay.setContentsMargins(40, 20, 40, 20)
        lay.addStretch(2)
        self.setAccessibleName(title)


def table_widget(headers: Sequence[str], accessible: str) -> QTableWidget:
    """Read-only, row-selecting table in the shell's style (shared by tabs and panels)."""
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(list(headers))
    t.setAccessibleName(accessible)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    t.setAlternatingRowColors(True)
    t.setShowGrid(False)
    t.verticalHeader().hide()
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def fill_table(
    t: QTableWidget, rows: Sequence[Sequence[str]], keys: Sequence[Any] | None = None
) -> None:
    """Replace a table's rows; column 0 carries ``keys[r]`` as user data."""
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if keys is not None and c == 0:
                item.setData(Qt.ItemDataRole.UserRole, keys[r])
            t.setItem(r, c, item)
