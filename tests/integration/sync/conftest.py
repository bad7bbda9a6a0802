"""A real moto S3/EventBridge HTTP server on loopback for the sync tests (no in-process mock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sync.helpers import Bucket, Workstation, make_bucket, open_workstation
from tests.support.moto import running_moto


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


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
