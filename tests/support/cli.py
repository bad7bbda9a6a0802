"""Run the real `novamind` CLI in a child process, signing in for admin commands."""

from __future__ import annotations

import subprocess
import sys

from app.demo import DEMO_PASSWORD
from tests.conftest import REPO


def run(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ui.launcher", *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def admin(
    env: dict,
    *args: str,
    user: str = "admin",
    password: str = DEMO_PASSWORD,
    stdin: str = "",
    totp: str = "",
) -> subprocess.CompletedProcess:
    """`novamind admin --user USER --password-stdin ARGS`: the password is stdin's first line,
    `stdin` (a new user's password, say) follows it. Defaults: the demo clinic's admin."""
    extra = ("--totp", totp) if totp else ()
    return run(
        env,
        "admin",
        "--user",
        user,
        "--password-stdin",
        *extra,
        *args,
        stdin=f"{password}\n{stdin}",
    )


def it_admin(env: dict, *args: str, **kw: str) -> subprocess.CompletedProcess:
    """The same as the demo clinic's IT account (it.ops), for system operations."""
    return admin(env, *args, user="it.ops", **kw)
