"""One serial executor for every write (Anki's rule): no write contention, ordered audit chain."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class SerialExecutor:
    """Runs submitted callables one at a time on a single dedicated thread."""

    def __init__(self, name: str = "novamind-db-writer") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._thread_ident: int | None = None
        self._pool.submit(self._remember_thread).result()

    def _remember_thread(self) -> None:
        self._thread_ident = threading.get_ident()

    def on_writer_thread(self) -> bool:
        return threading.get_ident() == self._thread_ident

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._pool.submit(fn)

    def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread and wait (re-entrant from the writer thread itself)."""
        if self.on_writer_thread():
            return fn()
        return self._pool.submit(fn).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
