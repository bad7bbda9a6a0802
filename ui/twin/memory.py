"""Hand freed C heap back to the operating system after the twin builds or drops a scene.

Why: building the 3D scene (mesh arrays copied into VTK, shader compilation) frees tens of MB
of temporary C allocations that glibc keeps in the process for reuse; RSS stays at the peak
until ``malloc_trim`` returns the free pages. Elsewhere (macOS, Windows, musl) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import sys

log = logging.getLogger(__name__)


@functools.cache
def _trim() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_heap() -> bool:
    """Collect young Python garbage and return free C-heap pages to the OS; True if trimmed.

    Generations 0-1 only: a full collection walks every object of the session (the 10,000-row
    patient list included) and cost 90-140 ms of each patient switch (docs/bench/clinic5y.md);
    the scene's cycles are young, and the full collector still runs on its own schedule."""
    gc.collect(1)
    trim = _trim()
    if trim is None:
        return False
    return bool(trim(0))  # type: ignore[operator]
