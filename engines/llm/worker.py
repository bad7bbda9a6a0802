"""Parent-side handle of the inference child process, shaped for a Qt worker thread.

    worker = LlmWorker.start(model_path, load_params)
    for item in worker.submit(task):          # in a worker thread
        if isinstance(item, TokenChunk): ...  # stream to the UI
        else: result = item                   # GenerationResult, always last
    worker.cancel()                            # from the UI thread; returns within ~200 ms
    worker.close()

A reader thread drains the pipe continuously, so cancel() can observe the child's
acknowledgement even when nobody is iterating. If the child does not stop within the grace
period (e.g. it is busy evaluating a long prompt), it is killed; the next submit() restarts it.
A child that dies (corrupt model, out of memory, native crash) yields a EngineError naming the
model file, never a traceback from native code.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engines.errors import EngineError, InputError
from engines.llm.child import child_main
from engines.llm.gguf_meta import read_gguf_info
from engines.llm.hardware import physical_cores
from engines.llm.results import GenerationResult, GenParams, LoadParams, Task, TokenChunk

log = logging.getLogger(__name__)
_DEAD = "dead"


class ModelProcessError(EngineError):
    """The model's child process failed (crash, out of memory, hang)."""

    hint = "The model process was stopped; the application is unaffected. Try again or ask IT."


def _death_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "stopped responding"
    if exitcode < 0:
        sig = -exitcode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        extra = " (likely out of memory)" if sig == signal.SIGKILL else ""
        return f"crashed with signal {name}{extra}"
    return f"exited with code {exitcode}"


class LlmWorker:
    """A model kept loaded in a child process, serving one request at a time."""

    def __init__(
        self,
        model_path: Path,
        load: LoadParams,
        *,
        load_timeout_s: float = 300.0,
        cancel_grace_s: float = 0.15,
    ) -> None:
        self.model_path = model_path
        self.load = load
        self.load_timeout_s = load_timeout_s
        self.cancel_grace_s = cancel_grace_s
        self.info: dict[str, Any] = {}
        self._ctx = mp.get_context("spawn")
        self._proc: Any = None
        self._conn: Any = None
        self._cancel_ev: Any = None
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._busy = threading.Lock()
        self._state = threading.Lock()
        self._current: str | None = None
        self._finished = threading.Event()
        self._cancel_requested = False
        self._killed_by_cancel = False

    # -- lifecycle -------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        model_path: Path | str,
        load: LoadParams | None = None,
        *,
        load_timeout_s: float = 300.0,
        cancel_grace_s: float = 0.15,
    ) -> LlmWorker:
        """Validate the file, spawn the child, wait until the model is loaded."""
        path = Path(model_path)
        read_gguf_info(path)  # reject a broken file before native code sees it
        lp = load or LoadParams()
        if lp.n_threads is None:
            lp = LoadParams(lp.n_ctx, physical_cores(), lp.n_gpu_layers, lp.n_batch, lp.seed)
        worker = cls(path, lp, load_timeout_s=load_timeout_s, cancel_grace_s=cancel_grace_s)
        worker._spawn()
        return worker

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._cancel_ev = self._ctx.Event()
        self._queue = queue.Queue()
        self._proc = self._ctx.Process(
            target=child_main,
            args=(child, self._cancel_ev, str(self.model_path), self.load),
            name="novamind-llm",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        self._reader = threading.Thread(
            target=self._read_loop, args=(parent, self._proc, self._queue), daemon=True
        )
        self._reader.start()
        deadline = time.monotonic() + self.load_timeout_s
        while True:
            try:
                msg = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._kill()
                raise ModelProcessError(
                    f"{self.model_path}: model did not load within {self.load_timeout_s:.0f} s"
                ) from None
            if msg[0] == "ready":
                self.info = msg[1]
                return
            if msg[0] == "error":
                self._kill()
                raise InputError(
                    f"{self.model_path}: llama.cpp could not load the model ({_short(msg[1])})"
                )
            if msg[0] == _DEAD:
                raise InputError(
                    f"{self.model_path}: model process {_death_reason(msg[1])} while loading "
                    "the model; the file may be corrupt or too large for this machine"
                )

    def _read_loop(self, conn: Any, proc: Any, q: queue.Queue) -> None:  # noqa: ANN401
        # Runs in a daemon thread: forwards child messages and marks the end of a request, so
        # cancel() sees the acknowledgement even while the consumer is not iterating.
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                break
            q.put(msg)
            if msg[0] in ("done", "fail") and q is self._queue:
                self._finished.set()
        proc.join(timeout=5)
        q.put((_DEAD, proc.exitcode))
        if q is self._queue:
            self._finished.set()

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc is not None and self._proc.is_alive()

    @property
    def pid(self) -> int | None:
        """Process id of the child (for diagnostics)."""
        return self._proc.pid if self._proc is not None else None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive():
            proc.kill()
        proc.join(timeout=5)
        try:
            self._conn.close()
        except OSError:
            pass

    def close(self) -> None:
        """Stop the child process (politely, then by force) and free the model."""
        if self._proc is None:
            return
        if self._proc.is_alive():
            try:
                self._conn.send(("close",))
            except OSError:
                pass
            self._proc.join(timeout=2)
        self._kill()
        self._proc = None

    def __enter__(self) -> LlmWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def submit(
        self, task: Task, *, idle_timeout_s: float = 120.0
    ) -> Iterator[TokenChunk | GenerationResult]:
        """Run one task; yields TokenChunk pieces then exactly one GenerationResult."""
        if not self._busy.acquire(blocking=False):
            raise EngineError("the model is busy with another request")
        try:
            if not self.alive:
                self._spawn()  # restart after a cancel-kill or a crash
            with self._state:
                self._current = task.task_id
                self._finished.clear()
                self._cancel_requested = False
                self._killed_by_cancel = False
                self._cancel_ev.clear()
            t0 = time.perf_counter()
            self._conn.send(("run", task))
            yield from self._collect(task, t0, idle_timeout_s)
        finally:
            with self._state:
                self._current = None
                self._finished.set()
            self._busy.release()

    def _collect(
        self, task: Task, t0: float, idle_timeout_s: float
    ) -> Iterator[TokenChunk | GenerationResult]:
        parts: list[str] = []
        ttft = 0.0
        while True:
            try:
                msg = self._queue.get(timeout=idle_timeout_s)
            except queue.Empty:
                self._kill()
                raise ModelProcessError(
                    f"{self.model_path}: model stopped responding for {idle_timeout_s:.0f} s "
                    "and was stopped"
                ) from None
            kind = msg[0]
            if kind == "tok" and msg[1] == task.task_id:
                if not parts:
                    ttft = time.perf_counter() - t0
                parts.append(msg[2])
                yield TokenChunk(task.task_id, len(parts) - 1, msg[2])
            elif kind == "done" and msg[1] == task.task_id:
                s = msg[2]
                self._finished.set()
                yield GenerationResult(
                    task_id=task.task_id,
                    text=s["text"],
                    n_prompt_tokens=s["n_prompt_tokens"],
                    n_tokens=s["n_tokens"],
                    ttft_s=ttft or s["ttft_s"],
                    elapsed_s=time.perf_counter() - t0,
                    stop_reason=s["stop_reason"],
                    load=self.load,
                    params=task.params,
                )
                return
            elif kind == "fail" and msg[1] == task.task_id:
                self._finished.set()
                raise InputError(f"{self.model_path.name}: request failed ({_short(msg[2])})")
            elif kind == _DEAD:
                self._finished.set()
                if self._killed_by_cancel:
                    yield GenerationResult(
                        task_id=task.task_id,
                        text="".join(parts),
                        n_prompt_tokens=0,
                        n_tokens=len(parts),
                        ttft_s=ttft,
                        elapsed_s=time.perf_counter() - t0,
                        stop_reason="cancelled",
                        load=self.load,
                        params=task.params,
                    )
                    return
                raise ModelProcessError(
                    f"{self.model_path}: model process {_death_reason(msg[1])} during generation"
                )

    def cancel(self) -> float:
        """Stop the running request; returns seconds until generation stopped (0 if idle)."""
        t0 = time.perf_counter()
        with self._state:
            if self._current is None:
                return 0.0
            self._cancel_requested = True
            self._cancel_ev.set()
        if not self._finished.wait(self.cancel_grace_s):
            log.info("llm child did not stop within %.0f ms; killing it", self.cancel_grace_s * 1e3)
            self._killed_by_cancel = True
            proc = self._proc
            if proc is not None and proc.is_alive():
                proc.kill()
            self._finished.wait(1.0)
        return time.perf_counter() - t0


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def new_task(
    messages: list[tuple[str, str]] | None = None,
    *,
    prompt: str | None = None,
    json_schema: str | None = None,
    params: GenParams | None = None,
) -> Task:
    """Build a Task with a fresh id."""
    return Task(
        task_id=uuid.uuid4().hex,
        messages=tuple(messages or ()),
        prompt=prompt,
        json_schema=json_schema,
        params=params or GenParams(),
    )
