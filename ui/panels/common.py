"""Shared pieces of the panels: a default background runner, small widgets and colours.

Every panel takes ``run_task(fn, *args, label=..., on_done=..., on_error=...)`` which runs
``fn(*args)`` off the GUI thread and calls ``on_done(result)`` / ``on_error(exc)`` on the GUI
thread. In the shell pass ``workspace.tasks.call``; standalone (tests, screenshots) the panels
use :class:`TaskRunner`, a one-thread QThreadPool (service calls run one at a time, like the
shell's) with results delivered by queued signals.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.errors import NovamindError

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


class RunTask(Protocol):
    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,  # noqa: ANN401
        label: str,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> object: ...


def user_message(exc: BaseException) -> str:
    """What the user reads: the core's own message, never a traceback."""
    if isinstance(exc, NovamindError):
        return exc.user_message()
    return "Something went wrong. The details are in the log file."


class _Box:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class _Signals(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)


class _Job(QRunnable):
    def __init__(self, job_id: int, fn: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._id, self._fn, self._signals = job_id, fn, signals

    def run(self) -> None:
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 — every failure goes back to the GUI
            self._signals.failed.emit(self._id, _Box(exc))
            return
        self._signals.done.emit(self._id, _Box(result))


class TaskRunner(QObject):
    """Default ``run_task``: one background thread, results on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._ids = itertools.count(1)
        self._handlers: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._signals = _Signals(self)
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,  # noqa: ANN401
        label: str = "",
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> int:
        job_id = next(self._ids)
        self._handlers[job_id] = (on_done, on_error)
        self._pool.start(_Job(job_id, lambda: fn(*args), self._signals))
        return job_id

    def wait(self, msecs: int = 10000) -> bool:
        """Block until background work ends (shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    @Slot(int, object)
    def _done(self, job_id: int, box: object) -> None:
        on_done, _ = self._handlers.pop(job_id, (None, None))
        if on_done is not None:
            on_done(box.value)  # type: ignore[attr-defined]

    @Slot(int, object)
    def _failed(self, job_id: int, box: object) -> None:
        _, on_error = self._handlers.pop(job_id, (None, None))
        exc = box.value  # type: ignore[attr-defined]
        if not isinstance(exc, NovamindError):
            log.error("background task failed", exc_info=(type(exc), exc, exc.__traceback__))
        if on_error is not None:
            on_error(exc)


def label(text: str = "", name: str = "", *, wrap: bool = False) -> QLabel:
    """A QLabel with an object name for the style sheet (h2, muted, error, notice ...)."""
    w = QLabel(text)
    if name:
        w.setObjectName(name)
    w.setWordWrap(wrap)
    w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return w


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


def table(headers: Sequence[str], accessible: str) -> QTableWidget:
    """Read-only, row-selecting table in the shell's style."""
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


def fill(t: QTableWidget, rows: Sequence[Sequence[str]], keys: Sequence[Any] | None = None) -> None:
    """Replace a table's rows; column 0 carries ``keys[r]`` as user data."""
    t.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            if keys is not None and c == 0:
                item.setData(Qt.ItemDataRole.UserRole, keys[r])
            t.setItem(r, c, item)


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
