"""CPU-bound work through TaskManager.run_cpu / call_cpu: it runs in a spawned child process
(so it cannot hold the GIL against the event loop) with the thread pool's done, error, progress
and cancel semantics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.core.domain import Role
from app.core.errors import ValidationError
from app.services import backup
from app.services.context import AppContext
from tests.conftest import make_user
from tests.ui import cpu_work
from ui.tasks import TaskManager

WAIT = 60000  # the first task spawns the child (imports take seconds on a loaded machine)


@pytest.fixture
def tasks(qtbot):
    manager = TaskManager(None)
    yield manager
    manager.cancel_all()
    manager.wait()
    manager.shutdown_cpu()
    manager.deleteLater()


def test_cpu_work_runs_in_another_process_and_returns_on_the_gui_thread(qtbot, tasks) -> None:
    done: list[object] = []
    tasks.call_cpu(cpu_work.child_pid, label="where", on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)
    assert isinstance(done[0], int) and done[0] != os.getpid()
    assert not tasks.busy


def test_progress_and_result_come_back(qtbot, tasks) -> None:
    seen: list[tuple[int, str]] = []
    done: list[object] = []
    tasks.progress.connect(lambda _id, pct, msg: seen.append((pct, msg)))
    tasks.run_cpu(cpu_work.squares, 1000, label="sum", on_done=done.append, steps=4)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)
    assert done == [4 * sum(j * j for j in range(1000))]
    # progress comes on its own channel: what arrives while the task is open is shown in
    # order; a report that trails the result is dropped (the cancel test waits for one)
    expected = [(25, "step 1"), (50, "step 2"), (75, "step 3"), (100, "step 4")]
    assert seen == [p for p in expected if p in seen]


def test_an_error_in_the_child_reaches_on_error_as_its_class(qtbot, tasks) -> None:
    errors: list[BaseException] = []
    done: list[object] = []
    tasks.call_cpu(
        cpu_work.refuse, "x", label="refuse", on_done=done.append, on_error=errors.append
    )
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT)
    assert done == []
    assert isinstance(errors[0], ValidationError)


def test_cancel_stops_a_running_child_task_and_delivers_nothing(qtbot, tasks) -> None:
    started: list[int] = []
    finished: list[int] = []
    done: list[object] = []
    errors: list[BaseException] = []
    tasks.progress.connect(lambda task_id, _pct, _msg: started.append(task_id))
    tasks.finished.connect(finished.append)
    task = tasks.run_cpu(
        cpu_work.until_cancelled, label="wait", on_done=done.append, on_error=errors.append
    )
    qtbot.waitUntil(lambda: task.id in started, timeout=WAIT)
    tasks.cancel(task.id)
    qtbot.waitUntil(lambda: task.id in finished, timeout=WAIT)
    assert done == [] and errors == []
    assert not tasks.busy


def test_backup_verification_runs_in_a_child_with_keys_unwrapped_by_the_parent(
    qtbot, tasks, ctx: AppContext, clinic: dict
) -> None:
    it = make_user(ctx, "it.cpu", Role.IT)
    m = backup.create_backup(ctx, it)
    job = backup.prepare_verify(ctx.settings, backup.manifest_path_of(ctx.settings, m))
    assert job.key.hex() not in repr(job)  # the key never reaches a log line through repr
    done: list[backup.VerifyReport] = []
    tasks.call_cpu(backup.run_verify, job, label="Verifying backup", on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT)
    report = done[0]
    assert report.ok, report.problems
    assert report.integrity == "ok" and report.audit_events > 0
    assert report == backup.verify(ctx.settings, job.manifest_path)  # same as in-process


def test_actigraphy_import_is_analysed_in_a_child_with_progress(qtbot, tasks) -> None:
    from app.services import actigraphy_view as av

    folder = Path(__file__).resolve().parents[1] / "fuzz" / "corpus" / "actigraphy"
    seen: list[int] = []
    done: list[av.PreparedImport] = []
    errors: list[BaseException] = []
    tasks.progress.connect(lambda _id, pct, _msg: seen.append(pct))
    tasks.run_cpu(
        av.prepare_import_task, folder / "all_zeros_1d.csv", label="Reading", on_done=done.append
    )
    tasks.run_cpu(
        av.prepare_import_task, folder / "counts_nan.csv", label="Reading", on_error=errors.append
    )
    qtbot.waitUntil(lambda: bool(done) and bool(errors), timeout=WAIT)
    in_process = av.prepare_import(folder / "all_zeros_1d.csv")
    assert done[0].recording.n_minutes == in_process.recording.n_minutes
    assert done[0].results == in_process.results
    assert isinstance(errors[0], ValidationError)
    assert set(seen) <= {5, 45, 90}
