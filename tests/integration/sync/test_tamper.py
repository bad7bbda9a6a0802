"""Bad bundles from the bucket are rejected, quarantined and reported; nothing is merged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.core.store.models import SyncConflict
from app.services import sync_service
from tests.integration.sync.helpers import (
    Bucket,
    Workstation,
    add_patients,
    dump,
    edit_patient,
    make_bucket,
    open_workstation,
)


def _keys(bucket: Bucket, device: str = "") -> list[str]:
    out = bucket.s3().list_objects_v2(Bucket=bucket.name).get("Contents", [])
    return sorted(o["Key"] for o in out if "/dev/" in o["Key"] and device in o["Key"])


def _get(bucket: Bucket, key: str) -> bytes:
    return bucket.s3().get_object(Bucket=bucket.name, Key=key)["Body"].read()


def _put(bucket: Bucket, key: str, data: bytes) -> None:
    bucket.s3().put_object(Bucket=bucket.name, Key=key, Body=data)


def _announce(bucket: Bucket, key: str, seq: int) -> None:
    """The feed marker an attacker writes so the planted object is read at once."""
    from tests.integration.sync.forge import announce_bundle

    parts = key.split("/")
    announce_bundle(bucket, parts[1], parts[3], seq)


def _device(ws: Workstation) -> str:
    from sync import state

    return ws.ctx.store.read(lambda s: state.get(s, state.DEVICE_ID))


def _two_bundles(a: Workstation) -> list[str]:
    add_patients(a, 2, "A1")
    a.sync()
    add_patients(a, 2, "A2")
    a.sync()
    return _keys_for(a)


def _keys_for(a: Workstation) -> list[str]:
    b = a.transport.endpoint.bucket
    s3 = a.transport.s3
    dev = _device(a)
    return sorted(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=b)["Contents"]
        if dev in o["Key"] and "/dev/" in o["Key"]
    )


@pytest.mark.parametrize("attack", ["flip", "truncate", "swap", "replay", "foreign"])
def test_bad_bundle_is_quarantined_and_nothing_merges(
    attack: str, bucket: Bucket, stations: list[Workstation], tmp_path: Path
) -> None:
    a, b, _ = stations
    keys = _two_bundles(a)
    first, second = _get(bucket, keys[0]), _get(bucket, keys[1])
    if attack == "flip":
        bad = bytearray(first)
        bad[len(bad) // 2] ^= 0x01
        _put(bucket, keys[0], bytes(bad))
    elif attack == "truncate":
        _put(bucket, keys[0], first[: len(first) - 40])
    elif attack == "swap":
        _put(bucket, keys[0], second)
        _put(bucket, keys[1], first)
    elif attack == "replay":
        _put(bucket, keys[0], first)
        _put(bucket, keys[1], second)
        b.sync()  # both merged legitimately
        assert len(dump(b)["patients"]) == 4
        _put(bucket, keys[1].replace("000000000002", "000000000003"), first)  # old bundle again
        _announce(bucket, keys[1], 3)
    elif attack == "foreign":
        other = make_bucket(bucket.url, tmp_path / "other")
        intruder = open_workstation(tmp_path / "other", "x", other)
        add_patients(intruder, 1, "X")
        intruder.sync()
        foreign = _keys_for(intruder)[0]
        _put(bucket, keys[1].replace("000000000002", "000000000003"), _get(other, foreign))
        _put(bucket, keys[0], first)
        _put(bucket, keys[1], second)
        b.sync()
        _announce(bucket, keys[1], 3)
        intruder.close()
    before = dump(b)
    report = b.sync()
    assert report.quarantined, attack
    after = dump(b)
    assert after == before  # nothing of a bad bundle merged
    quarantine = sync_service.list_quarantine(b.ctx)
    assert quarantine and quarantine[0][0] in report.quarantined
    assert "Given" not in json.dumps(quarantine)  # reasons carry no PHI
    assert sync_service.sync_status(b.ctx).quarantined == 1
    b.sync()  # reported once, not again and again
    assert sync_service.sync_status(b.ctx).quarantined == 1


def test_create_only_put_never_overwrites(bucket: Bucket, stations: list[Workstation]) -> None:
    a = stations[0]
    add_patients(a, 1, "A")
    a.sync()
    key = _keys_for(a)[0]
    original = _get(bucket, key)
    assert a.transport.put_create_only(key, original) is False  # idempotent retry
    from sync.transport import TransportError

    with pytest.raises(TransportError):
        a.transport.put_create_only(key, b"something else")
    assert _get(bucket, key) == original


def test_events_carry_the_allow_list_only(bucket: Bucket, stations: list[Workstation]) -> None:
    """EventBridge detail: event, clinic, device, bundle key, record type, count; no PHI."""
    from app.core.domain import Role
    from tests.support.records import add_patient, make_user

    a = stations[0]
    doc = make_user(a.ctx, "dr.sync", Role.CLINICIAN)
    p = add_patient(a.ctx, doc, "S-1", given_name="Secret", family_name="Name", sex="female")
    events = bucket.client("events")
    logs = bucket.client("logs")
    group = f"/nm/{bucket.name}"
    logs.create_log_group(logGroupName=group)
    events.put_rule(
        Name="all",
        EventBusName=bucket.event_bus,
        EventPattern=json.dumps({"source": ["novamind.desktop"]}),
    )
    arn = f"arn:aws:logs:us-east-1:123456789012:log-group:{group}"
    events.put_targets(Rule="all", EventBusName=bucket.event_bus, Targets=[{"Id": "1", "Arn": arn}])
    report = a.sync()
    assert report.events_published >= 1
    assert a.sync().events_published == 0  # each outbox event goes once
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    messages = [
        e["message"]
        for st in streams
        for e in logs.get_log_events(logGroupName=group, logStreamName=st["logStreamName"])[
            "events"
        ]
    ]
    assert messages
    allowed = {"event", "clinic_id", "device_id", "bundle_key", "record_type", "count"}
    for m in messages:
        detail = json.loads(m)["detail"]
        assert set(detail) == allowed, m
        assert detail["clinic_id"] in detail["bundle_key"] and detail["count"] >= 1
    assert any(json.loads(m)["detail"]["record_type"] == "patients" for m in messages)
    for secret in (p, doc.user_id, "Secret", "S-1"):
        assert not any(secret in m for m in messages)


def test_conflict_resolution_is_audited_and_propagates(stations: list[Workstation]) -> None:
    from app.core.domain import Role
    from app.services import admin
    from tests.conftest import make_user

    a, b, _ = stations
    (pid,) = add_patients(a, 1, "A")
    a.sync(), b.sync()
    edit_patient(a, pid, family_name="From-A")
    edit_patient(b, pid, family_name="From-B")
    a.sync(), b.sync(), a.sync()
    it = make_user(a.ctx, "it.sync", Role.IT)
    assert sync_service.list_conflicts(a.ctx, it) == []  # IT sees no clinical conflicts
    sup = make_user(a.ctx, "sup.sync", Role.SUPERVISOR)
    from app.services.context import cli_actor

    admin.assign_care_team(a.ctx, cli_actor(), username="sup.sync", patient_id=pid)
    (conflict,) = sync_service.list_conflicts(a.ctx, sup)
    keep = "local" if conflict.local_value == "From-A" else "remote"
    sync_service.resolve_conflict(a.ctx, sup, conflict.id, keep)
    a.sync(), b.sync(), a.sync()
    assert dump(a)["patients"][pid]["family_name"] == "From-A"
    assert dump(a) == dump(b)
    open_b = b.ctx.store.read(
        lambda s: list(s.scalars(select(SyncConflict).where(SyncConflict.resolved_at.is_(None))))
    )
    assert open_b == []  # the other device saw the resolution supersede its conflict
    report = admin.verify_audit(a.ctx, cli_actor())
    assert report.ok
