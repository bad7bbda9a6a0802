"""Module-level work for the CPU-pool tests: a child process imports this module by name to
unpickle the functions, so they cannot live in a test body."""

from __future__ import annotations

import os
import time

from app.core.errors import ValidationError


def child_pid() -> int:
    return os.getpid()


def squares(token, progress, n: int, *, steps: int = 4) -> int:  # noqa: ANN001 — token/progress
    total = 0
    for i in range(steps):
        token.check()
        total += sum(j * j for j in range(n))
        progress((i + 1) * 100 // steps, f"step {i + 1}")
    return total


def refuse(value: str) -> None:
    raise ValidationError(f"not a valid value: {value}")


def until_cancelled(token, progress) -> str:  # noqa: ANN001
    progress(1, "started")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        token.check()
        time.sleep(0.01)
    return "never cancelled"
