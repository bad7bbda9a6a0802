"""Two processes writing at once, plus a looping `novamind sync run`, lose nothing (issue 18).

Two child processes write as fast as they can to one workstation's store (each write a read
then an insert, as services do), while the test runs `novamind sync run` again and again
against the moto bucket. Afterwards every write a child saw acknowledged is in the store,
no write failed, and every sync run exited 0. On the old store code (deferred transactions
that fail at once on their read-to-write upgrade) syncs fail with "database is locked" and
writers lose writes.

The load runs for the issue's 60 s (the whole test takes about 70 s on the 2-core test
machine); NOVAMIND_CONCURRENT_WRITERS_S lowers it for quick local runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from sqlalchemy import select

from app.core.store.models import Patient
from tests.conftest import REPO
from tests.integration.sync.helpers import Bucket, cli_env, make_bucket, open_workstation
from tests.support.keyring_backends import FileKeyring
from tests.support.moto import running_moto

SECONDS = float(os.environ.get("NOVAMIND_CONCURRENT_WRITERS_S", "60"))


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


def test_two_writers_and_a_looping_sync_lose_nothing(
    moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOVAMIND_TEST_KEYRING_FILE", str(tmp_path / "keyring.json"))
    keyring.set_keyring(FileKeyring())
    bucket: Bucket = make_bucket(moto_url, tmp_path / "it")
    open_workstation(tmp_path, "ws", bucket).close()  # store made, enrolled, approved
    env = cli_env(tmp_path, "ws", bucket)

    writers = []
    for tag in ("W1", "W2"):
        acks, errs = tmp_path / f"{tag}.acks", tmp_path / f"{tag}.errors"
        cmd = [sys.executable, "-m", "tests.integration.core.concurrent_writer",
               str(SECONDS), str(acks), str(errs), tag]  # fmt: skip
        writers.append((subprocess.Popen(cmd, env=env, cwd=REPO), acks, errs))  # noqa: S603

    syncs: list[tuple[int, float, str]] = []  # (exit code, seconds, last stderr line)
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        started = time.monotonic()
        r = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "app.cli", "sync", "run"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=SECONDS + 60,
        )  # fmt: skip
        tail = (r.stderr.strip().splitlines() or [""])[-1]
        syncs.append((r.returncode, time.monotonic() - started, tail))
    for proc, _, _ in writers:
        assert proc.wait(timeout=120) == 0

    acked = [a.read_text().split() for _, a, _ in writers]
    errors = [line for _, _, e in writers for line in e.read_text().splitlines()]
    ws = open_workstation(tmp_path, "ws", bucket, enrol=False)
    try:
        present = set(ws.ctx.store.read(lambda s: list(s.scalars(select(Patient.id)))))
    finally:
        ws.close()
    lost = [pid for ids in acked for pid in ids if pid not in present]
    failed = [s for s in syncs if s[0] != 0]
    summary = (
        f"{len(syncs)} sync runs, {len(failed)} failed {[f[2] for f in failed][:3]}; "
        f"writes acknowledged {[len(v) for v in acked]}, lost {len(lost)}, "
        f"failed {len(errors)} {errors[:3]}"
    )
    print(summary)
    assert all(len(ids) >= 20 for ids in acked), summary  # both really wrote
    assert len(syncs) >= 3, summary  # the sync really ran, again and again
    assert not lost, summary  # every acknowledged write is in the store
    assert not errors, summary  # no write failed
    assert not failed, summary  # every sync run exited 0
