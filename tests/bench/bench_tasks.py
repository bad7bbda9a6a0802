"""Concurrent service reads through the UI's task API: the time for a burst of patient-overview
reads (what opening workspaces and refreshing panels sends) on the SQLCipher store, with the
TaskManager's pool at its default size against a pool of one thread, which is how every service
call ran while the store's connection pool could close another thread's connection (issue 19).
Both run side by side in one process on one store; the event-loop stall is measured meanwhile.

Run: `xvfb-run -a python -m tests.bench tasks` (or QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

READS = 60  # overview reads per burst (30 patients, twice)
ROUNDS = 5


def main() -> None:
    import keyring

    tmp = Path(tempfile.mkdtemp(prefix="novamind-bench-"))
    os.environ.update(NOVAMIND_DATA_DIR=str(tmp / "data"), NOVAMIND_POLICY=str(tmp / "p.toml"))
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services import auth, overview, patients
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from ui.tasks import TaskManager

    keyring.set_keyring(MemoryKeyring())
    app = QApplication.instance() or QApplication([])
    ctx = AppContext.open(load_settings())
    create_demo_clinic(ctx, patients=30, actigraphy_days=7)
    me = auth.login(ctx, "dr.adams", DEMO_PASSWORD)
    ids = [p.id for p in patients.list_patients(ctx, me)]
    burst = (ids * (READS // len(ids) + 1))[:READS]

    def run_burst(threads: int) -> tuple[float, float]:
        """(seconds until every read was delivered, max gap of a 5 ms GUI timer meanwhile)."""
        tasks = TaskManager(ctx, max_threads=threads)
        done: list[object] = []
        timer, clock, gaps = QTimer(), QElapsedTimer(), []
        timer.setInterval(5)
        clock.start()
        last = [clock.elapsed()]

        def tick() -> None:
            gaps.append(clock.elapsed() - last[0])
            last[0] = clock.elapsed()

        timer.timeout.connect(tick)
        timer.start()
        t0 = time.perf_counter()
        for pid in burst:
            tasks.call(
                overview.patient_overview, ctx, me, pid, label="overview", on_done=done.append
            )
        while len(done) < len(burst):
            app.processEvents()
            time.sleep(0.0005)
        seconds = time.perf_counter() - t0
        timer.stop()
        tasks.wait()
        tasks.deleteLater()
        return seconds, max(gaps[1:], default=float("nan"))

    def behind_slow_read(threads: int) -> float:
        """Seconds until one overview read is delivered when it was queued right after a long
        read (20 overviews in one call, like building a report): head-of-line blocking."""
        tasks = TaskManager(ctx, max_threads=threads)
        got: list[float] = []
        tasks.call(lambda: [overview.patient_overview(ctx, me, i) for i in ids[:20]], label="long")
        t0 = time.perf_counter()
        tasks.call(
            overview.patient_overview,
            ctx,
            me,
            ids[-1],
            label="quick",
            on_done=lambda _r: got.append(time.perf_counter() - t0),
        )
        while not got:
            app.processEvents()
            time.sleep(0.0005)
        tasks.wait()
        tasks.deleteLater()
        return got[0]

    run_burst(4)  # warm caches and connections
    serial, pooled = [], []
    for _ in range(ROUNDS):  # interleaved, so load changes hit both alike
        serial.append(run_burst(1))
        pooled.append(run_burst(4))
    quick = {n: statistics.median(behind_slow_read(n) for _ in range(ROUNDS)) for n in (1, 4)}
    s = statistics.median(t for t, _ in serial)
    p = statistics.median(t for t, _ in pooled)
    print(f"{READS} patient-overview reads through TaskManager.call, median of {ROUNDS} rounds")
    print("| pool | burst time | per read | max GUI gap |")
    print("| --- | --- | --- | --- |")
    for name, runs in (("1 thread (before)", serial), ("4 threads (now)", pooled)):
        t = statistics.median(x for x, _ in runs)
        gap = max(g for _, g in runs)
        print(f"| {name} | {1000 * t:.0f} ms | {1000 * t / READS:.1f} ms | {gap:.0f} ms |")
    print(f"\nspeed-up of the burst: {s / p:.2f}x (cores: {os.cpu_count()})")
    print(
        f"one read queued behind a long read: {1000 * quick[1]:.0f} ms on 1 thread, "
        f"{1000 * quick[4]:.0f} ms on 4 threads ({quick[1] / quick[4]:.1f}x sooner)"
    )
    ctx.close()


if __name__ == "__main__":
    main()
