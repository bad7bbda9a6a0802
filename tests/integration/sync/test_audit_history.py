"""The clinic's audit history outlives any one workstation (issue 17).

Audit events travel, signed and encrypted, in every device's sync bundles; signed chain heads
are anchored in the Object Lock audit bucket. Attacks: rewrite the local chain even with the
keyring's HMAC key; decommission a workstation and look for its history elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.errors import ConfigError
from app.core.security import audit
from app.core.store.models import AuditEvent, RemoteAuditEvent
from app.services import admin, backup, sync_service
from app.services.context import cli_actor
from sync import anchors, identity, state
from tests.integration.sync.helpers import Bucket, Workstation, device_of, open_workstation
from tests.unit.core.test_audit_keyring import rewrite_chain

ACTOR = cli_actor()


@pytest.fixture
def audit_bucket(bucket: Bucket) -> str:
    """The clinic's audit bucket as infra/ makes it: Object Lock on, default retention."""
    name = f"audit-{uuid.uuid4().hex[:12]}"
    s3 = bucket.s3()
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    return name


def _station(tmp_path: Path, name: str, bucket: Bucket, audit_bucket: str) -> Workstation:
    ws = open_workstation(tmp_path, name, bucket)
    ws.ctx.settings = replace(ws.ctx.settings, audit_bucket=audit_bucket)
    return ws


@pytest.fixture
def pair(bucket: Bucket, audit_bucket: str, tmp_path: Path) -> Iterator[list[Workstation]]:
    ws = [_station(tmp_path, n, bucket, audit_bucket) for n in ("ws-a", "ws-b")]
    yield ws
    for w in ws:
        try:
            w.close()
        except Exception:  # noqa: BLE001, S110 — a decommissioned one is closed already
            pass


def _anchor_keys(bucket: Bucket, audit_bucket: str, ws: Workstation) -> list[str]:
    eng = sync_service.make_engine(ws.ctx, ws.transport)
    prefix = anchors.anchor_prefix(eng.id.clinic_id, eng.id.device_id)
    out = bucket.s3().list_objects_v2(Bucket=audit_bucket, Prefix=prefix)
    return [o["Key"] for o in out.get("Contents", [])]


def _remote(ws: Workstation, device: str) -> list[tuple[int, str, str]]:
    return ws.ctx.store.read(
        lambda s: [
            (e.seq, e.action, e.hash)
            for e in s.scalars(
                select(RemoteAuditEvent)
                .where(RemoteAuditEvent.device_id == device)
                .order_by(RemoteAuditEvent.seq)
            )
        ]
    )


def _own(ws: Workstation) -> list[tuple[int, str, str]]:
    return ws.ctx.store.read(
        lambda s: [
            (e.seq, e.action, e.hash)
            for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))
        ]
    )


def test_every_sync_anchors_a_signed_head_in_the_object_lock_bucket(
    bucket: Bucket, audit_bucket: str, pair: list[Workstation]
) -> None:
    a, _ = pair
    report = a.sync()
    assert report.anchored
    key = report.anchored
    blob = bucket.s3().get_object(Bucket=audit_bucket, Key=key)["Body"].read()
    dk = identity.load_device_keys(a.ctx.settings.keyring_service, a.ctx.settings.db_path)
    doc = identity.verify_doc(dk.sign_public, blob)
    assert doc["device"] == device_of(a) and doc["seq"] >= 1 and len(doc["hash"]) == 64
    # the object is under retention: it cannot be overwritten through the app, nor its
    # version deleted with the bucket's own API
    head_obj = bucket.s3().head_object(Bucket=audit_bucket, Key=key)
    assert head_obj.get("ObjectLockMode") == "COMPLIANCE"
    with pytest.raises(Exception):  # noqa: B017, PT011 — moto answers AccessDenied
        bucket.s3().delete_object(Bucket=audit_bucket, Key=key, VersionId=head_obj["VersionId"])
    assert admin.verify_audit(a.ctx, ACTOR).anchors >= 1


def test_a_rewrite_with_the_keyring_audit_key_is_caught_by_the_anchored_head(
    bucket: Bucket, audit_bucket: str, pair: list[Workstation]
) -> None:
    a, _ = pair
    a.sync()
    for i in range(3):
        a.ctx.store.write(lambda uow, i=i: uow.audit(ACTOR, "patient.read", detail={"i": i}))
    first = admin.verify_audit(a.ctx, ACTOR, anchor=True)
    assert first.ok and first.anchored
    anchored_seq = int(first.anchored.rsplit("/", 1)[-1].split("-")[0])
    # the attacker holds the keyring (hence the real HMAC key) and rewrites event 3
    rewrite_chain(a.ctx.store, a.ctx.store.audit_key, 3, "nothing.happened")
    assert a.ctx.store.read(lambda s: audit.verify(s, a.ctx.store.audit_key)).ok  # fooled
    # ... and even anchors the rewritten head with the device key it also holds
    eng = sync_service.make_engine(a.ctx, a.transport)
    a.ctx.store.write(lambda uow: state.put(uow.session, state.AUDIT_ANCHOR, ""))
    target = sync_service.Transport(replace(a.transport.endpoint, bucket=audit_bucket))
    assert anchors.write(a.ctx.store, target, eng.id, eng.keys)
    report = admin.verify_audit(a.ctx, ACTOR)
    assert not report.ok
    assert any(p.startswith(f"seq {anchored_seq}:") for p in report.problems) or any(
        "differs from the head anchored" in p for p in report.problems
    )
    assert all("nothing.happened" not in p for p in report.problems)
    again = admin.verify_audit(a.ctx, ACTOR, anchor=True)
    assert not again.ok and again.anchored == ""  # a broken chain is never anchored as good


def test_anchoring_is_refused_clearly_without_an_audit_bucket(pair: list[Workstation]) -> None:
    a, _ = pair
    a.ctx.settings = replace(a.ctx.settings, audit_bucket="")
    with pytest.raises(ConfigError, match="audit bucket"):
        admin.verify_audit(a.ctx, ACTOR, anchor=True)
    assert admin.verify_audit(a.ctx, ACTOR).ok  # the local check still runs


def test_audit_events_travel_and_outlive_a_decommissioned_workstation(
    bucket: Bucket, audit_bucket: str, pair: list[Workstation], tmp_path: Path
) -> None:
    a, b = pair
    for i in range(4):
        a.ctx.store.write(lambda uow, i=i: uow.audit(ACTOR, "patient.read", detail={"i": i}))
    a.sync()
    b.sync()
    dev_a = device_of(a)
    held_by_b = _remote(b, dev_a)
    assert held_by_b == _own(a)  # every event, same hashes, linked
    # never merged into B's own chain
    assert (
        b.ctx.store.read(
            lambda s: s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.id.in_([e.id for e in s.scalars(select(RemoteAuditEvent))]))
            )
        )
        == 0
    )
    shipped = _own(a)
    anchors_before = _anchor_keys(bucket, audit_bucket, a)
    assert anchors_before
    backup.decommission(a.ctx, ACTOR)
    # a replacement workstation, enrolled after A is gone, gets A's whole history
    c = _station(tmp_path, "ws-replacement", bucket, audit_bucket)
    try:
        c.sync()
        assert _remote(c, dev_a) == shipped
        assert _remote(b, dev_a) == shipped
    finally:
        c.close()
    # and A's anchors are still in the Object Lock bucket
    listed = bucket.s3().list_objects_v2(
        Bucket=audit_bucket, Prefix=anchors_before[0].rsplit("/", 1)[0]
    )
    assert {o["Key"] for o in listed.get("Contents", [])} >= set(anchors_before)
