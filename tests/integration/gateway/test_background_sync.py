"""The gateway keeps syncing while it serves: records a workstation pushes to the clinic bucket
(a real moto S3 server on loopback) reach the gateway's store through BackgroundSync alone; a
node that is not enrolled syncs nothing and does not fail."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.store.models import Patient
from app.services.context import AppContext
from gateway.background import BackgroundSync
from tests.integration.sync.helpers import add_patients, make_bucket, open_workstation
from tests.support.moto import running_moto


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with running_moto() as url:
        yield url


def test_records_pushed_by_a_workstation_reach_the_gateway(moto_url: str, tmp_path: Path) -> None:
    bucket = make_bucket(moto_url, tmp_path, with_events=False)
    desk = open_workstation(tmp_path, "ws-a", bucket)
    gw = open_workstation(tmp_path, "gateway", bucket)
    try:
        pids = add_patients(desk, 3, "GW")
        desk.sync()
        syncing = BackgroundSync(gw.ctx, every_s=0.5, transport=gw.transport)
        syncing.start()
        try:
            deadline = time.monotonic() + 60
            have: set[str] = set()
            while not set(pids) <= have and time.monotonic() < deadline:
                time.sleep(0.2)
                have = set(gw.ctx.store.read(lambda s: s.scalars(select(Patient.id)).all()))
        finally:
            syncing.stop()
        assert set(pids) <= have
        assert syncing.rounds >= 1
    finally:
        desk.close()
        gw.close()


def test_a_node_not_enrolled_syncs_nothing(ctx: AppContext) -> None:
    syncing = BackgroundSync(ctx, every_s=60)
    syncing.run_once()
    assert syncing.rounds == 0
