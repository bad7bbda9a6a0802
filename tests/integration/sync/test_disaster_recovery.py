"""A wiped or new workstation rebuilds every record from the clinic's bucket (issue #11)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sqlalchemy import select

from app.core.store.models import ActigraphyChunk
from app.demo import create_demo_clinic
from tests.integration.sync.helpers import Bucket, dump, enrol_in, open_workstation


def _fingerprint(ws) -> tuple[dict[str, int], str, str]:  # noqa: ANN001
    """Record counts per table, a content hash of all synced fields, and of actigraphy data."""
    d = dump(ws)
    counts = {t: len(rows) for t, rows in d.items()}
    content = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()
    chunks = ws.ctx.store.read(
        lambda s: sorted((c.series_id, c.index, c.data) for c in s.scalars(select(ActigraphyChunk)))
    )
    blob = hashlib.sha256(
        b"".join(sid.encode() + bytes([i % 256]) + data for sid, i, data in chunks)
    )
    return counts, content, blob.hexdigest()


def _rebuilt(tmp_path: Path, name: str, bucket: Bucket) -> tuple[dict[str, int], str, str]:
    """The fingerprint of a new workstation after its first sync from the bucket."""
    ws = open_workstation(tmp_path, name, bucket)
    try:
        ws.sync()
        return _fingerprint(ws)
    finally:
        ws.close()


def test_new_workstation_rebuilds_everything_from_bundles_and_snapshot(
    bucket: Bucket, tmp_path: Path
) -> None:
    source = open_workstation(tmp_path, "source", bucket, enrol=False)
    try:
        # the demo clinic is refused on an enrolled workstation: fill first, then enrol
        create_demo_clinic(source.ctx, patients=3, actigraphy_days=14)
        enrol_in(source.ctx, bucket)
        source.sync()
        expected = _fingerprint(source)
        assert expected[0]["patients"] == 3 and expected[0]["actigraphy_results"] > 0
        # 1. replay every bundle
        assert _rebuilt(tmp_path, "replacement", bucket) == expected
        # 2. bootstrap from a snapshot (what a wiped workstation does after years of bundles)
        from app.services import sync_service

        sync_service.make_engine(source.ctx, source.transport).publish_snapshot()
        assert _rebuilt(tmp_path, "wiped", bucket) == expected
    finally:
        source.close()
