"""A failing background task whose exception quotes stored values (a canary): the log file and
the text the user reads hold the class name and task id only."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import sqlalchemy.exc

from app.core.logging_setup import configure_logging
from ui.tasks import TaskManager

CANARY = f"Qcanary{uuid.uuid4().hex[:12]}"
WAIT = 15000


def _log_text(path: Path) -> str:
    for h in logging.getLogger().handlers:
        h.flush()
    return path.read_text("utf-8", "replace")


def _failures() -> list[BaseException]:
    orig = ValueError(f"bad value {CANARY}")
    return [
        RuntimeError(f"stored value {CANARY}"),
        sqlalchemy.exc.IntegrityError("INSERT INTO patients", {"mrn": CANARY}, orig),
    ]


def test_task_manager_failure_path_withholds_exception_text(qtbot, ctx, tmp_path: Path) -> None:
    path = configure_logging(tmp_path / "logs", logging.DEBUG)
    manager = TaskManager(ctx)
    shown: list[str] = []
    handled: list[BaseException] = []
    manager.error.connect(shown.append)
    for exc in _failures():

        def fail(_t, _p, exc=exc):
            raise exc

        manager.run(fail, label="no handler")
        manager.run(fail, label="with handler", on_error=handled.append)
    qtbot.waitUntil(lambda: len(shown) == 2 and len(handled) == 2, timeout=WAIT)
    manager.wait()
    text = _log_text(path)
    assert "RuntimeError" in text and "IntegrityError" in text  # the failures were logged
    assert CANARY not in text
    assert all(CANARY not in m for m in shown)
    manager.deleteLater()


def test_widget_task_manager_call_failure_withholds_exception_text(qtbot, tmp_path: Path) -> None:
    """A widget outside the shell makes its own context-free TaskManager; its plain calls
    fail just as quietly."""
    path = configure_logging(tmp_path / "logs", logging.DEBUG)
    runner = TaskManager(None)
    errors: list[BaseException] = []
    for exc in _failures():

        def fail(exc=exc):
            raise exc

        runner.call(fail, label="x", on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=WAIT)
    runner.wait()
    text = _log_text(path)
    assert "RuntimeError" in text and "IntegrityError" in text
    assert CANARY not in text
    runner.deleteLater()
