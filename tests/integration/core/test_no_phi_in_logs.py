"""Canary names travel through services, errors and the CLI; no log file may contain them."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.domain import Role
from app.core.errors import NovamindError
from app.core.logging_setup import configure_logging
from app.services import notes, patients
from app.services.context import AppContext
from tests.conftest import REPO, cli_env, make_user
from tests.support.records import add_patient

CANARIES = ["Zyxcanary", "Qwertonia", "MRN-CANARY-77", "canary-note-body-secret"]


def test_no_canary_in_any_log(env: dict, tmp_path: Path) -> None:
    from app.core.config import load_settings

    settings = load_settings(env)
    log_path = configure_logging(settings.log_dir, logging.DEBUG)
    ctx = AppContext.open(settings)
    try:
        me = make_user(ctx, "canary.doc", Role.CLINICIAN)

        def canary_patient() -> str:  # the second call is refused: the MRN exists
            return add_patient(
                ctx, me, CANARIES[2], given_name=CANARIES[1], family_name=CANARIES[0], sex="male"
            )

        pid = canary_patient()
        patients.list_patients(ctx, me, search=CANARIES[0])
        note = notes.create_draft(ctx, me, pid, "t", CANARIES[3])
        notes.sign(ctx, me, note.id)
        for bad in (
            canary_patient,
            lambda: notes.update_draft(ctx, me, note.id, CANARIES[0], CANARIES[3]),
        ):
            with pytest.raises(NovamindError) as info:
                bad()
            assert not any(c in str(info.value) for c in CANARIES)
        # a subscriber crash is logged with its traceback; it must not carry the payload's PHI
        from app.core.events import PatientDataUpdated

        ctx.bus.subscribe(PatientDataUpdated, lambda e: 1 / 0)
        notes.create_draft(ctx, me, pid, "t2", CANARIES[3])
    finally:
        ctx.close()
    # the CLI in a child process writes to the same log dir
    keyring_file = tmp_path / "kr.json"
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "doctor"],
        env=cli_env(env, keyring_file),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode in (0, 1)
    logging.getLogger().handlers[-1].flush()
    logs = list(settings.log_dir.rglob("*.log*"))
    assert log_path in logs
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in logs)
    assert "subscriber" in text or "event handler failed" in text  # the log did record things
    for canary in CANARIES:
        assert canary not in text, f"PHI canary leaked into logs: {canary}"
