"""Core events for the assessment widgets (BusBridge) and the shared default runner.

The runner itself lives in ui.runner (re-exported here for the widgets that import it).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from app.events import Event, EventBus
from ui.runner import Box, RunTask, TaskRunner  # noqa: F401 — re-exported

log = logging.getLogger(__name__)


class BusBridge(QObject):
    """Core events → a Qt signal on the GUI thread (handlers run on the writer thread)."""

    event = Signal(object)

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...], parent: QObject) -> None:
        super().__init__(parent)
        signal = self.event
        unsubs = [bus.subscribe(t, lambda e, s=signal: s.emit(Box(e))) for t in types]
        self._unsubscribe = unsubs

        def stop(*_: object) -> None:
            while unsubs:
                unsubs.pop()()

        self._stop = stop
        parent.destroyed.connect(stop)

    def close(self) -> None:
        """Stop listening (must not outlive the widget)."""
        self._stop()


def unbox(value: object) -> object:
    """The event carried by BusBridge.event."""
    return value.value if isinstance(value, Box) else value
