"""The real gateway on loopback: uvicorn with TLS (a self-signed pair made here with
`cryptography`) in a thread, over the real encrypted store, and an httpx client trusting it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette

from app.core.config import Settings
from app.core.domain import Principal, Role
from app.services.context import AppContext
from gateway import clients
from gateway.app import create_app
from gateway.serve import uvicorn_config
from tests.support.records import add_patient, make_user

ALL_SCOPES = sorted(clients.SCOPES)


def make_tls_pair(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "novamind-gateway-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "tls.crt", folder / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls(tmp_path: Path) -> tuple[Path, Path]:
    return make_tls_pair(tmp_path / "tls")


@pytest.fixture
def settings(env: dict[str, str], tls: tuple[Path, Path]) -> Settings:
    """The suite's settings plus the gateway's policy (as IT would set it)."""
    from app.core.config import load_settings

    cert, key = tls
    return replace(
        load_settings(env),
        gateway_tls_cert=str(cert),
        gateway_tls_key=str(key),
        gateway_bind="127.0.0.1:8443",
        gateway_max_body_kb=16,
        gateway_token_ttl_s=120,
        gateway_rate_per_min=6000,
    )


@dataclass
class Clinic:
    it: Principal
    clinician: Principal
    supervisor: Principal
    mine: str  # the clinician's patient
    theirs: str  # another clinician's patient
    client: clients.NewClient  # acts as the clinician, every scope


@pytest.fixture
def clinic(ctx: AppContext) -> Clinic:
    it = make_user(ctx, "it.ops", Role.IT)
    clinician = make_user(ctx, "svc.ehr", Role.CLINICIAN)
    supervisor = make_user(ctx, "sup.ward", Role.SUPERVISOR)
    other = make_user(ctx, "dr.other", Role.CLINICIAN)
    mine = add_patient(
        ctx,
        clinician,
        "MRN-100",
        given_name="Canaryname",
        family_name="Zebedee",
        birth_date=dt.date(1981, 4, 2),
        sex="female",
    )
    theirs = add_patient(ctx, other, "MRN-200", family_name="Elsewhere")
    client = clients.register(
        ctx, it, "ehr", role=Role.CLINICIAN, scopes=ALL_SCOPES, acts_as="svc.ehr"
    )
    return Clinic(it, clinician, supervisor, mine, theirs, client)


@dataclass
class Server:
    url: str
    app: Starlette
    ca: ssl.SSLContext

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ca, timeout=30)

    def token(self, c: clients.NewClient, scope: str = "") -> str:
        data = {
            "grant_type": "client_credentials",
            "client_id": c.client.client_id,
            "client_secret": c.secret,
        }
        if scope:
            data["scope"] = scope
        with self.client() as http:
            r = http.post("/oauth/token", data=data)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


@contextmanager
def serving_in_thread(app: Starlette, settings: Settings) -> Iterator[int]:
    """uvicorn serving ``app`` over TLS (the settings' pair) on 127.0.0.1 and a free port, in a
    thread; yields the port and stops the server on exit."""
    srv = uvicorn.Server(uvicorn_config(app, settings, port=0, header_timeout_s=2))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield srv.servers[0].sockets[0].getsockname()[1]
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(ctx: AppContext, clinic: Clinic, tls: tuple[Path, Path]) -> Iterator[Server]:
    """uvicorn serving the gateway over TLS on 127.0.0.1, a free port, in a thread."""
    app = create_app(ctx)
    with serving_in_thread(app, ctx.settings) as port:
        ca = ssl.create_default_context(cafile=str(tls[0]))
        yield Server(f"https://127.0.0.1:{port}", app, ca)
