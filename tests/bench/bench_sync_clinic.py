"""Clinic-scale sync: 50 signed workstations on one loopback moto server until quiet.

Each workstation is a real encrypted store, enrolled and certified through IT's keystore.
Every round each one makes random offline edits (new patients, some with an MRN another
workstation registers too; edits of shared patients' fields, so the same field changes on
several devices) and then all of them sync in a random order. After the last edit round
they keep syncing until one full pass moves nothing. Then: every store must be identical,
every patient ever created present once, and the requests are counted per change.

Run: python -m tests.bench sync_clinic   (NOVAMIND_BENCH_CLINIC_STATIONS=50,
NOVAMIND_BENCH_CLINIC_ROUNDS=3)
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import keyring

from tests.bench.bench_sync import Counter
from tests.integration.sync.helpers import (
    add_patients,
    dump,
    edit_patient,
    make_bucket,
    open_workstation,
)
from tests.support.keyring_backends import MemoryKeyring


def _signature_cost(bucket: object) -> tuple[int, float, float]:
    """(bundles, mean µs to verify one signature, mean KiB) over every bundle in the bucket."""
    from sync.envelope import read_header, signed_part
    from sync.identity import verify_raw

    s3 = bucket.s3()  # type: ignore[attr-defined]
    name = bucket.name  # type: ignore[attr-defined]
    blobs = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for o in page.get("Contents", []):
            if "/dev/" in o["Key"]:
                blobs.append(s3.get_object(Bucket=name, Key=o["Key"])["Body"].read())
    from sync.registry import Registry

    keystore = bucket.keystore  # type: ignore[attr-defined]
    from app.services import sync_it

    reg: Registry = sync_it.load_registry(bucket.transport(), keystore)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for blob in blobs:
        header, _ = read_header(blob)
        signed, sig = signed_part(blob)
        verify_raw(reg.devices[header.device].sign_key, sig, signed)
    per = (time.perf_counter() - t0) / max(1, len(blobs))
    return len(blobs), per * 1e6, statistics.mean(len(b) for b in blobs) / 1024 if blobs else 0.0


def main() -> None:
    """Measure and print a markdown table."""
    from tests.support.moto import running_moto

    keyring.set_keyring(MemoryKeyring())
    n_ws = int(os.environ.get("NOVAMIND_BENCH_CLINIC_STATIONS", "50"))
    rounds = int(os.environ.get("NOVAMIND_BENCH_CLINIC_ROUNDS", "3"))
    rng = random.Random(20261206)
    with running_moto() as url, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bucket = make_bucket(url, root)
        t0 = time.perf_counter()
        stations = [
            open_workstation(
                root, f"ws{i:02d}", bucket, roles=("clinical", "admin") if i == 0 else ("clinical",)
            )
            for i in range(n_ws)
        ]
        setup_s = time.perf_counter() - t0
        counters = [Counter(ws) for ws in stations]
        created: set[str] = set()
        changes = collisions = 0
        seed = add_patients(stations[0], 20, "SHARED")
        created |= set(seed)
        changes += len(seed)
        sync_s, syncs = 0.0, 0

        def sync_all() -> int:
            nonlocal sync_s, syncs
            moved = 0
            for ws in rng.sample(stations, len(stations)):
                t = time.perf_counter()
                r = ws.sync()
                sync_s += time.perf_counter() - t
                syncs += 1
                moved += r.bundles_pushed + r.bundles_pulled
            return moved

        sync_all()
        for rnd in range(rounds):
            for i, ws in enumerate(stations):
                new = add_patients(ws, rng.randint(0, 2), f"R{rnd}W{i}")
                created |= set(new)
                changes += len(new)
                known = sorted(set(dump(ws)["patients"]) & set(seed))
                for pid in rng.sample(known, min(2, len(known))):
                    edit_patient(ws, pid, status=f"r{rnd}-w{i}")  # same field, many devices
                    changes += 1
            for k in range(3):  # MRN collisions: the same MRN registered on two workstations
                a, b = rng.sample(stations, 2)
                for ws in (a, b):
                    (pid,) = add_patients(ws, 1, f"COLL{rnd}{k}")
                    edit_patient(ws, pid, mrn=f"MRN-COLL-{rnd}-{k}")
                    created.add(pid)
                    changes += 2
                collisions += 1
            sync_all()
        passes = 0
        while True:
            passes += 1
            if sync_all() == 0:
                break
        dumps = [dump(ws) for ws in stations]
        converged = all(d == dumps[0] for d in dumps)
        present = set(dumps[0]["patients"])
        lost = len(created - present)
        mrns = [p["mrn"] for p in dumps[0]["patients"].values()]
        duplicated = len(mrns) - len(set(mrns)) + len(present - created)
        requests = sum(c.n for c in counters)
        n_bundles, verify_us, mean_kib = _signature_cost(bucket)
        for ws in stations:
            ws.close()
    total_s = time.perf_counter() - t0
    rows = [
        ("workstations", n_ws),
        ("edit rounds, then passes until quiet", f"{rounds}, {passes}"),
        ("changes made (records created or edited)", changes),
        ("MRN collisions made", collisions),
        ("converged (every store identical)", "yes" if converged else "NO"),
        ("patients lost / duplicated", f"{lost} / {duplicated}"),
        ("sync cycles run", syncs),
        ("requests, all workstations", f"{requests} ({requests / changes:.1f} per change, "
         f"{requests / syncs:.1f} per cycle)"),
        ("bundles in the bucket (mean size)", f"{n_bundles} ({mean_kib:.1f} KiB)"),
        ("signature verification per bundle", f"{verify_us:.0f} µs"),
        ("time in sync cycles / per cycle", f"{sync_s:.1f} s / {1000 * sync_s / syncs:.0f} ms"),
        (f"set-up ({n_ws} stores, enrol, certify)", f"{setup_s:.1f} s"),
        ("total", f"{total_s:.1f} s"),
    ]  # fmt: skip
    print("| measure | value |")
    print("| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
