"""Idle lock: watch user input application-wide and fire ``idle`` after the policy's minutes.

An event filter on the QApplication notes the time of each key, mouse, wheel or touch event;
a coarse check timer compares against the timeout (re-arming a timer on every mouse move would
cost more than the check). Tests shorten the timeout with ``set_timeout_ms`` — the policy
itself cannot go below one minute.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

_ACTIVITY = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TabletPress,
    }
)


class IdleWatcher(QObject):
    """Emits ``idle`` once when no user input arrived for the timeout; re-armed by ``reset``."""

    idle = Signal()

    def __init__(self, minutes: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timeout_s = minutes * 60.0
        self._last = time.monotonic()
        self._armed = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._check)
        self._set_interval()

    def _set_interval(self) -> None:
        self._timer.setInterval(max(50, min(5000, int(self._timeout_s * 1000 / 4))))

    def set_timeout_ms(self, ms: int) -> None:
        """Override the timeout (tests and the benchmark only; the policy minimum is 1 min)."""
        self._timeout_s = ms / 1000.0
        self._set_interval()

    @property
    def timeout_s(self) -> float:
        return self._timeout_s

    def start(self) -> None:
        """Begin watching (after sign-in or unlock)."""
        self._last = time.monotonic()
        self._armed = True
        self._timer.start()

    def stop(self) -> None:
        """Stop watching (while locked or signed out)."""
        self._armed = False
        self._timer.stop()

    def reset(self) -> None:
        self._last = time.monotonic()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 — Qt API
        if self._armed and event.type() in _ACTIVITY:
            self._last = time.monotonic()
        return False

    def _check(self) -> None:
        if self._armed and time.monotonic() - self._last >= self._timeout_s:
            self.stop()
            self.idle.emit()
