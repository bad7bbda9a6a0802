"""The default background runner for feature widgets used outside the shell.

Widgets take a ``run_task`` callable with the shell TaskManager's ``call`` signature; without
one they fall back to this runner: one pool thread, results and errors on the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from app.core.errors import NovamindError
from app.core.logging_setup import safe_traceback

log = logging.getLogger(__name__)


class RunTask(Protocol):
    """The callable every widget takes to run service calls in the background."""

    def __call__(  # noqa: D102
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> object: ...


class Box:
    """Carries a value across threads. Queued ``object`` signal arguments that are bare
    singletons (True, False, None) have shown refcount errors at exit in PySide6; a fresh
    wrapper object avoids handing them to the queued-connection copy."""

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

    def run(self) -> None:  # pool thread
        try:
            result = self._fn()
        except BaseException as exc:  # noqa: BLE001 — every failure goes back to the GUI
            self._signals.failed.emit(self._id, Box(exc))
            return
        self._signals.done.emit(self._id, Box(result))


class TaskRunner(QObject):
    """A minimal single-thread runner with the shell's ``call`` signature."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[Callable | None, Callable | None]] = {}
        self._signals = _Signals(self)
        self._signals.done.connect(self._done)
        self._signals.failed.connect(self._failed)

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> int:
        """Queue ``fn(*args, **kwargs)``; callbacks run on the GUI thread."""
        job_id = next(self._ids)
        self._pending[job_id] = (on_done, on_error)
        self._pool.start(_Job(job_id, lambda: fn(*args, **kwargs), self._signals))
        return job_id

    @property
    def busy(self) -> bool:
        """True while a call is queued or running (tests wait on this)."""
        return bool(self._pending)

    def wait(self, msecs: int = 10_000) -> bool:
        """Block until the pool is idle (for shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    def _done(self, job_id: int, box: Box) -> None:
        on_done, _ = self._pending.pop(job_id, (None, None))
        if on_done is not None:
            on_done(box.value)

    def _failed(self, job_id: int, box: Box) -> None:
        _, on_error = self._pending.pop(job_id, (None, None))
        exc = box.value
        if not isinstance(exc, NovamindError):  # class and frames only, never the message
            log.error("background call failed: %s\n%s", type(exc).__name__, safe_traceback(exc))
        if on_error is not None:
            on_error(exc)
