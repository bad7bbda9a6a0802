"""moto's HTTP server on loopback, with the demo clinic's template deployed into it."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from infra.novamind_infra.params import demo_params
from tests.integration.infra_e2e.deploy import Deployed, deploy

TEMPLATE = (
    Path(__file__).resolve().parents[3]
    / "infra"
    / "templates"
    / "novamind-clinic-demo.template.json"
)


@pytest.fixture(scope="module")
def template() -> dict:
    return json.loads(TEMPLATE.read_text())


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(k, "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def stack(template: dict, moto_server: str) -> Deployed:
    p = demo_params()
    return deploy(template, moto_server, p.region, p.stack_name)
