"""`novamind sync enrol BAD` in a child process: exit 2, a message naming the file and the
problem, and the keyring file and the store left byte-identical (issue 18, item 4)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sync import enrolment
from sync.it_keystore import new_it_keystore
from tests.conftest import cli_env
from tests.fuzz import sealing
from tests.support.cli import run

CASES = ["salt-number.json", "kdf-none.json", "sealed-deep-nesting.json", "deep-nesting-clear.json"]


def _digest(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_bad_enrolment_files_exit_2_and_change_nothing(env: dict[str, str], tmp_path: Path) -> None:
    keyring_file = tmp_path / "keyring.json"
    child = cli_env(env, keyring_file)
    home = tmp_path / "home.enrol.json"
    enrolment.write_enrolment(home, sealing.PASSPHRASE, new_it_keystore(event_bus="bus-home"))
    ok = run(child, "sync", "enrol", str(home), stdin=sealing.PASSPHRASE + "\n")
    assert ok.returncode == 0, ok.stderr
    db = next(Path(env["NOVAMIND_DATA_DIR"]).glob("*.db"))
    before = _digest(keyring_file, db)
    other = tmp_path / "other-clinic.enrol.json"
    enrolment.write_enrolment(other, sealing.PASSPHRASE, new_it_keystore(event_bus="bus-x"))
    bad = [sealing.CORPUS / c for c in CASES] + [tmp_path, other]
    for path in bad:
        r = run(child, "sync", "enrol", str(path), stdin=sealing.PASSPHRASE + "\n")
        assert r.returncode == 2, (path.name, r.returncode, r.stderr)
        assert path.name in r.stderr and "unexpected" not in r.stderr, r.stderr
        assert _digest(keyring_file, db) == before, path.name
