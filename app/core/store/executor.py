"""One serial executor for every write (Anki's rule): no write contention, ordered audit chain.

Work runs one item at a time, in submission order, on a single dedicated thread. Items
submitted as batchable (the store's write jobs) that are already waiting when the thread gets
to them are handed over together, so the store can commit them in one transaction (group
commit): one fsync for many small writes instead of one each.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
DEFAULT_MAX_BATCH = 64  # write jobs handed to one batch at most


@dataclass
class Job:
    """A batchable item: what to run (the batch runner knows how) and its caller's future."""

    payload: Any
    future: Future[Any]


@dataclass
class _Item:
    fn: Callable[[], Any] | None  # a plain callable, run alone
    job: Job | None  # or a batchable job


class SerialExecutor:
    """Runs submitted work one at a time on a single dedicated thread, in order."""

    def __init__(
        self,
        name: str = "novamind-db-writer",
        *,
        batch: Callable[[list[Job]], None] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._thread_ident: int | None = None
        self._items: deque[_Item] = deque()
        self._lock = threading.Lock()
        self._batch = batch
        self._max_batch = max(1, max_batch)
        self._pool.submit(self._remember_thread).result()

    def _remember_thread(self) -> None:
        self._thread_ident = threading.get_ident()

    def on_writer_thread(self) -> bool:
        return threading.get_ident() == self._thread_ident

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue a plain callable; it runs alone, after everything queued before it."""
        future: Future[T] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 — handed to the caller
                    future.set_exception(exc)

        self._enqueue(_Item(fn=run, job=None))
        return future

    def submit_batched(self, payload: object) -> Future[Any]:
        """Queue a job for the batch runner; its future is settled by the runner."""
        if self._batch is None:
            raise RuntimeError("this executor has no batch runner")
        future: Future[Any] = Future()
        self._enqueue(_Item(fn=None, job=Job(payload, future)))
        return future

    def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread and wait (re-entrant from the writer thread itself)."""
        if self.on_writer_thread():
            return fn()
        return self.submit(fn).result()

    def _enqueue(self, item: _Item) -> None:
        with self._lock:
            self._items.append(item)
            try:
                # one step per item: every item is taken by some step, in order
                self._pool.submit(self._step)
            except RuntimeError:  # shut down: nothing will run it
                self._items.pop()
                raise

    def _step(self) -> None:
        with self._lock:
            if not self._items:
                return  # an earlier step took this item into its batch
            first = self._items.popleft()
            jobs = [first.job] if first.job is not None else []
            while jobs and self._items and len(jobs) < self._max_batch:
                nxt = self._items[0].job
                if nxt is None:
                    break  # a plain callable keeps its place in the order
                jobs.append(nxt)
                self._items.popleft()
        if first.fn is not None:
            first.fn()
            return
        if self._batch is None:  # pragma: no cover — submit_batched refuses this
            return
        try:
            self._batch(jobs)
        except BaseException as exc:  # noqa: BLE001 — every caller hears of it
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
