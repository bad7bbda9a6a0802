"""The load test's clients, run in a process of their own so that their Python work does not
share the gateway's interpreter lock: N threads, one keep-alive TLS connection each, mixed GETs.

Paced (`rate_per_client` > 0): each client sends on a fixed schedule (50 clients x 4/s is the
issue's offered load of 200 requests/s), phases spread evenly; a client whose answer comes
late sends its next request at once (its lag behind the schedule is reported). Unpaced (0):
each client sends its next request as soon as the previous answer came (saturation).

    python -m tests.integration.gateway.load_client CONFIG.json  -> JSON on stdout:
    {"wall_s": s, "results": [[latency_s, status, lag_s], ...]}
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run the clients of `cfg` (url, cafile, token, reads, clients, requests_each,
    time_limit_s, optional rate_per_client); returns wall time and per-request results."""
    ca = ssl.create_default_context(cafile=cfg["cafile"])
    headers = {"Authorization": f"Bearer {cfg['token']}"}
    reads = cfg["reads"]  # [[path, params or null], ...]
    clients = int(cfg["clients"])
    rate = float(cfg.get("rate_per_client") or 0)
    period = 1.0 / rate if rate else 0.0
    start: list[float] = []  # set once every client connected, before any is let go
    ready = threading.Barrier(clients + 1, action=lambda: start.append(time.perf_counter() + 0.2))

    def one_client(n: int) -> list[list[float]]:
        out: list[list[float]] = []
        with httpx.Client(base_url=cfg["url"], verify=ca, timeout=60) as http:
            http.get("/fhir/metadata")  # connect (TLS handshake) before timing
            ready.wait(120)
            t_start = start[0]
            due = t_start + period * n / clients  # phases spread over one period
            for i in range(cfg["requests_each"]):
                path, params = reads[(n + i) % len(reads)]
                if period:
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                t0 = time.perf_counter()
                r = http.get(path, params=params, headers=headers)
                out.append([time.perf_counter() - t0, r.status_code, max(0.0, t0 - due)])
                due += period
                if time.perf_counter() - t_start > cfg["time_limit_s"]:
                    break
        return out

    with ThreadPoolExecutor(clients) as pool:
        batches = [pool.submit(one_client, n) for n in range(clients)]
        ready.wait(120)  # every client connected
        results = [x for b in batches for x in b.result()]
    return {"wall_s": time.perf_counter() - start[0], "results": results}


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as fh:
        cfg = json.load(fh)
    json.dump(run(cfg), sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
