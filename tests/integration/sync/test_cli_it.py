"""IT's and the workstation's commands, run as IT would run them: `novamind it ...` and
`novamind sync ...` in child processes against the moto bucket."""

from __future__ import annotations

import re
from pathlib import Path

from tests.integration.sync.helpers import Bucket, cli_env
from tests.support.cli import run as _run

IT_PASS = "the IT keystore passphrase"
ENROL_PASS = "the enrolment passphrase"


def test_it_enrols_a_workstation_then_revokes_it(bucket: Bucket, tmp_path: Path) -> None:
    env = cli_env(tmp_path, "ws-cli", bucket)
    ks, enrol = tmp_path / "it" / "keystore.json", tmp_path / "it" / "enrol.json"

    r = _run(env, "it", "init", str(ks), stdin=IT_PASS + "\n")
    assert r.returncode == 0, r.stderr
    fingerprint = re.search(r"fingerprint: ([0-9a-f ]+)", r.stdout).group(1).strip()
    assert oct(ks.stat().st_mode & 0o777) == "0o600"
    again = _run(env, "it", "init", str(ks), stdin=IT_PASS + "\n")
    assert again.returncode == 2 and "never overwritten" in again.stderr

    r = _run(env, "it", "create-enrolment", str(enrol), "--keystore", str(ks),
             stdin=f"{IT_PASS}\n{ENROL_PASS}\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    wrong = _run(env, "it", "create-enrolment", str(tmp_path / "x.json"), "--keystore", str(ks),
                 stdin=f"not the passphrase\n{ENROL_PASS}\n")  # fmt: skip
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr

    r = _run(env, "sync", "enrol", str(enrol), stdin=ENROL_PASS + "\n")
    assert r.returncode == 0, r.stderr
    assert fingerprint in r.stdout  # the workstation shows IT's fingerprint to compare
    request = re.search(r"hand (\S+) to IT", r.stdout).group(1)
    device = re.search(r"device ([0-9a-f-]{36})", r.stdout).group(1)

    waiting = _run(env, "sync", "run")
    assert waiting.returncode == 2 and "not approved" in waiting.stderr

    r = _run(env, "it", "enrol-device", request, "--keystore", str(ks), "--roles", "clinical",
             stdin=IT_PASS + "\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert device in r.stdout

    r = _run(env, "sync", "run")
    assert r.returncode == 0, r.stderr

    r = _run(env, "it", "rotate-key", "--keystore", str(ks), stdin=IT_PASS + "\n")
    assert r.returncode == 0, r.stderr
    assert "version 2 for 1 device" in r.stdout
    r = _run(env, "sync", "run")  # the workstation picks up version 2
    assert r.returncode == 0, r.stderr

    r = _run(env, "it", "revoke-device", device, "--keystore", str(ks), stdin=IT_PASS + "\n")
    assert r.returncode == 0, r.stderr
    assert "version 3" in r.stdout

    shut_out = _run(env, "sync", "run")
    assert shut_out.returncode == 2 and "revoked" in shut_out.stderr
