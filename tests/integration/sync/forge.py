"""An attacker's tools: real bundles built with a (stolen) workstation's own keys.

Everything here goes through the real envelope and the real moto bucket; only the content is
chosen by the attacker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.core.store.models import SyncRecordState
from app.services import sync_service
from sync import capture, state
from sync.engine import SyncEngine
from sync.envelope import GENESIS, ClinicKeyRing, Header, digest, seal, seal_compressed
from sync.hlc import HybridClock
from sync.transport import bundle_key, device_prefix, feed_key, parse_seq
from tests.integration.sync.helpers import Bucket, Workstation


def engine_of(ws: Workstation) -> SyncEngine:
    eng = sync_service.make_engine(ws.ctx, ws.transport)
    eng.refresh_registry()
    return eng


def entry_of(ws: Workstation, table: str, rid: str) -> dict[str, Any]:
    """The sync entry a workstation holds (or now captures) for one of its records."""
    eng = engine_of(ws)

    def do(uow: Any) -> dict[str, Any]:  # noqa: ANN401
        s = uow.session
        capture.capture(s, HybridClock(eng.id.device_id, state.get(s, state.HLC)))
        st = s.scalars(
            select(SyncRecordState).where(
                SyncRecordState.table_name == table, SyncRecordState.record_id == rid
            )
        ).one()
        return eng._entry(s, st)

    return json.loads(json.dumps(ws.ctx.store.write(do)))


def next_position(bucket: Bucket, clinic: str, device: str) -> tuple[int, str]:
    """(next sequence number, hash of the current head) of a device's chain in the bucket."""
    s3 = bucket.s3()
    objs = s3.list_objects_v2(Bucket=bucket.name, Prefix=device_prefix(clinic, device))
    keys = sorted(o["Key"] for o in objs.get("Contents", []))
    if not keys:
        return 1, GENESIS
    head = s3.get_object(Bucket=bucket.name, Key=keys[-1])["Body"].read()
    return parse_seq(keys[-1]) + 1, digest(head)


def forge(
    bucket: Bucket,
    ws: Workstation,
    entries: list[dict[str, Any]],
    *,
    device: str = "",
    signer: Any = None,  # noqa: ANN401 — an Ed25519 private key
    kind: str = "changes",
    key: str = "",
    extra: dict[str, Any] | None = None,
    compressed: bytes | None = None,
    seq: int = 0,
    ring: ClinicKeyRing | None = None,
    announce: bool = True,
) -> str:
    """Seal `entries` with the workstation's clinic key (or a `ring` stolen earlier), sign
    with its device key, put them in the bucket and (unless told not to) announce them in
    the feed, as an attacker who wants them read would."""
    eng = engine_of(ws)
    ring = ring or eng.ring
    clinic = eng.id.clinic_id
    device = device or eng.id.device_id
    nxt, prev = next_position(bucket, clinic, device)
    seq = seq or nxt
    header = Header(
        clinic=clinic,
        device=device,
        seq=seq,
        prev=prev,
        kind=kind,
        deps={},
        wrap="clinic-aesgcm",
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        kv=ring.current,
    )
    wrapper, signer = ring.wrapper(ring.current), signer or eng.keys.sign
    if compressed is not None:
        blob = seal_compressed(header, compressed, wrapper, signer)
    else:
        blob = seal(header, {"records": entries, **(extra or {})}, wrapper, signer)
    key = key or bundle_key(clinic, device, seq)
    bucket.s3().put_object(Bucket=bucket.name, Key=key, Body=blob)
    if announce and kind == "changes":
        announce_bundle(bucket, clinic, device, seq)
    return key


def announce_bundle(bucket: Bucket, clinic: str, device: str, seq: int) -> None:
    """Write the feed marker a real upload writes, so readers look at the bundle now."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    bucket.s3().put_object(Bucket=bucket.name, Key=feed_key(clinic, ms, device, seq), Body=b"")
