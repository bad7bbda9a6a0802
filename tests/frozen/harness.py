"""Run the packaged app (dist/novamind) the way a workstation does: under a display (Xvfb) and
with a real Secret Service (gnome-keyring in a private D-Bus session), in a clean environment
that cannot reach the source tree or the virtualenv. Shared by the frozen test and the bundle
benchmark."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIR = Path(os.environ.get("NOVAMIND_BUNDLE_DIR", REPO / "dist" / "novamind"))
EXE = BUNDLE_DIR / ("novamind.exe" if os.name == "nt" else "novamind")
TOOLS = ("xvfb-run", "dbus-run-session", "gnome-keyring-daemon")

# gnome-keyring reads the unlock password on stdin, then the command runs inside the session
_KEYRING_SHELL = (
    'printf "%s" "$NOVAMIND_TEST_KEYRING_PW" | gnome-keyring-daemon --unlock '
    '--components=secrets >/dev/null && exec "$@"'
)


def missing_tools() -> list[str]:
    """The system tools the harness needs that are not installed."""
    return [t for t in TOOLS if shutil.which(t) is None]


def clean_env(data_dir: Path, policy: Path, **extra: str) -> dict[str, str]:
    """The bundle's environment: no PYTHONPATH/virtualenv, a fresh data dir, a site policy,
    and a private HOME next to the data dir, so gnome-keyring makes a new login keyring with
    our password instead of prompting for the password of the user's own keyring."""
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    home = data_dir.parent / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        NOVAMIND_DATA_DIR=str(data_dir),
        NOVAMIND_POLICY=str(policy),
        NOVAMIND_KEYRING_SERVICE="novamind-frozen-test",
        NOVAMIND_TEST_KEYRING_PW="frozen-test-keyring",
        QT_QPA_PLATFORM="xcb",
        **extra,
    )
    return env


def run_bundle(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 240,
    exe: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the bundle's executable (or `exe`, e.g. the source launcher, for comparisons)
    under Xvfb with its own unlocked gnome-keyring."""
    program = exe or [str(EXE)]
    cmd = [
        "xvfb-run", "-a", "-s", "-screen 0 1600x1000x24",
        "dbus-run-session", "--", "bash", "-c", _KEYRING_SHELL, "_", *program, *args,
    ]  # fmt: skip
    return subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
