"""The UI's one background-work API, Anki/napari style.

Store writes go to the core's single serial writer (``ctx.store.submit_write``); service calls
(which read concurrently on pool threads and write through the writer) run on a QThreadPool;
CPU-bound pure-Python work (``run_cpu``/``call_cpu``) runs in spawned child processes
(:mod:`app.services.cpu_pool`) so it cannot hold the GIL against the event loop. Results come
back to the GUI thread by queued signals. A task gets a cooperative cancel token and a progress
callback; errors reach the user as readable messages (``NovamindError.user_message()``) and the
log as the error class and frame locations only (exception messages can quote stored values, so
they never reach the log).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.core.errors import NovamindError
from app.core.logging_setup import safe_traceback
from app.services.cpu_pool import CpuCancelled, CpuPool

if TYPE_CHECKING:
    from app.services.context import AppContext

log = logging.getLogger(__name__)


class Cancelled(Exception):  # noqa: N818 — reads as a state, like asyncio.CancelledError
    """Raised inside a task by ``CancelToken.check()`` once cancel was requested."""


class CancelToken:
    """Cooperative cancellation: the task polls ``cancelled`` or calls ``check()``."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Cancelled when the user asked to stop."""
        if self._event.is_set():
            raise Cancelled()


Progress = Callable[[int, str], None]


def user_message(exc: BaseException) -> str:
    """What the user reads for an error: the core's own message, or a generic one."""
    if isinstance(exc, NovamindError):
        return exc.user_message()
    return "Something went wrong. The details are in the log file."


class Box:
    """Carries a value across threads. Queued ``object`` signal arguments that are bare
    singletons (True, False, None) have shown refcount errors at exit in PySide6; a fresh
    wrapper object avoids handing them to the queued-connection copy."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


@dataclass
class Task:
    id: int
    label: str
    token: CancelToken = field(default_factory=CancelToken)
    cancellable: bool = True
    on_done: Callable[[Any], object] | None = None
    on_error: Callable[[BaseException], object] | None = None


def _deliver(callback: Callable[[Any], object], value: object, task_id: int) -> None:
    """Hand a result to its view; a view closed while the work ran is not an error."""
    try:
        callback(value)
    except RuntimeError as exc:
        if "already deleted" not in str(exc):
            raise
        log.debug("task %d finished after its view was closed", task_id)


class _Signals(QObject):
    done = Signal(int, object)
    failed = Signal(int, object)
    progress = Signal(int, int, str)


class _Runnable(QRunnable):
    def __init__(self, task: Task, fn: Callable[..., Any], signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._task, self._fn, self._signals = task, fn, signals

    def run(self) -> None:  # runs on a pool thread
        task = self._task
        try:
            task.token.check()
            result = self._fn(
                task.token,
                lambda pct, msg="": self._signals.progress.emit(task.id, int(pct), str(msg)),
            )
        except BaseException as exc:  # noqa: BLE001 — every failure goes back to the GUI
            self._signals.failed.emit(task.id, Box(exc))
            return
        self._signals.done.emit(task.id, Box(result))


class TaskManager(QObject):
    """Starts background work and delivers results on the GUI thread.

    Signals let the status bar show what runs: ``started(id, label, cancellable)``,
    ``progress(id, percent, message)``, ``finished(id)`` and ``error(message)`` for a failure
    that had no handler of its own.
    """

    started = Signal(int, str, int)  # cancellable as 0/1
    progress = Signal(int, int, str)
    finished = Signal(int)
    error = Signal(str)

    def __init__(
        self, ctx: AppContext | None = None, parent: QObject | None = None, max_threads: int = 4
    ) -> None:
        """``ctx`` is needed only by ``write``; a widget outside the shell passes None.

        Service calls share the pool and read concurrently: every pool thread checks its own
        keyed SQLCipher connection out of the store's QueuePool (see app.core.store.engine),
        and every write still queues on the store's single writer thread.
        """
        super().__init__(parent)
        self._ctx = ctx
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._tasks: dict[int, Task] = {}
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self._signals.progress.connect(self._on_progress)
        self._cpu = CpuPool(on_progress=self._signals.progress.emit)
        self._cpu_futures: dict[int, Future[Any]] = {}

    # -- starting work ---------------------------------------------------------------------
    def run(
        self,
        fn: Callable[[CancelToken, Progress], Any],
        *,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        cancellable: bool = True,
    ) -> Task:
        """Run ``fn(token, progress)`` on the pool; ``on_done(result)`` runs on the GUI thread."""
        task = Task(
            next(self._ids), label, cancellable=cancellable, on_done=on_done, on_error=on_error
        )
        self._tasks[task.id] = task
        self.started.emit(task.id, label, int(cancellable))
        self._pool.start(_Runnable(task, fn, self._signals))
        return task

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        **kwargs: Any,
    ) -> Task:
        """Run a plain service call ``fn(*args, **kwargs)`` on the pool (not cancellable)."""
        return self.run(
            lambda _t, _p: fn(*args, **kwargs),
            label=label,
            on_done=on_done,
            on_error=on_error,
            cancellable=False,
        )

    def run_cpu(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        cancellable: bool = True,
        **kwargs: Any,
    ) -> Task:
        """Run ``fn(token, progress, *args, **kwargs)`` in a child process (CPU-bound work).

        ``fn`` must be a module-level function and its arguments and result must pickle; it
        polls ``token.check()`` and reports ``progress(percent, message)`` as ``run``'s does
        (progress comes back on its own channel: a report still in flight when the result
        arrives is dropped, as after any task's end).
        """
        return self._submit_cpu(fn, args, kwargs, label, on_done, on_error, cancellable, True)

    def call_cpu(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        **kwargs: Any,
    ) -> Task:
        """Run a plain picklable call ``fn(*args, **kwargs)`` in a child process."""
        return self._submit_cpu(fn, args, kwargs, label, on_done, on_error, False, False)

    def _submit_cpu(
        self,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        label: str,
        on_done: Callable[[Any], object] | None,
        on_error: Callable[[BaseException], object] | None,
        cancellable: bool,
        with_token: bool,
    ) -> Task:
        task = Task(
            next(self._ids), label, cancellable=cancellable, on_done=on_done, on_error=on_error
        )
        self._tasks[task.id] = task
        self.started.emit(task.id, label, int(cancellable))
        future = self._cpu.submit(task.id, fn, *args, with_token=with_token, **kwargs)
        self._cpu_futures[task.id] = future
        future.add_done_callback(lambda f: self._cpu_finished(task.id, f))
        return task

    def _cpu_finished(self, task_id: int, f: Future[Any]) -> None:  # pool thread → signal
        self._cpu_futures.pop(task_id, None)
        if f.cancelled():
            self._signals.failed.emit(task_id, Box(Cancelled()))
            return
        exc = f.exception()
        if exc is not None:
            self._signals.failed.emit(task_id, Box(exc))
        else:
            self._signals.done.emit(task_id, Box(f.result()))

    def write(
        self,
        fn: Callable[[Any], Any],
        *,
        label: str,
        on_done: Callable[[Any], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> Task:
        """Queue a unit-of-work function on the store's serial writer thread."""
        if self._ctx is None:
            raise RuntimeError("TaskManager.write needs the AppContext it was made with")
        task = Task(next(self._ids), label, cancellable=False, on_done=on_done, on_error=on_error)
        self._tasks[task.id] = task
        self.started.emit(task.id, label, 0)
        future: Future[Any] = self._ctx.store.submit_write(fn)

        def deliver(f: Future[Any]) -> None:  # writer thread → queued signal
            exc = f.exception()
            if exc is not None:
                self._signals.failed.emit(task.id, Box(exc))
            else:
                self._signals.done.emit(task.id, Box(f.result()))

        future.add_done_callback(deliver)
        return task

    # -- control -----------------------------------------------------------------------------
    def cancel(self, task_id: int) -> None:
        """Ask a task to stop (it stops at its next check)."""
        task = self._tasks.get(task_id)
        if task is not None and task.cancellable:
            task.token.cancel()
            self._cancel_cpu(task_id)

    def cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            task.token.cancel()
            if task.cancellable:
                self._cancel_cpu(task.id)

    def _cancel_cpu(self, task_id: int) -> None:
        future = self._cpu_futures.get(task_id)
        if future is not None and not future.cancel():  # already running: ask the child
            self._cpu.cancel(task_id)

    def active(self) -> list[Task]:
        return list(self._tasks.values())

    @property
    def busy(self) -> bool:
        """True while a task is queued, running or not yet delivered (tests wait on this)."""
        return bool(self._tasks)

    def wait(self, msecs: int = 5000) -> bool:
        """Wait for pool and child-process work to end (used at shutdown and by tests)."""
        done = self._pool.waitForDone(msecs)
        pending = list(self._cpu_futures.values())
        if pending:
            _, not_done = wait_futures(pending, timeout=msecs / 1000)
            done = done and not not_done
        return done

    def shutdown_cpu(self) -> None:
        """Stop the child processes (the next CPU task starts them again)."""
        self._cpu.shutdown(wait=True)

    # -- delivery on the GUI thread ----------------------------------------------------------
    @Slot(int, object)
    def _on_done(self, task_id: int, box: object) -> None:
        result = box.value if isinstance(box, Box) else box
        task = self._tasks.pop(task_id, None)
        self.finished.emit(task_id)
        if task is None or task.token.cancelled:
            return
        if task.on_done is not None:
            _deliver(task.on_done, result, task_id)

    @Slot(int, object)
    def _on_failed(self, task_id: int, box: object) -> None:
        exc = box.value if isinstance(box, Box) else box
        task = self._tasks.pop(task_id, None)
        self.finished.emit(task_id)
        if not isinstance(exc, BaseException):
            exc = RuntimeError("task failed without an exception")
        if isinstance(exc, Cancelled | CpuCancelled):
            log.info("task %d cancelled", task_id)
            return
        if isinstance(exc, NovamindError):
            log.info("task %d failed: %s", task_id, type(exc).__name__)
        else:  # class and frames only: exception messages can carry stored values (PHI)
            log.error("task %d failed: %s\n%s", task_id, type(exc).__name__, safe_traceback(exc))
        if task is not None and task.on_error is not None:
            _deliver(task.on_error, exc, task_id)
        else:
            self.error.emit(user_message(exc))

    @Slot(int, int, str)
    def _on_progress(self, task_id: int, pct: int, msg: str) -> None:
        if task_id in self._tasks:
            self.progress.emit(task_id, pct, msg)
