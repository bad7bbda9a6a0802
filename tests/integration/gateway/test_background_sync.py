"""The gateway keeps syncing while it serves: records a workstation pushes to the clinic bucket
(a real moto S3 server on loopback) reach the gateway's store through BackgroundSync alone; a
node that is not enrolled syncs nothing and does not fail."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.store.models import Patient
from app.services.context import AppContext
from gateway.background import BackgroundSync
from gateway.hub import BUNDLE, Hint, Hub
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


class _HeldRounds(BackgroundSync):
    """BackgroundSync whose round waits for the test to let it go (the scheduling is real)."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, every_s=3600)
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def run_once(self) -> None:
        self.entered.release()
        self.release.acquire(timeout=30)
        self.rounds += 1


def test_triggers_during_a_round_cause_exactly_one_more(ctx: AppContext) -> None:
    syncing = _HeldRounds(ctx)
    syncing.start()
    try:
        assert syncing.entered.acquire(timeout=10)  # the first round is running
        for _ in range(5):
            syncing.trigger()
        syncing.release.release()
        assert syncing.entered.acquire(timeout=10)  # one more round ...
        syncing.release.release()
        assert not syncing.entered.acquire(timeout=0.5)  # ... and only one
        assert syncing.rounds == 2
        syncing.trigger()  # an idle loop wakes at once, not after every_s
        assert syncing.entered.acquire(timeout=5)
        syncing.release.release()
    finally:
        syncing.stop(timeout_s=5)
    assert syncing.rounds == 3


def test_a_round_that_pulled_bundles_hints_the_workstations(moto_url: str, tmp_path: Path) -> None:
    bucket = make_bucket(moto_url, tmp_path, with_events=False)
    desk = open_workstation(tmp_path, "ws-a", bucket)
    gw = open_workstation(tmp_path, "gateway", bucket)
    hub = Hub()
    syncing = BackgroundSync(gw.ctx, every_s=3600, transport=gw.transport, hub=hub)

    async def listen() -> list[Hint]:
        got: list[Hint] = []
        async with hub.subscribe((BUNDLE,)) as sub:
            syncing.start()
            assert await asyncio.to_thread(syncing.sync_soon)  # its own first push
            assert await asyncio.to_thread(syncing.sync_soon)  # nothing moved: no hint
            while True:  # drain the first round's hint
                try:
                    await sub.next(0.2)
                except TimeoutError:
                    break
            assert await asyncio.to_thread(syncing.sync_soon)
            with pytest.raises(TimeoutError):
                await sub.next(0.3)  # a round that moved nothing hints nothing
            add_patients(desk, 1, "HB")
            desk.sync()
            assert await asyncio.to_thread(syncing.sync_soon)
            got.append(await sub.next(5))
        return got

    try:
        (hint,) = asyncio.run(listen())
        assert hint.kind == BUNDLE and hint.record_id == "" and hint.patient_id == ""
    finally:
        syncing.stop()
        desk.close()
        gw.close()
