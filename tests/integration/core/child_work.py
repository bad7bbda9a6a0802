"""Module-level work for test_call_in_child: a spawned child imports this module by name to
unpickle the functions, so they cannot live in a test body."""

from __future__ import annotations

import os
from pathlib import Path


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set size (or its peak, ``VmHWM``) in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def many_small_objects(n: int) -> tuple[int, float, int]:
    """Build ``n`` small dicts (the shape of a synthetic cohort), free them, and return this
    process's id, its peak RSS, and a checksum of what was built."""
    rows = [{"id": i, "phq9": i % 27, "name": f"p{i}"} for i in range(n)]
    checksum = sum(r["phq9"] for r in rows)
    del rows
    return os.getpid(), rss_mb("VmHWM"), checksum
