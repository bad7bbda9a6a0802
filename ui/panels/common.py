"""Shared pieces of the panels: small widgets and colours.

Every panel is a ui.workspace.PatientPanel (or Panel): it takes the shell's TaskManager as
``tasks`` and makes its own when used alone (tests, screenshots). The looks of the widgets made
here live in the theme (resources/ui/theme.qss, section "workspace and panels"), selected by
object name and dynamic properties.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui import widgets
from ui.tasks import user_message  # noqa: F401 — re-exported for the panels
from ui.widgets import fill_table as fill  # noqa: F401 — re-exported for the panels
from ui.widgets import table_widget as table  # noqa: F401 — re-exported for the panels

log = logging.getLogger(__name__)

BAND_COLOURS = {
    "very low": "#2e7d32",
    "low": "#6a9f3a",
    "moderate": "#c98a00",
    "high": "#d35400",
    "very high": "#b71c1c",
}
RAISES = "#c0392b"  # contribution that raises the probability
LOWERS = "#1f6fb2"  # contribution that lowers it


def label(text: str = "", name: str = "", *, wrap: bool = False) -> QLabel:
    """A selectable QLabel with an object name for the style sheet (h2, muted, notice ...)."""
    return widgets.label(text, name, wrap=wrap, selectable=True)


def muted(text: str) -> QLabel:
    """A wrapped, muted explanation under a chart or table."""
    return label(text, "muted", wrap=True)


def notice(text: str, accessible: str, kind: str = "notice") -> QLabel:
    """A framed, always-visible honesty label (synthetic model, research data, suicide risk);
    ``kind`` is notice, info or danger."""
    w = label(text, kind, wrap=True)
    w.setAccessibleName(accessible)
    w.setProperty("notice", kind)
    return w


def section(title: str) -> QLabel:
    """A section heading inside a panel."""
    w = label(title, "h2")
    w.setProperty("section", "true")
    return w


def heading(title: str, info_name: str) -> tuple[QHBoxLayout, QLabel]:
    """A panel's top row: its section title, then a muted info label on the right (named
    ``info_name`` for screen readers); callers may add buttons after it."""
    row = QHBoxLayout()
    row.addWidget(section(title))
    row.addStretch(1)
    info = label("", "muted")
    info.setAccessibleName(info_name)
    row.addWidget(info)
    return row, info


def value_label(text: str, size: str = "medium") -> QLabel:
    """A card's big number; ``size`` is medium (15 pt) or large (20 pt)."""
    w = label(text, "cardValue")
    w.setProperty("scale", size)
    return w


def band_chip(band: str) -> QLabel:
    """A coloured pill with a risk band (colours in the theme, one rule per band)."""
    w = QLabel(band)
    w.setObjectName("bandChip")
    w.setAccessibleName(f"risk band {band}")
    w.setProperty("band", band.replace(" ", "_"))
    return w


def set_error(w: QLabel, text: str) -> None:
    """Show an error message in a status label (styled by the theme's ``#error`` rule)."""
    w.setText(text)
    w.setObjectName("error")
    w.style().unpolish(w)
    w.style().polish(w)


def scroll_body(panel: QWidget) -> QVBoxLayout:
    """Fill a panel with a frameless vertical scroll area; returns the layout of its content."""
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    outer.addWidget(scroll)
    inner = QWidget()
    scroll.setWidget(inner)
    lay = QVBoxLayout(inner)
    lay.setContentsMargins(16, 12, 16, 16)
    lay.setSpacing(10)
    return lay


class Frame(QFrame):
    """A card-like frame (object name ``card`` so the shell's theme styles it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(14, 12, 14, 12)
        self.body.setSpacing(6)


def emphasise(
    item: QTableWidgetItem | None, colour: str, *, bold: bool = False, italic: bool = False
) -> None:
    """Colour a table cell's text and make it bold or italic (a missing cell is skipped)."""
    if item is None:
        return
    item.setForeground(QColor(colour))
    font = item.font()
    font.setBold(bold)
    font.setItalic(italic)
    item.setFont(font)


def is_dark(widget: QWidget) -> bool:
    """Whether the widget's palette is dark (charts pick their colours from it)."""
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def chart_colours(widget: QWidget) -> tuple[QColor, QColor]:
    """(background, foreground) for pyqtgraph from the current palette."""
    pal = widget.palette()
    return pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
