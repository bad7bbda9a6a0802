"""Compatibility names for widgets not yet converted to ``ui.tasks.TaskManager``.

The one background-work API is ``ui.tasks.TaskManager``; ``TaskRunner`` is a TaskManager
without a context that is also callable with ``call``'s signature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from ui.tasks import Box, Task, TaskManager

RunTask = Callable[..., object]  # TaskManager.call's signature

__all__ = ["Box", "RunTask", "TaskRunner"]


class TaskRunner(TaskManager):
    """A context-free TaskManager, callable like ``TaskManager.call``."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(None, parent)

    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        label: str,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        **kwargs: Any,
    ) -> Task:
        """Queue ``fn(*args, **kwargs)``; callbacks run on the GUI thread."""
        return self.call(fn, *args, label=label, on_done=on_done, on_error=on_error, **kwargs)
