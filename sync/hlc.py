"""Hybrid logical clocks: wall time plus a counter plus the device, totally ordered as strings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

ZERO = "0000000000000-00000-"


@dataclass(frozen=True)
class Clock:
    """One HLC timestamp; `str(clock)` sorts in clock order (fixed-width fields)."""

    ms: int
    counter: int
    device: str

    def __str__(self) -> str:
        return f"{self.ms:013d}-{self.counter:05d}-{self.device}"

    @classmethod
    def parse(cls, text: str) -> Clock:
        """Read a clock written by `str`; raises ValueError for anything else."""
        ms, counter, device = text.split("-", 2)
        if len(ms) != 13 or len(counter) != 5:
            raise ValueError("malformed clock")
        return cls(int(ms), int(counter), device)


class HybridClock:
    """The device's clock: never goes backwards, and jumps past any clock it has seen."""

    def __init__(
        self, device: str, last: str = "", now_ms: Callable[[], int] | None = None
    ) -> None:
        self.device = device
        self._now = now_ms or (lambda: int(time.time() * 1000))
        self._ms, self._counter = 0, 0
        if last:
            self.observe(last)

    def now(self) -> str:
        """A fresh timestamp, strictly greater than every one issued or observed before."""
        wall = self._now()
        if wall > self._ms:
            self._ms, self._counter = wall, 0
        else:
            self._counter += 1
            if self._counter > 99999:
                self._ms, self._counter = self._ms + 1, 0
        return str(Clock(self._ms, self._counter, self.device))

    def observe(self, text: str) -> None:
        """Fold in a clock received from another device."""
        other = Clock.parse(text)
        if (other.ms, other.counter) > (self._ms, self._counter):
            self._ms, self._counter = other.ms, other.counter

    def state(self) -> str:
        return str(Clock(self._ms, self._counter, self.device))
