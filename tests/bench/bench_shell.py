"""Shell benchmarks: cold start to a painted login window, event-loop stall while a background
task runs, idle RSS. Run: `python -m tests.bench.bench_shell` (uses QT_QPA_PLATFORM=offscreen
unless a display is set)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _env(tmp: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NOVAMIND_DATA_DIR=str(Path(tmp) / "data"),
        NOVAMIND_POLICY=str(Path(tmp) / "policy.toml"),
        PYTHONPATH=str(REPO),
        PYTHON_KEYRING_BACKEND="tests.support.keyring_backends.FileKeyring",
        NOVAMIND_TEST_KEYRING_FILE=str(Path(tmp) / "keyring.json"),
    )
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def cold_start(runs: int = 5) -> tuple[list[float], list[float]]:
    """(first paint as printed by the app, whole-process wall time) in seconds."""
    tmp = tempfile.mkdtemp(prefix="novamind-bench-")
    env = _env(tmp)
    cmd = [sys.executable, "-m", "ui.launcher", "--exit-after-paint"]
    subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, check=True)  # creates the store
    paint, wall = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True)
        wall.append(time.perf_counter() - t0)
        paint.append(float(out.stdout.split("after")[1].split()[0]))
    return paint, wall


def stall_and_rss() -> tuple[float, float, float]:
    """Max gap of a 5 ms timer with and without a CPU-bound pool task; RSS after sign-in."""
    import keyring

    tmp = tempfile.mkdtemp(prefix="novamind-bench-")
    os.environ.update({k: v for k, v in _env(tmp).items() if k.startswith(("NOVAMIND", "QT_"))})
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD, create_demo_clinic
    from app.services.context import AppContext
    from tests.support.keyring_backends import MemoryKeyring
    from ui import theme
    from ui.shell import ShellWindow

    keyring.set_keyring(MemoryKeyring())
    app = QApplication.instance() or QApplication([])
    theme.apply(app, "light")
    ctx = AppContext.open(load_settings())
    create_demo_clinic(ctx, patients=30, actigraphy_days=7)
    w = ShellWindow(ctx)
    w.show()

    def pump(until: float) -> None:
        while time.perf_counter() < until:
            app.processEvents()
            time.sleep(0.001)

    def max_gap(seconds: float, busy: bool) -> float:
        timer, clock, gaps = QTimer(), QElapsedTimer(), []
        timer.setInterval(5)
        clock.start()
        last = [clock.elapsed()]

        def tick() -> None:
            now = clock.elapsed()
            gaps.append(now - last[0])
            last[0] = now

        timer.timeout.connect(tick)
        if busy:

            def work(token, progress):  # noqa: ANN001, ANN202 — CPU-bound pure Python
                total = 0
                for i in range(60):
                    token.check()
                    total += sum(j * j for j in range(200_000))
                    progress(i * 100 // 60, "")
                return total

            w.tasks.run(work, label="bench work")
        timer.start()
        pump(time.perf_counter() + seconds)
        timer.stop()
        return max(gaps[1:]) if len(gaps) > 1 else float("nan")

    w.sign_in("dr.adams", DEMO_PASSWORD, "")
    pump(time.perf_counter() + 2.0)
    idle_gap = max_gap(2.0, busy=False)
    busy_gap = max_gap(3.0, busy=True)
    w.tasks.cancel_all()
    w.tasks.wait()
    rss_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS")
    )
    w.close()
    ctx.close()
    return idle_gap, busy_gap, rss_kb / 1024


def main() -> None:
    paint, wall = cold_start()
    idle_gap, busy_gap, rss = stall_and_rss()
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(
        f"| cold start to painted login (app's own clock, median of 5) | "
        f"{statistics.median(paint):.3f} s | ≤ 1.0 s |"
    )
    print(f"| whole process incl. exit (wall, median of 5) | {statistics.median(wall):.3f} s | — |")
    print(f"| max 5 ms-timer gap, idle | {idle_gap:.0f} ms | — |")
    print(f"| max 5 ms-timer gap, CPU task on pool | {busy_gap:.0f} ms | < 50 ms |")
    print(f"| RSS after sign-in (30-patient demo) | {rss:.0f} MB | ≤ 400 MB |")


if __name__ == "__main__":
    main()
