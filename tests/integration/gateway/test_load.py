"""A bounded load test on loopback: 50 concurrent clients (one TLS connection each, in a child
process: load_client.py) of mixed reads against the real gateway over the real store; every
answer must be 200. Prints p50/p99 latency and requests per second (docs/bench/gateway.md)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from app.services import assessments
from app.services.context import AppContext
from tests.conftest import REPO
from tests.integration.gateway.conftest import Clinic, Server
from tests.integration.gateway.test_fhir_rest import PHQ9

CLIENTS = 50
REQUESTS_EACH = 20  # 1,000 requests in all
TIME_LIMIT_S = 120


@pytest.mark.slow
def test_fifty_concurrent_clients_of_mixed_reads(
    server: Server, clinic: Clinic, ctx: AppContext, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    for _ in range(5):  # a few scores to read back
        assessments.submit(ctx, clinic.clinician, clinic.mine, "phq9", dict(PHQ9))
    token = server.token(clinic.client)
    reads = [
        ("/fhir/Patient/" + clinic.mine, None),
        ("/fhir/Patient", {"name": "Zebedee"}),
        ("/fhir/Observation", {"patient": clinic.mine}),
        ("/fhir/Questionnaire/phq9", None),
    ]
    cfg = tmp_path / "load.json"
    cfg.write_text(
        json.dumps(
            {
                "url": server.url, "cafile": str(tls[0]), "token": token, "reads": reads,
                "clients": CLIENTS, "requests_each": REQUESTS_EACH, "time_limit_s": TIME_LIMIT_S,
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "tests.integration.gateway.load_client", str(cfg)],
        cwd=REPO, capture_output=True, text=True, timeout=TIME_LIMIT_S + 60, check=True,
    )  # fmt: skip
    report = json.loads(out.stdout)
    results, wall = report["results"], report["wall_s"]
    assert {code for _, code in results} == {200}
    assert len(results) == CLIENTS * REQUESTS_EACH, "the time limit cut the run short"
    ms = sorted(1000 * t for t, _ in results)
    p50 = statistics.median(ms)
    p99 = ms[int(0.99 * (len(ms) - 1))]
    print(
        f"\ngateway load: {len(ms)} requests, {CLIENTS} clients, {wall:.1f} s, "
        f"{len(ms) / wall:.0f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms"
    )
