"""A token bucket per client: `rate_per_min` requests a minute, bursts up to the same count."""

from __future__ import annotations

import threading
import time


class RateLimiter:
    """Thread-safe buckets keyed by client id."""

    def __init__(self, rate_per_min: int) -> None:
        self.capacity = float(rate_per_min)
        self.refill_per_s = rate_per_min / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last time)
        self._lock = threading.Lock()

    def allow(self, client_id: str) -> bool:
        """Take one token for `client_id`; False when its bucket is empty."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
            ok = tokens >= 1.0
            self._buckets[client_id] = (tokens - 1.0 if ok else tokens, now)
            return ok
