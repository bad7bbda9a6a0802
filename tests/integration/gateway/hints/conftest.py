"""A clinic on loopback for the hint tests: a real moto S3 server, a gateway node enrolled like a
workstation and served by real uvicorn with TLS (gateway.serve.assemble: hub, background sync,
/ws/hints), and workstations whose IT policy names the gateway's hint socket."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from app.core.config import load_settings
from app.core.domain import Principal, Role
from app.services.context import AppContext
from gateway.background import BackgroundSync
from gateway.hints import HintEndpoint, endpoint
from gateway.serve import assemble
from sync import hint_protocol as hp
from sync.identity import DeviceKeys
from tests.integration.gateway.conftest import make_tls_pair, serving_in_thread
from tests.integration.sync.helpers import (
    Bucket,
    Workstation,
    enrol_in,
    make_bucket,
    open_workstation,
    workstation_env,
)
from tests.support.moto import running_moto
from tests.support.records import add_patient, make_user


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


@dataclass
class Gateway:
    node: Workstation
    app: Starlette
    syncing: BackgroundSync
    url: str  # wss://127.0.0.1:PORT/ws/hints
    ca_path: Path
    ca: ssl.SSLContext

    @property
    def hints(self) -> HintEndpoint:
        return endpoint(self.app)

    @property
    def device_id(self) -> str:
        from sync import membership

        return membership.require_identity(self.node.ctx.store).device_id


@dataclass
class Site:
    root: Path
    bucket: Bucket
    gw: Gateway
    policy: Path  # the workstations' IT policy naming the hint socket

    def stations(
        self, *names: str, hints: bool = True, policy: Path | None = None
    ) -> list[Workstation]:
        """New workstations, then a gateway round so its registry knows them."""
        out = [self.station(n, hints=hints, policy=policy) for n in names]
        assert self.gw.syncing.sync_soon()
        return out

    def station(self, name: str, *, hints: bool = True, policy: Path | None = None) -> Workstation:
        """A new workstation of this clinic, enrolled and certified (its policy names the
        gateway unless ``hints`` is False; ``policy``: another policy file)."""
        env = workstation_env(self.root, name, self.bucket)
        if hints:
            env["NOVAMIND_POLICY"] = str(policy or self.policy)
        ctx = AppContext.open(load_settings(env))
        enrol_in(ctx, self.bucket)
        return Workstation(name, ctx, self.bucket.transport())


@pytest.fixture
def site(moto_url: str, tmp_path: Path) -> Iterator[Site]:
    bucket = make_bucket(moto_url, tmp_path, with_events=False)
    node = open_workstation(tmp_path, "gateway", bucket)
    cert, key = make_tls_pair(tmp_path / "tls")
    app, syncing = assemble(node.ctx, node.transport, every_s=3600)  # rounds only on trigger
    settings = replace(node.ctx.settings, gateway_tls_cert=str(cert), gateway_tls_key=str(key))
    with serving_in_thread(app, settings) as port:
        url = f"wss://127.0.0.1:{port}{hp.PATH}"
        policy = tmp_path / "hints-policy.toml"
        policy.write_text(
            f'[policy]\ngateway_hints_url = "{url}"\ngateway_ca_cert = "{cert}"\n',
            encoding="utf-8",
        )
        ca = ssl.create_default_context(cafile=str(cert))
        gw = Gateway(node, app, syncing, url, cert, ca)
        syncing.start()
        try:
            yield Site(tmp_path, bucket, gw, policy)
        finally:
            syncing.stop()
    node.close()


class Runner:
    """Runs ``fn`` on a thread of its own whenever kicked; kicks during a run cause one more
    run (as the desktop's sync controller does)."""

    def __init__(self, fn: Callable[[], Any], debounce_s: float = 0.0) -> None:
        self.fn, self.debounce_s = fn, debounce_s
        self.runs = 0
        self.results: list[Any] = []
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stop:
                return
            if self.debounce_s:
                time.sleep(self.debounce_s)
            self._wake.clear()
            self.results.append(self.fn())
            self.runs += 1

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(10)


@dataclass
class Chart:
    clinician: Principal
    patient_id: str


def chart_on(ws: Workstation, username: str = "dr.alpha") -> Chart:
    """A clinician and one patient of theirs on workstation ``ws``."""
    clinician = make_user(ws.ctx, username, Role.CLINICIAN)
    pid = add_patient(ws.ctx, clinician, "MRN-HINT-1", given_name="Quillon", family_name="Vexley")
    return Chart(clinician, pid)


# --- a raw protocol client (for attacks and frame inspection) -------------------------------


async def open_raw(gw: Gateway) -> Any:  # noqa: ANN401 — websockets' ClientConnection
    from websockets.asyncio.client import connect

    return await connect(gw.url, ssl=gw.ca, max_size=1 << 20, open_timeout=10)


async def sign_in(gw: Gateway, ws: Workstation, keys: DeviceKeys | None = None) -> Any:  # noqa: ANN401
    """A raw connection signed in as ``ws`` (or with ``keys`` claiming its id)."""
    from sync import identity, membership

    conn = await open_raw(gw)
    ident = membership.require_identity(ws.ctx.store)
    s = ws.ctx.settings
    key = (keys or identity.load_device_keys(s.keyring_service, s.db_path)).sign
    ch = hp.parse_challenge(await conn.recv())
    await conn.send(hp.hello(key, ident.clinic_id, ident.device_id, ch, int(time.time() * 1000)))
    return conn


async def close_code(conn: Any, timeout_s: float = 10) -> int:  # noqa: ANN401
    """The code the server closes ``conn`` with (reading and discarding frames until then)."""
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(timeout_s):
            while True:
                await conn.recv()
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006
