"""The desktop's own sync, timed in a process of its own (as a workstation on the gateway's
machine would be) while the load test runs, and without it: its own moto S3 server, two
enrolled workstations, and rounds of (the peer pushes 10 patients, the desk writes 10 and
syncs) of which the desk's `run_sync` is timed.

    python -m tests.integration.gateway.desk_sync ROOT ROUNDS

Prints "ready" once set up; then for each "go" line on stdin runs ROUNDS rounds and prints a
JSON list of seconds per desk sync (and of ms per desk write); exits at the end of stdin.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keyring

from tests.integration.sync.helpers import add_patients, make_bucket, open_workstation
from tests.support.keyring_backends import MemoryKeyring
from tests.support.moto import running_moto

PER_ROUND = 10  # patients each side writes per round


def main(root: Path, rounds: int) -> None:
    keyring.set_keyring(MemoryKeyring())
    with running_moto() as url:
        bucket = make_bucket(url, root, with_events=False)
        desk = open_workstation(root, "desk", bucket)
        peer = open_workstation(root, "peer", bucket)
        try:
            n = 0
            desk.sync()  # first rounds (registry, keys) are not what is measured
            peer.sync()
            print("ready", flush=True)
            for line in sys.stdin:
                if line.strip() != "go":
                    continue
                syncs, writes = [], []
                for _ in range(rounds):
                    n += 1
                    add_patients(peer, PER_ROUND, f"P{n}")
                    peer.sync()
                    t0 = time.perf_counter()
                    add_patients(desk, PER_ROUND, f"D{n}")
                    t1 = time.perf_counter()
                    report = desk.sync()
                    syncs.append(time.perf_counter() - t1)
                    writes.append(1000 * (t1 - t0))
                    if report.bundles_pulled < 1:
                        raise RuntimeError("the desk pulled nothing from its peer")
                print(json.dumps({"sync_s": syncs, "write_ms": writes}), flush=True)
        finally:
            desk.close()
            peer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
