"""A real moto S3/EventBridge HTTP server on loopback for the sync tests (no in-process mock)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from tests.integration.sync.helpers import Bucket, Workstation, make_bucket, open_workstation


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(k, "testing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_url: str, tmp_path: Path) -> Bucket:
    return make_bucket(moto_url, tmp_path)


@pytest.fixture
def stations(bucket: Bucket, tmp_path: Path) -> Iterator[list[Workstation]]:
    """Three enrolled workstations of one clinic."""
    ws = [open_workstation(tmp_path, n, bucket) for n in ("ws-a", "ws-b", "ws-c")]
    yield ws
    for w in ws:
        w.close()
