"""A workstation that synced with format version 1 upgrades to version 2 without losing a record.

Version 1 left this in the store: device and clinic id, its chain head, cursors of the
devices it merged, records captured and sent (not pending), maybe a sealed bundle not yet
uploaded, and the clinic key in the keyring. The test writes exactly that state, then runs
the version-2 enrolment and sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.errors import ConfigError
from app.core.store.models import SyncCursor, SyncOutgoing, SyncRecordState
from app.services import sync_service
from app.services.context import cli_actor
from sync import capture, state
from sync.hlc import HybridClock
from sync.transport import bundle_key
from tests.integration.sync.helpers import (
    PASSPHRASE,
    Bucket,
    add_patients,
    dump,
    open_workstation,
)

OLD_DEVICE = "11111111-1111-4111-8111-111111111111"
OTHER_V1_DEVICE = "22222222-2222-4222-8222-222222222222"


def _make_v1_state(ws, clinic_id: str) -> None:  # noqa: ANN001
    def do(uow) -> None:  # noqa: ANN001
        s = uow.session
        clock = HybridClock(OLD_DEVICE)
        capture.capture(s, clock)
        for st in s.scalars(select(SyncRecordState)):
            st.pending = False  # sent in version-1 bundles long ago
        state.put(s, state.DEVICE_ID, OLD_DEVICE)
        state.put(s, state.CLINIC_ID, clinic_id)
        state.put(s, state.EVENT_BUS, "")
        state.put(s, state.HEAD_SEQ, "7")
        state.put(s, state.HEAD_SHA, "ab" * 32)
        s.add(
            SyncCursor(device_id=OTHER_V1_DEVICE, seq=12, sha256="cd" * 32, max_clock=clock.now())
        )
        for seq in range(1, 8):  # uploaded long ago: bookkeeping only
            s.add(
                SyncOutgoing(
                    seq=seq,
                    object_key=f"v1/{clinic_id}/dev/{OLD_DEVICE}/{seq:012d}.nmb",
                    sha256="ef" * 32,
                    data=b"",
                    records=1,
                    uploaded_at=datetime.now(UTC),
                )
            )
        s.add(
            SyncOutgoing(
                seq=8,
                object_key=f"v1/{clinic_id}/dev/{OLD_DEVICE}/000000000008.nmb",
                sha256="ef" * 32,
                data=b"NMSB\x01 sealed under version 1",
                records=1,
            )
        )

    ws.ctx.store.write(do)


def test_a_version_1_store_upgrades_and_every_record_reaches_a_new_workstation(
    bucket: Bucket, tmp_path: Path
) -> None:
    old = open_workstation(tmp_path, "old", bucket, enrol=False)
    try:
        ids = set(add_patients(old, 5, "V1"))
        _make_v1_state(old, bucket.keystore.clinic_id)
        with pytest.raises(ConfigError, match="not enrolled"):
            old.sync()  # version-1 state alone is not trusted any more
        result = sync_service.enrol_workstation(old.ctx, cli_actor(), bucket.enrolment, PASSPHRASE)
        assert result.device_id == OLD_DEVICE  # the device keeps its id
        bucket.approve(result.request_path)
        report = old.sync()
        assert report.records_pushed >= 5  # every record re-sent once, signed
        keys = [o["Key"] for o in bucket.s3().list_objects_v2(Bucket=bucket.name)["Contents"]]
        assert bundle_key(bucket.keystore.clinic_id, OLD_DEVICE, 1) in keys  # chain restarted
        cursor = old.ctx.store.read(lambda s: s.get(SyncCursor, OTHER_V1_DEVICE))
        assert cursor.seq == 0 and cursor.max_clock  # v1 position dropped, causal past kept
        unsent = old.ctx.store.read(
            lambda s: list(
                s.scalars(select(SyncOutgoing).where(SyncOutgoing.uploaded_at.is_(None)))
            )
        )
        assert unsent == []  # the v1 sealed bundle is gone, its records went in v2
        new = open_workstation(tmp_path, "new", bucket)
        try:
            new.sync()
            assert ids <= set(dump(new)["patients"])
            assert dump(new)["patients"] == dump(old)["patients"]
        finally:
            new.close()
    finally:
        old.close()
