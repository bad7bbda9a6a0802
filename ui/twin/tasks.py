"""Default background runner for the twin view (the shell passes its own TaskManager call).

Why: the view must never block the GUI thread on a service call, but it also has to work (and
be tested) without the shell. ``run_task(fn, *args, label=..., on_done=..., on_error=...)``
runs ``fn`` on a QThreadPool and delivers the result on the GUI thread by a queued signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.errors import NovamindError

log = logging.getLogger(__name__)


class RunTask(Protocol):
    """Signature the view expects: run ``fn(*args)`` off the GUI thread, call back on it."""

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> object: ...


class _Relay(QObject):
    done = Signal(object, object)  # (callback, value)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay, ok: Callable, err: Callable) -> None:
        super().__init__()
        self.fn, self.relay, self.ok, self.err = fn, relay, ok, err

    def run(self) -> None:
        try:
            value = self.fn()
        except BaseException as exc:  # noqa: BLE001 — reported to the GUI, logged below
            log.warning("twin task failed: %s", type(exc).__name__)
            self.relay.done.emit(self.err, exc)
        else:
            self.relay.done.emit(self.ok, value)


class PoolRunner(QObject):
    """A minimal ``RunTask`` on a private QThreadPool; results arrive on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._relay = _Relay(self)
        self._relay.done.connect(lambda cb, value: cb(value))
        self.pending = 0

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> object:
        """Run ``fn(*args)`` on the pool; ``on_done``/``on_error`` run on the GUI thread."""
        self.pending += 1

        def ok(value: Any) -> None:
            self.pending -= 1
            on_done(value)

        def err(exc: BaseException) -> None:
            self.pending -= 1
            if on_error is not None:
                on_error(exc)

        job = _Job(lambda: fn(*args), self._relay, ok, err)
        self.pool.start(job)
        return job

    def wait(self, msecs: int = 30000) -> bool:
        """Block until the pool is idle (tests and shutdown only)."""
        return self.pool.waitForDone(msecs)


def user_message(exc: BaseException) -> str:
    """The core's user-safe message, or a generic one (never PHI)."""
    if isinstance(exc, NovamindError):
        return exc.user_message()
    return "Something went wrong. The details are in the log file."
