"""Sync merge error paths with a canary in the records: a same-field conflict, a unique-MRN
clash and a tampered (quarantined) bundle. The log file and the sync reports never hold it."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from app.core.logging_setup import configure_logging
from app.services import sync_service
from tests.integration.sync.helpers import Bucket, Workstation, add_patients, edit_patient

CANARY = f"Qcanary{uuid.uuid4().hex[:12]}"


def _keys(ws: Workstation) -> list[str]:
    s3, b = ws.transport.s3, ws.transport.endpoint.bucket
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"] if "/dev/" in o["Key"])


def test_sync_conflict_clash_and_quarantine_keep_phi_out_of_logs(
    bucket: Bucket, stations: list[Workstation], tmp_path: Path
) -> None:
    path = configure_logging(tmp_path / "logs", logging.DEBUG)
    a, b, c = stations
    (pid,) = add_patients(a, 1, f"{CANARY}-A")
    reports = [a.sync(), b.sync()]
    edit_patient(a, pid, family_name=f"{CANARY}-from-A")
    edit_patient(b, pid, family_name=f"{CANARY}-from-B")
    add_patients(a, 1, f"{CANARY}-MRN")  # the same MRN created offline on two stations
    add_patients(b, 1, f"{CANARY}-MRN")
    reports += [a.sync(), b.sync(), a.sync()]
    assert sync_service.sync_status(a.ctx).open_conflicts >= 1  # the merge did hit the paths
    # a tampered bundle reaches a third station: quarantined, nothing merged
    key = _keys(a)[-1]
    s3, name = a.transport.s3, a.transport.endpoint.bucket
    data = bytearray(s3.get_object(Bucket=name, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=name, Key=key, Body=bytes(data))
    reports.append(c.sync())
    assert sync_service.sync_status(c.ctx).quarantined >= 1
    for h in logging.getLogger().handlers:
        h.flush()
    text = path.read_text("utf-8", "replace")
    assert text.strip()  # sync did log its work
    assert CANARY not in text
    for r in reports:
        assert CANARY not in repr(r)
