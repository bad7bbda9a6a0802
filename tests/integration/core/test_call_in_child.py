"""``cpu_pool.call_in_child``: a service thread's heavy step runs in a fresh spawned process,
so the memory it allocates leaves with the child instead of staying mapped in the desktop."""

from __future__ import annotations

import os
import sys

import pytest

from app.core.errors import ValidationError
from app.services import cpu_pool
from tests.integration.core import child_work
from tests.ui import cpu_work

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for RSS")


def test_result_comes_back_from_another_process_and_its_heap_stays_there() -> None:
    before = child_work.rss_mb()
    pid, child_peak, checksum = cpu_pool.call_in_child(child_work.many_small_objects, 400_000)
    assert pid != os.getpid()
    assert checksum == sum(i % 27 for i in range(400_000))
    assert child_peak > 80  # the child's heap grew with the objects
    assert child_work.rss_mb() - before < 20  # none of it here


def test_an_error_in_the_child_is_raised_in_the_caller() -> None:
    with pytest.raises(ValidationError, match="not a valid value"):
        cpu_pool.call_in_child(cpu_work.refuse, "x")
