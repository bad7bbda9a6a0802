"""A unique canary travels in the data of every error path (CLI, import, backup, logging of
third-party exceptions); the log files, stderr and the user-facing messages never hold it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy.exc

from app.core.config import load_settings
from app.core.domain import Role
from app.core.errors import NovamindError
from app.core.logging_setup import configure_logging, safe_traceback
from app.services import backup, fhir_exchange
from app.services.context import AppContext
from tests.conftest import REPO, cli_env, make_user
from tests.support.records import add_patient

CANARY = f"Qcanary{uuid.uuid4().hex[:12]}"


def _log_text(log_dir: Path) -> str:
    for h in logging.getLogger().handlers:
        h.flush()
    return "".join(p.read_text("utf-8", "replace") for p in log_dir.rglob("*.log*"))


def test_log_format_withholds_exception_messages(tmp_path: Path) -> None:
    """The file handler's guard: tracebacks are classes + frames, library values withheld."""
    path = configure_logging(tmp_path / "logs", logging.DEBUG)
    try:
        raise ValueError(f"stored value {CANARY}")
    except ValueError as inner:
        try:
            raise sqlalchemy.exc.IntegrityError("INSERT ...", {"mrn": CANARY}, inner) from inner
        except sqlalchemy.exc.IntegrityError as exc:
            logging.getLogger("app.test").exception("insert failed for %s", exc)
            logging.getLogger("sqlalchemy.pool").error("driver said %s", CANARY, exc_info=True)
            trace = safe_traceback(exc)
    logging.getLogger("py.warnings").warning("%s", f"SAWarning: value {CANARY}")
    text = _log_text(path.parent)
    assert "IntegrityError" in text and "ValueError" in text  # the log did record the errors
    assert "test_log_format_withholds_exception_messages" in text  # with frame locations
    assert CANARY not in text
    assert CANARY not in trace and "IntegrityError" in trace


def _bundle(answer: object, code: str = "phq9") -> dict:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "QuestionnaireResponse",
                    "status": "completed",
                    "questionnaire": code,
                    "authored": "2026-01-01T10:00:00Z",
                    "subject": {"display": CANARY},
                    "item": [{"linkId": "q1", "answer": [{"valueInteger": answer}]}],
                }
            }
        ],
    }


@pytest.mark.parametrize(
    "content",
    [
        f"not json at all {CANARY}",
        json.dumps(_bundle(CANARY)),
        json.dumps(_bundle(3, code=CANARY)),
        json.dumps({"resourceType": CANARY}),
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": {CANARY: CANARY}}]}),
    ],
    ids=["text", "answer", "instrument", "type", "key"],
)
def test_fhir_import_of_bad_file_never_echoes_its_content(
    env: dict, tmp_path: Path, content: str
) -> None:
    settings = load_settings(env)
    configure_logging(settings.log_dir, logging.DEBUG)
    ctx = AppContext.open(settings)
    try:
        me = make_user(ctx, "canary.import", Role.CLINICIAN)
        pid = add_patient(
            ctx,
            me,
            "C-1",
            given_name="C",
            family_name="D",
            birth_date=date(1970, 1, 1),
            sex="female",
        )
        bad = tmp_path / "bad.json"
        bad.write_text(content, encoding="utf-8")
        with pytest.raises(NovamindError) as info:
            fhir_exchange.import_assessments(ctx, me, pid, bad)
        assert CANARY not in info.value.user_message()
        assert "bad.json" in info.value.user_message()  # still names the file
    finally:
        ctx.close()
    assert CANARY not in _log_text(settings.log_dir)


@pytest.mark.parametrize(
    "content",
    [
        f"{{ broken {CANARY}",
        json.dumps({CANARY: 1}),
        json.dumps({"format": CANARY, "salt": CANARY, "nonce": CANARY, "sealed": CANARY}),
    ],
    ids=["text", "key", "values"],
)
def test_cli_import_of_bad_enrolment_file_never_echoes_it(
    env: dict, tmp_path: Path, content: str
) -> None:
    """The real `novamind` in a child process: stderr and the log stay free of the canary."""
    path = tmp_path / "enrol-x.json"
    path.write_text(content, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "sync", "enrol", str(path)],
        env=cli_env(env, tmp_path / "kr.json"),
        cwd=REPO,
        input="a long enough passphrase\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert "enrol-x.json" in out.stderr  # the error names the file
    assert CANARY not in out.stderr + out.stdout
    assert CANARY not in _log_text(load_settings(env).log_dir)


_MANIFEST = {
    "format": "x",
    "backup_id": "b",
    "created_at": "2026-01-01T00:00:00Z",
    "store_id": "s",
    "schema_revision": "0005",
    "counts": {},
    "audit_head": "",
    "file": "novamind-b.nmbak",
    "file_sha256": "",
    "size": 0,
    "wrap": "local",
}


@pytest.mark.parametrize(
    "manifest",
    [
        f"{{ broken {CANARY}",
        json.dumps({CANARY: 1}),
        json.dumps({**_MANIFEST, "format": CANARY}),
        json.dumps({**_MANIFEST, CANARY: CANARY}),
    ],
    ids=["text", "key-only", "format", "extra-key"],
)
def test_backup_verify_of_bad_manifest_never_echoes_it(
    env: dict, tmp_path: Path, manifest: str
) -> None:
    settings = load_settings(env)
    configure_logging(settings.log_dir, logging.DEBUG)
    path = tmp_path / "m.json"
    path.write_text(manifest, encoding="utf-8")
    with pytest.raises(NovamindError) as info:
        backup.verify(settings, path)
    assert "m.json" in info.value.user_message()
    assert CANARY not in info.value.user_message()
    assert CANARY not in _log_text(settings.log_dir)


def test_cli_unexpected_error_is_logged_without_its_message(env: dict, tmp_path: Path) -> None:
    """An unexpected exception in a command: class and frames only, on stderr and in the log."""
    script = (
        "import sys\n"
        "from app import cli\n"
        "def boom(_args):\n"
        f"    raise RuntimeError('stored value {CANARY}')\n"
        "cli.cmd_doctor = boom\n"
        "orig = cli.build_parser\n"
        "def patched():\n"
        "    p = orig()\n"
        "    p._subparsers._group_actions[0].choices['doctor'].set_defaults(func=boom)\n"
        "    return p\n"
        "cli.build_parser = patched\n"
        "sys.exit(cli.main(['doctor']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=cli_env(env, tmp_path / "kr.json"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0, out.stderr
    assert "RuntimeError" in out.stderr
    assert CANARY not in out.stderr + out.stdout
    text = _log_text(load_settings(env).log_dir)
    assert "RuntimeError" in text and "boom" in text  # class and frame are logged
    assert CANARY not in text
