"""moto's HTTP server on loopback, with the demo clinic's template deployed into it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.novamind_infra.params import demo_params
from tests.integration.infra_e2e.deploy import Deployed, deploy
from tests.support.moto import running_moto

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
    with running_moto() as url:
        yield url


@pytest.fixture(scope="module")
def stack(template: dict, moto_server: str) -> Deployed:
    p = demo_params()
    return deploy(template, moto_server, p.region, p.stack_name)
