"""Shared pieces of the panels: a default background runner, small widgets and colours.

Every panel takes ``run_task(fn, *args, label=..., on_done=..., on_error=...)`` which runs
``fn(*args)`` off the GUI thread and calls ``on_done(result)`` / ``on_error(exc)`` on the GUI
thread. In the shell pass ``workspace.tasks.call``; standalone (tests, screenshots) the panels
use :class:`TaskRunner`, a one-thread QThreadPool (service calls run one at a time, like the
shell's) with results delivered by queued signals.
"""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ui import widgets
from ui.runner import RunTask, TaskRunner  # noqa: F401 — re-exported for the panels
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


def notice(text: str, accessible: str, kind: str = "notice") -> QLabel:
    """A framed, always-visible honesty label (synthetic model, research data, suicide risk)."""
    w = label(text, kind, wrap=True)
    w.setAccessibleName(accessible)
    w.setStyleSheet(_NOTICE_STYLES[kind])
    return w


_NOTICE_STYLES = {
    "notice": "QLabel { background: #fff4d6; color: #4a3800; border: 1px solid #e8c65a;"
    " border-radius: 6px; padding: 6px 10px; }",
    "info": "QLabel { background: #e8f1fa; color: #123a5e; border: 1px solid #a9c8e8;"
    " border-radius: 6px; padding: 6px 10px; }",
    "danger": "QLabel { background: #fdecea; color: #7a1c12; border: 1px solid #e8a39b;"
    " border-radius: 6px; padding: 6px 10px; }",
}


def section(title: str) -> QLabel:
    w = label(title, "h2")
    w.setStyleSheet("QLabel { font-size: 12pt; font-weight: 600; margin-top: 4px; }")
    return w


def band_chip(band: str) -> QLabel:
    w = QLabel(band)
    w.setAccessibleName(f"risk band {band}")
    colour = BAND_COLOURS.get(band, "#5b6675")
    w.setStyleSheet(
        f"QLabel {{ background: {colour}; color: white; border-radius: 9px;"
        " padding: 2px 10px; font-weight: 600; }"
    )
    w.setSizePolicy(w.sizePolicy().horizontalPolicy(), w.sizePolicy().verticalPolicy())
    return w


class Frame(QFrame):
    """A card-like frame (object name ``card`` so the shell's theme styles it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(14, 12, 14, 12)
        self.body.setSpacing(6)


def is_dark(widget: QWidget) -> bool:
    """Whether the widget's palette is dark (charts pick their colours from it)."""
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def chart_colours(widget: QWidget) -> tuple[QColor, QColor]:
    """(background, foreground) for pyqtgraph from the current palette."""
    pal = widget.palette()
    return pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
