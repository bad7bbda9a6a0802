"""Sync benchmark: initial sync throughput and incremental sync of 1 change among N records.

Two workstations (real encrypted stores) against moto's S3/EventBridge server on loopback.
Requests are counted with a botocore `before-send` hook on every client the transport uses.
Run: python -m tests.bench.bench_sync   (NOVAMIND_BENCH_SYNC_RECORDS=100000 by default)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import keyring

from tests.integration.sync.helpers import (
    Workstation,
    add_patients,
    edit_patient,
    make_bucket,
    open_workstation,
)
from tests.support.keyring_backends import MemoryKeyring


class Counter:
    def __init__(self, ws: Workstation) -> None:
        self.n = 0
        for client in (ws.transport.s3, ws.transport.events):
            client.meta.events.register("before-send", self._hit)

    def _hit(self, **_: object) -> None:
        self.n += 1


def _timed(ws: Workstation, counter: Counter) -> tuple[float, int, object]:
    before = counter.n
    t0 = time.perf_counter()
    report = ws.sync()
    return time.perf_counter() - t0, counter.n - before, report


def main() -> None:
    """Measure and print a markdown table."""
    from tests.support.moto import running_moto

    keyring.set_keyring(MemoryKeyring())
    n = int(os.environ.get("NOVAMIND_BENCH_SYNC_RECORDS", "100000"))
    with running_moto() as url, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bucket = make_bucket(url, root)
        a = open_workstation(root, "a", bucket)
        b = open_workstation(root, "b", bucket)
        ca, cb = Counter(a), Counter(b)
        ids: list[str] = []
        for i in range(0, n, 10000):
            ids += add_patients(a, min(10000, n - i), f"R{i}")
        push_s, push_req, _ = _timed(a, ca)
        pull_s, pull_req, _ = _timed(b, cb)
        _timed(a, ca)  # settle: a learns b's cursor state
        edit_patient(a, ids[n // 2], status="inactive")
        inc_push_s, inc_push_req, _ = _timed(a, ca)
        inc_pull_s, inc_pull_req, rep = _timed(b, cb)
        a.close()
        b.close()
    rows = [
        (
            "initial push (capture+seal+upload)",
            f"{n} records",
            f"{push_s:.2f} s",
            push_req,
            f"{n / push_s:,.0f} rec/s",
        ),
        (
            "initial pull (download+verify+merge)",
            f"{n} records",
            f"{pull_s:.2f} s",
            pull_req,
            f"{n / pull_s:,.0f} rec/s",
        ),
        (
            "initial sync end to end",
            f"{n} records",
            f"{push_s + pull_s:.2f} s",
            push_req + pull_req,
            f"{n / (push_s + pull_s):,.0f} rec/s (target >= 1,000)",
        ),
        (
            "incremental: 1 change, sending device",
            f"1 of {n}",
            f"{inc_push_s:.3f} s",
            inc_push_req,
            "target <= 1 s, <= 5 requests",
        ),
        (
            "incremental: 1 change, receiving device",
            f"1 of {n}",
            f"{inc_pull_s:.3f} s",
            inc_pull_req,
            f"merged {getattr(rep, 'records_merged', '?')} record(s)",
        ),
    ]
    print("| step | size | time | requests | rate / note |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


if __name__ == "__main__":
    main()
