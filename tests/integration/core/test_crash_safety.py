"""SIGKILL in the middle of a write burst loses no committed transaction and corrupts nothing."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.security import audit
from app.core.store.models import Encounter, Patient
from app.core.store.store import Store
from tests.conftest import REPO


@pytest.mark.parametrize("kill_after", [0.4, 1.1, 2.3])
def test_sigkill_during_write_burst(tmp_path: Path, kill_after: float) -> None:
    path = tmp_path / "crash.db"
    key = secrets.token_bytes(32)
    first = Store.open(path, key)  # create + migrate before the burst
    audit_key = first.audit_key  # the child has no test keyring: it is handed the audit key
    first.close()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.core.crash_writer",
            str(path),
            key.hex(),
            audit_key.hex(),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    committed: list[str] = []
    deadline = time.monotonic() + 30
    started = None
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        committed.append(line.strip())
        started = started or time.monotonic()
        if time.monotonic() - started >= kill_after:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    committed += [line.strip() for line in child.stdout.read().splitlines() if line.strip()]
    assert len(committed) >= 1, "the child never committed anything"

    store = Store.open(path, key)
    try:
        assert store.integrity_check() == "ok"
        mrns = set(store.read(lambda s: list(s.scalars(select(Patient.mrn)))))
        assert set(committed) <= mrns, "a committed transaction was lost"
        # atomicity: every patient present has all 20 encounters of its transaction
        per_patient = store.read(
            lambda s: s.execute(
                select(Encounter.patient_id, func.count()).group_by(Encounter.patient_id)
            ).all()
        )
        assert {n for _, n in per_patient} <= {20}
        assert store.read(lambda s: audit.verify(s, store.audit_key)).ok
    finally:
        store.close()
