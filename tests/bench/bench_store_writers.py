"""What BEGIN IMMEDIATE costs a small write: median ms per write, deferred vs immediate.

One store, one process, no contention: the same small write (a read of the audit head, a meta
row and an audit link, as a service writes) runs on the writer thread either in a deferred
transaction (the store before issue 18) or through `Store.write` (BEGIN IMMEDIATE). The two
kinds alternate write by write (order swapped each time) so machine noise hits both alike.
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from app.core.store.models import Meta
from app.core.store.store import SYSTEM, Store, UnitOfWork

WRITES = int(os.environ.get("NOVAMIND_BENCH_WRITES", "2000"))  # of each kind


def _small_write(i: int):  # noqa: ANN202
    def do(uow: UnitOfWork) -> None:
        uow.session.get(Meta, f"bench-{i - 1}")  # read first, as services do
        uow.session.merge(Meta(key=f"bench-{i}", value=str(i)))
        uow.audit(SYSTEM, "bench.write", record_type="meta", record_id=str(i))

    return do


def run() -> dict[str, float]:
    """Median and p95 ms per write for both transaction kinds."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db", secrets.token_bytes(32),
                           audit_key=secrets.token_bytes(32))  # fmt: skip
        deferred = sessionmaker(store.engine, expire_on_commit=False)  # plain BEGIN

        def old_write(fn) -> None:  # noqa: ANN001  # the pre-issue-18 _do_write
            with deferred() as session, session.begin():
                fn(UnitOfWork(session=session, audit_key=store.audit_key))

        times: dict[str, list[float]] = {"deferred": [], "immediate": []}
        i = 0
        try:
            for n in range(WRITES):
                pair = ("deferred", "immediate") if n % 2 else ("immediate", "deferred")
                for kind in pair:
                    fn = _small_write(i)
                    i += 1
                    start = time.perf_counter()
                    if kind == "deferred":
                        store._writer.run(lambda fn=fn: old_write(fn))
                    else:
                        store.write(fn)
                    times[kind].append((time.perf_counter() - start) * 1000)
        finally:
            store.close()
    out = {}
    for kind, ms in times.items():
        out[f"{kind}_median_ms"] = statistics.median(ms)
        out[f"{kind}_p95_ms"] = statistics.quantiles(ms, n=20)[18]
    return out


def main() -> None:
    r = run()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{WRITES} writes of each kind, interleaved; load average {load:.1f}\n")
    print("| transaction | median ms / write | p95 ms |")
    print("| --- | ---: | ---: |")
    for kind in ("deferred", "immediate"):
        print(f"| {kind} | {r[kind + '_median_ms']:.2f} | {r[kind + '_p95_ms']:.2f} |")
    print(f"\nratio immediate/deferred: {r['immediate_median_ms'] / r['deferred_median_ms']:.2f}x")


if __name__ == "__main__":
    main()
