"""One test against a real Secret Service: gnome-keyring inside a private dbus session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.secret_service


def _tools_present() -> bool:
    return bool(shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon"))


def test_store_key_round_trips_through_gnome_keyring(tmp_path: Path) -> None:
    if not _tools_present():
        if os.environ.get("CI"):
            pytest.fail("CI must install dbus and gnome-keyring (see .ci/run)")
        pytest.skip("dbus-run-session / gnome-keyring-daemon not installed on this machine")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "PYTHONPATH": str(REPO),
    }
    (tmp_path / "run").mkdir(mode=0o700)
    script = (
        "printf 'test-keyring-password' | gnome-keyring-daemon --unlock --components=secrets "
        f">/dev/null && {sys.executable} -m tests.integration.core.secret_service_probe "
        f"{tmp_path / 'data'}"
    )
    out = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK keyring.backends.SecretService.Keyring" in out.stdout
    # the key never touched the data directory
    assert (tmp_path / "data" / "novamind.db").exists()
    assert not any("key" in p.name for p in (tmp_path / "data").iterdir() if p.suffix != ".id")
