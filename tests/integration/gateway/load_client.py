"""The load test's clients, run in a process of their own so that their Python work does not
share the gateway's interpreter lock: N threads, one TLS connection each, mixed GETs.

    python -m tests.integration.gateway.load_client CONFIG.json  -> JSON latencies on stdout
"""

from __future__ import annotations

import json
import ssl
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def main(config_path: str) -> None:
    cfg = json.loads(open(config_path, encoding="utf-8").read())
    ca = ssl.create_default_context(cafile=cfg["cafile"])
    headers = {"Authorization": f"Bearer {cfg['token']}"}
    reads = cfg["reads"]  # [[path, params or null], ...]
    started = time.perf_counter()

    def one_client(n: int) -> list[list[float]]:
        out = []
        with httpx.Client(base_url=cfg["url"], verify=ca, timeout=60) as http:
            http.get("/fhir/metadata")  # connect (TLS handshake) before timing
            for i in range(cfg["requests_each"]):
                path, params = reads[(n + i) % len(reads)]
                t0 = time.perf_counter()
                r = http.get(path, params=params, headers=headers)
                out.append([time.perf_counter() - t0, r.status_code])
                if time.perf_counter() - started > cfg["time_limit_s"]:
                    break
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(cfg["clients"]) as pool:
        results = [x for batch in pool.map(one_client, range(cfg["clients"])) for x in batch]
    json.dump({"wall_s": time.perf_counter() - t0, "results": results}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
