"""A process pool for CPU-bound pure-Python work, so it cannot hold the GIL against the UI.

Why: a thread that runs Python bytecode for seconds (feature assembly, PAT metrics, audit-chain
verification) takes the GIL from the Qt event loop in 5 ms slices and stalls the window. Work
sent here runs in child processes started with the 'spawn' method (never 'fork': forking a
process that runs Qt, SQLCipher connections and writer threads copies locks held by other
threads). Functions and their arguments and results must pickle: module-level functions on
plain data. A child opens no store of its own unless the function does so with a key it was
handed as an argument (over the pipe, never through the environment or a file).

Cancellation and progress cross the process boundary through a shared flag array and a queue
handed to each child when it starts (``CpuToken``, ``progress``), with the same meaning as the
thread pool's: the work polls ``token.check()`` and reports ``progress(percent, message)``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

SLOTS = 4096  # cancel flags shared with the children; a task uses slot id % SLOTS

_flags: Any = None  # in a child: the shared cancel flags
_queue: Any = None  # in a child: where progress goes


class CpuCancelled(Exception):  # noqa: N818 — reads as a state, like asyncio.CancelledError
    """Raised inside a child by ``CpuToken.check()`` once cancel was requested."""


class CpuToken:
    """The child's view of a task's cancel flag (same surface as ui.tasks.CancelToken)."""

    def __init__(self, slot: int) -> None:
        self.slot = slot

    @property
    def cancelled(self) -> bool:
        return bool(_flags is not None and _flags[self.slot])

    def check(self) -> None:
        """Raise CpuCancelled when the user asked to stop."""
        if self.cancelled:
            raise CpuCancelled()


def _init_child(flags: Any, queue: Any) -> None:  # noqa: ANN401 — multiprocessing proxies
    global _flags, _queue
    _flags, _queue = flags, queue


def _run_task(
    task_id: int, fn: Callable[..., Any], with_token: bool, args: tuple, kwargs: dict
) -> Any:  # noqa: ANN401 — whatever fn returns
    """Runs in the child: call ``fn`` with a token and progress callback when it wants them."""
    if not with_token:
        return fn(*args, **kwargs)
    token = CpuToken(task_id % SLOTS)
    token.check()

    def progress(pct: int, msg: str = "") -> None:
        if _queue is not None:
            _queue.put((task_id, int(pct), str(msg)))

    return fn(token, progress, *args, **kwargs)


def call_in_child(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
    """Run a picklable call ``fn(*args, **kwargs)`` in a fresh spawned process and return its
    result (its exception is raised here). For a service thread's heavy step whose memory
    should not stay in the desktop process: the child exits with everything it allocated,
    whereas a heap grown by many small Python objects in this process stays mapped after they
    are freed. Costs a process start (~1-2 s with NumPy imported); waits for the result."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as executor:
        return executor.submit(fn, *args, **kwargs).result()


def default_workers() -> int:
    """Leave one core to the UI; at most four children."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class CpuPool:
    """Spawn-context process pool started on first use; progress comes back on a reader
    thread through ``on_progress(task_id, percent, message)``."""

    def __init__(
        self,
        on_progress: Callable[[int, int, str], None] | None = None,
        max_workers: int | None = None,
    ) -> None:
        self._ctx = mp.get_context("spawn")
        self._workers = max_workers or default_workers()
        self._on_progress = on_progress
        self._executor: ProcessPoolExecutor | None = None
        self._flags: Any = None
        self._queue: Any = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._executor is not None

    def _start(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._flags = self._ctx.RawArray("b", SLOTS)
                self._queue = self._ctx.SimpleQueue()
                self._executor = ProcessPoolExecutor(
                    self._workers,
                    mp_context=self._ctx,
                    initializer=_init_child,
                    initargs=(self._flags, self._queue),
                )
                self._reader = threading.Thread(
                    target=self._read_progress, name="cpu-pool-progress", daemon=True
                )
                self._reader.start()
            return self._executor

    def _read_progress(self) -> None:
        queue = self._queue
        while True:
            item = queue.get()
            if item is None:
                return
            if self._on_progress is not None:
                self._on_progress(*item)

    def submit(
        self,
        task_id: int,
        fn: Callable[..., Any],
        *args: Any,
        with_token: bool = False,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` (or ``fn(token, progress, *args, **kwargs)`` with
        ``with_token``) in a child process."""
        executor = self._start()
        self._flags[task_id % SLOTS] = 0
        return executor.submit(_run_task, task_id, fn, with_token, args, kwargs)

    def cancel(self, task_id: int) -> None:
        """Ask a task's child to stop at its next ``token.check()``."""
        if self._flags is not None:
            self._flags[task_id % SLOTS] = 1

    def shutdown(self, wait: bool = True) -> None:
        """Stop the children (queued work is dropped) and the progress reader."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        executor.shutdown(wait=wait, cancel_futures=True)
        self._queue.put(None)
        if self._reader is not None and wait:
            self._reader.join(timeout=5)
