"""Memory benchmark of the shell: RSS after sign-in, after opening three patients' Twin tabs in
turn, and over open/close cycles (growth per cycle). Runs the real ShellWindow on the demo
clinic in a child process (under Xvfb when no display is set), so the parent's imports do not
count. The demo clinic is built by an earlier process, as a clinic's store exists before a
session starts (building it in the measured process would count its generator and training).
Run: `python -m tests.bench memory` (or `python -m tests.bench.bench_memory [cycles]`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CYCLES = 50
PATIENTS = 30


def rss_mb() -> float:
    """Resident set size of this process in MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _wait(app: object, cond: object, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.002)
        if time.monotonic() > end:
            raise TimeoutError("timed out")


def _settle(app: object, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.005)


def make_clinic() -> None:
    """Build the demo clinic's store (runs in its own process before the measured one)."""
    from app.core.config import load_settings
    from app.demo import create_demo_clinic
    from app.services.context import AppContext

    ctx = AppContext.open(load_settings())
    create_demo_clinic(ctx, patients=PATIENTS, actigraphy_days=7)
    ctx.close()


def child(cycles: int) -> dict[str, object]:
    """Drive the shell and return the RSS figures (runs in the child process)."""
    import gc

    from PySide6.QtWidgets import QApplication

    from app.core.config import load_settings
    from app.demo import DEMO_PASSWORD
    from app.services import patients
    from app.services.context import AppContext
    from ui import theme
    from ui.shell import ShellWindow

    app = QApplication.instance() or QApplication([])
    theme.apply(app, "light")
    ctx = AppContext.open(load_settings())
    w = ShellWindow(ctx)
    w.resize(1280, 800)
    w.show()
    w.sign_in("dr.adams", DEMO_PASSWORD, "")
    _wait(app, lambda: w.principal is not None and not w.tasks.active())
    _settle(app, 1.0)
    gc.collect()
    out: dict[str, object] = {"signed_in": rss_mb()}
    pids = [p.id for p in patients.list_patients(ctx, w.principal)]
    ws = w.workspace

    def open_twin(pid: str) -> None:
        w.open_patient(pid)
        _wait(app, lambda: ws.patient_id == pid and not w.tasks.active())
        ws.tabs.setCurrentWidget(ws.twin)
        _wait(app, lambda: ws.twin.view is not None and ws.twin.view.timeline is not None)
        _wait(app, lambda: not w.tasks.active())
        _settle(app, 2.0)  # what a user sees a moment after the tab opened

    per_patient = []
    for pid in pids[:3]:
        open_twin(pid)
        per_patient.append(rss_mb())
    gc.collect()
    out["three_twins"] = per_patient
    series = []
    for k in range(cycles):
        open_twin(pids[(3 + k) % len(pids)])
        ws.close_patient(save=False)
        _wait(app, lambda: not w.tasks.active())
        _settle(app, 0.05)
        gc.collect()
        series.append(rss_mb())
    out["cycles"] = series
    w.close()
    ctx.close()
    return out


def _slope(ys: list[float]) -> float:
    """Least-squares growth per step."""
    n = len(ys)
    if n < 2:
        return float("nan")
    mx, my = (n - 1) / 2, sum(ys) / n
    num = sum((i - mx) * (y - my) for i, y in enumerate(ys))
    return num / sum((i - mx) ** 2 for i in range(n))


def measure(cycles: int = CYCLES) -> dict[str, object]:
    """Run the child under a fresh data dir (and Xvfb if there is no display)."""
    tmp = tempfile.mkdtemp(prefix="novamind-bench-mem-")
    env = dict(os.environ)
    env.update(
        NOVAMIND_DATA_DIR=str(Path(tmp) / "data"),
        NOVAMIND_POLICY=str(Path(tmp) / "policy.toml"),
        PYTHONPATH=str(REPO),
        PYTHON_KEYRING_BACKEND="tests.support.keyring_backends.FileKeyring",
        NOVAMIND_TEST_KEYRING_FILE=str(Path(tmp) / "keyring.json"),
    )
    make = [sys.executable, "-m", "tests.bench.bench_memory", "--make-clinic"]
    subprocess.run(make, env=env, cwd=REPO, capture_output=True, check=True)
    cmd = [sys.executable, "-m", "tests.bench.bench_memory", "--child", str(cycles)]
    if not env.get("DISPLAY") and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *cmd]
    elif not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    try:
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"memory bench child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(line.removeprefix("RESULT "))


def main(cycles: int = CYCLES) -> None:
    r = measure(cycles)
    three = r["three_twins"]
    series = r["cycles"]
    tail = series[len(series) // 5 :]  # the first cycles still fill allocator pools
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| RSS after sign-in (30-patient demo) | {r['signed_in']:.0f} MB | — |")
    print(
        "| RSS after 1st / 2nd / 3rd patient's Twin tab | "
        + " / ".join(f"{v:.0f}" for v in three)
        + " MB | ≤ 400 MB |"
    )
    print(
        f"| RSS over {len(series)} open/close cycles (first → last, max) | "
        f"{series[0]:.0f} → {series[-1]:.0f} MB (max {max(series):.0f}) | no growth |"
    )
    print(
        f"| growth per cycle (least squares, cycles {len(series) - len(tail) + 1}–"
        f"{len(series)}) | {_slope(tail) * 1024:.0f} kB | ≈ 0 |"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--make-clinic":
        make_clinic()
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        res = child(int(sys.argv[2]) if len(sys.argv) > 2 else CYCLES)
        print("RESULT " + json.dumps(res), flush=True)
        sys.stdout.flush()
        os._exit(0)  # skip interpreter teardown of VTK/Qt: only the figures matter here
    main(int(sys.argv[1]) if len(sys.argv) > 1 else CYCLES)
