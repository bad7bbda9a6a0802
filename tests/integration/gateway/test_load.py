"""A bounded load test on loopback (issue 23 item 6): 50 paced clients of mixed reads (one TLS
connection each, in a child process: load_client.py) offering 200 requests/s to the real
gateway over the real store, while the desktop's own sync (another child: desk_sync.py, its
own store and S3) is timed beside it and without it. Every answer must be 200 and every
request sent; the figures (p50/p99, achieved requests/s, the sync's ratio) are printed, not
asserted (docs/bench/gateway.md; `python -m tests.bench gateway` runs the same)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.services import assessments
from app.services.context import AppContext
from tests.conftest import REPO
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import PHQ9

CLIENTS = 50
RATE_PER_CLIENT = 4.0  # 200 requests/s offered
REQUESTS_EACH = 60  # 15 s at that rate: 3,000 requests
TIME_LIMIT_S = 90
SYNC_ROUNDS = 8


def reads_of(clinic: Clinic) -> list[tuple[str, dict[str, str] | None]]:
    """The mixed reads: a patient, a search by name, its scores (Observation), a form."""
    return [
        ("/fhir/Patient/" + clinic.mine, None),
        ("/fhir/Patient", {"name": "Zebedee"}),
        ("/fhir/Observation", {"patient": clinic.mine}),
        ("/fhir/Questionnaire/phq9", None),
    ]


def write_config(path: Path, server: Server, token: str, cafile: Path, **cfg: Any) -> Path:  # noqa: ANN401
    path.write_text(
        json.dumps({"url": server.url, "cafile": str(cafile), "token": token, **cfg}),
        encoding="utf-8",
    )
    return path


def start_clients(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.gateway.load_client", str(config)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def summary(report: dict[str, Any]) -> dict[str, float]:
    """p50/p99/max latency (ms), achieved requests/s, p99 lag behind the schedule (ms)."""
    results, wall = report["results"], report["wall_s"]
    ms = sorted(1000 * r[0] for r in results)
    lag = sorted(1000 * r[2] for r in results)
    return {
        "requests": len(ms),
        "wall_s": wall,
        "rps": len(ms) / wall,
        "p50": statistics.median(ms),
        "p99": ms[int(0.99 * (len(ms) - 1))],
        "max": ms[-1],
        "lag_p99": lag[int(0.99 * (len(lag) - 1))],
    }


class DeskSync:
    """The desk_sync child: set up once, then timed rounds on demand."""

    def __init__(self, root: Path, rounds: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.gateway.desk_sync", str(root), str(rounds)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        if self._line() != "ready":
            raise RuntimeError("the desk sync child did not start")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, list[float]]:
        line = self._line()
        if not line:
            raise RuntimeError("the desk sync child failed")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def measure(
    server: Server, clinic: Clinic, ctx: AppContext, cafile: Path, tmp: Path
) -> dict[str, Any]:
    """The paced load with the desktop's sync timed beside it and alone (shared with the
    bench). Returns the load's report and summary and both sync timings."""
    for _ in range(5):  # a few scores to read back
        assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", dict(PHQ9))
    token = server.token(clinic.client)
    config = write_config(
        tmp / "load.json", server, token, cafile, reads=reads_of(clinic), clients=CLIENTS,
        requests_each=REQUESTS_EACH, rate_per_client=RATE_PER_CLIENT, time_limit_s=TIME_LIMIT_S,
    )  # fmt: skip
    desk = DeskSync(tmp / "desk", SYNC_ROUNDS)
    try:
        desk.go()
        quiet = desk.result()
        clients = start_clients(config)
        time.sleep(3)  # the clients connected and the load runs at its rate
        desk.go()
        loaded = desk.result()
        out, err = clients.communicate(timeout=TIME_LIMIT_S + 120)
        if clients.returncode != 0:
            raise RuntimeError(f"the load clients failed: {err[-2000:]}")
    finally:
        desk.close()
    report = json.loads(out)
    return {"report": report, "load": summary(report), "quiet": quiet, "loaded": loaded}


def sync_ratio(m: dict[str, Any]) -> float:
    return float(statistics.median(m["loaded"]["sync_s"]) / statistics.median(m["quiet"]["sync_s"]))


def describe(m: dict[str, Any]) -> str:
    s = m["load"]
    quiet, loaded = m["quiet"], m["loaded"]
    return (
        f"gateway load: {s['requests']} requests, {CLIENTS} clients x {RATE_PER_CLIENT:g}/s "
        f"offered, {s['wall_s']:.1f} s, {s['rps']:.0f} req/s achieved, p50 {s['p50']:.0f} ms, "
        f"p99 {s['p99']:.0f} ms, max {s['max']:.0f} ms, p99 lag behind schedule "
        f"{s['lag_p99']:.0f} ms\ndesktop sync (median of {SYNC_ROUNDS} rounds): "
        f"{1000 * statistics.median(quiet['sync_s']):.0f} ms alone, "
        f"{1000 * statistics.median(loaded['sync_s']):.0f} ms under load "
        f"(x{sync_ratio(m):.2f}); its 10-patient write {statistics.median(quiet['write_ms']):.0f}"
        f" / {statistics.median(loaded['write_ms']):.0f} ms"
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_fifty_paced_clients_of_reads_beside_the_desktop_sync(
    server: Server, clinic: Clinic, ctx: AppContext, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    m = measure(server, clinic, ctx, tls[0], tmp_path)
    results = m["report"]["results"]
    assert {r[1] for r in results} == {200}
    assert len(results) == CLIENTS * REQUESTS_EACH, "the time limit cut the run short"
    assert len(m["loaded"]["sync_s"]) == SYNC_ROUNDS  # every round synced (pulled its peer)
    print("\n" + describe(m))
