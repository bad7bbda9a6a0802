"""TaskManager, the UI's one background-work API: service calls run concurrently (each pool
thread reads the store on its own keyed connection) while writes stay on the store's writer."""

from __future__ import annotations

import threading

import pytest

from app.core.domain import Role
from app.services import patients
from app.services.context import AppContext
from ui.tasks import TaskManager

WAIT = 15000


def test_service_reads_run_at_the_same_time(qtbot, ctx: AppContext, clinic: dict) -> None:
    tasks = TaskManager(None)
    me = clinic["users"][Role.CLINICIAN]
    together = threading.Barrier(3, timeout=10)  # breaks unless three calls run at once
    results: list[object] = []
    errors: list[BaseException] = []

    def read() -> object:
        together.wait()
        return patients.list_patients(ctx, me)

    for _ in range(3):
        tasks.call(read, label="Loading patients", on_done=results.append, on_error=errors.append)
    qtbot.waitUntil(lambda: len(results) + len(errors) == 3, timeout=WAIT)
    tasks.wait()
    assert errors == []
    assert results[0] and all(r == results[0] for r in results)
    tasks.deleteLater()


def test_a_widget_task_manager_needs_no_context_until_it_writes(qtbot) -> None:
    tasks = TaskManager(None)
    done: list[object] = []
    tasks.call(lambda: 42, label="answer", on_done=done.append)
    qtbot.waitUntil(lambda: done == [42], timeout=WAIT)
    assert not tasks.busy
    with pytest.raises(RuntimeError, match="AppContext"):
        tasks.write(lambda _uow: None, label="write")
    tasks.wait()
    tasks.deleteLater()
