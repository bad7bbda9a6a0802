"""The real commands in child processes: IT registers a client with `novamind it
gateway-client add` (secret printed once, only its hash stored), then `novamind gateway serve`
answers over TLS with the policy's certificate; without a certificate it refuses to start."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.demo import DEMO_PASSWORD
from tests.conftest import REPO, cli_env
from tests.integration.gateway.conftest import make_tls_pair
from tests.support.cli import run


@pytest.fixture
def cenv(env: dict, tmp_path: Path) -> dict:
    return cli_env(env, tmp_path / "keyring.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_register_a_client_then_serve(cenv: dict, tmp_path: Path) -> None:
    assert run(cenv, "demo", "--patients", "2", "--no-model").returncode == 0
    add = ("it", "gateway-client", "add", "ehr", "--role", "clinician")
    scopes = ("--scopes", "system/Patient.read,system/Questionnaire.read")
    out = run(
        cenv, *add, *scopes, "--care-team-of", "dr.adams", "--user", "it.ops", "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    client_id, secret = lines["client_id"], lines["client_secret"]
    wrong_role = run(
        cenv, "it", "gateway-client", "add", "x", "--role", "supervisor", *scopes,
        "--care-team-of", "dr.adams", "--user", "it.ops", "--password-stdin",
        stdin=f"{DEMO_PASSWORD}\n",
    )  # fmt: skip
    assert wrong_role.returncode == 2 and "does not match" in wrong_role.stderr

    no_tls = run(cenv, "gateway", "serve")
    assert no_tls.returncode == 2 and "gateway_tls_cert" in no_tls.stderr

    cert, key = make_tls_pair(tmp_path / "tls")
    port = _free_port()
    Path(cenv["NOVAMIND_POLICY"]).write_text(
        f'gateway_tls_cert = "{cert}"\ngateway_tls_key = "{key}"\n'
        f'gateway_bind = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.launcher", "gateway", "serve"],
        env=cenv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        ca = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=ca, timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    meta = http.get("/fhir/metadata")
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.25)
            assert meta.status_code == 200
            tok = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
            assert tok.status_code == 200, tok.text
            bearer = {"Authorization": f"Bearer {tok.json()['access_token']}"}
            listed = http.get("/fhir/Patient", headers=bearer)
            assert listed.status_code == 200 and listed.json()["total"] >= 1
    finally:
        proc.terminate()
        proc.wait(timeout=20)
