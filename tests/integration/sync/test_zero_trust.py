"""The attacks of issue 16, performed through real bundles on the moto server, and refused.

Each test plays a stolen or hostile workstation that holds a real device key and the clinic
key, builds real signed bundles (tests/integration/sync/forge.py) and shows the victim
quarantines them, audits the refusal and writes nothing of them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.domain import Role
from app.core.errors import ConfigError, ValidationError
from app.core.store.models import AuditEvent, Patient, SyncQuarantine, User
from app.services import admin, sync_service
from app.services.context import cli_actor
from sync import state
from sync.envelope import BundleError, open_sealed, read_header
from sync.identity import DeviceKeys
from sync.transport import bundle_key, snapshot_key
from tests.integration.sync.forge import engine_of, entry_of, forge, next_position
from tests.integration.sync.helpers import (
    PASSPHRASE,
    Bucket,
    Workstation,
    add_patients,
    device_of,
    dump,
    open_workstation,
)
from tests.support.records import add_user, make_user

CLINICAL = ("clinical",)


@pytest.fixture
def clinic(bucket: Bucket, tmp_path: Path):  # noqa: ANN201
    """A: IT's admin workstation; B: a clinical workstation (the victim); L: a laptop."""
    a = open_workstation(tmp_path, "ws-a", bucket)
    b = open_workstation(tmp_path, "ws-b", bucket, roles=CLINICAL)
    laptop = open_workstation(tmp_path, "laptop", bucket, roles=CLINICAL)
    add_patients(a, 2, "A")
    for ws in (a, b, laptop, a, b):
        ws.sync()
    yield a, b, laptop
    for ws in (a, b, laptop):
        ws.close()


def _quarantine_audited(ws: Workstation, key: str) -> list[str]:
    """Reasons recorded for `key`; also checks each one was audited."""

    def read(s):  # noqa: ANN001, ANN202
        reasons = [q.reason for q in s.scalars(select(SyncQuarantine)) if q.object_key == key]
        audited = [
            e.detail_json
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "sync.quarantine"))
        ]
        return reasons, audited

    reasons, audited = ws.ctx.store.read(read)
    assert reasons, f"{key} was not quarantined"
    assert any(key in d for d in audited), "the quarantine was not audited"
    return reasons


def _count(ws: Workstation, model: type) -> int:
    return ws.ctx.store.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def test_a_clinical_laptop_cannot_create_a_supervisor_anywhere(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    a, b, laptop = clinic
    users_before = _count(b, User)
    # 1. the honest path: an account made on a clinical workstation stays on it
    add_user(laptop.ctx, "evil.sup", Role.SUPERVISOR)
    laptop.sync()
    b.sync()
    assert _count(b, User) == users_before
    # 2. the attack: the laptop signs a bundle with the account (and a patient) in it
    uid = laptop.ctx.store.read(
        lambda s: s.scalar(select(User.id).where(User.username == "evil.sup"))
    )
    (pid,) = add_patients(laptop, 1, "EVIL")
    entries = [entry_of(laptop, "patients", pid), entry_of(laptop, "users", uid)]
    entries[1]["v"]["author_id"] = "os:root"
    key = forge(bucket, laptop, entries)
    report = b.sync()
    assert key in report.quarantined
    assert "not certified for admin" in _quarantine_audited(b, key)[0]
    assert _count(b, User) == users_before
    assert pid not in dump(b)["patients"]  # nothing of the bundle, not even its patient


def test_a_clinician_s_new_patient_travels_from_a_clinical_workstation(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    from app.services import auth, patients

    a, b, _ = clinic
    make_user(a.ctx, "dr.ward", Role.CLINICIAN)  # accounts are made on the admin workstation
    a.sync(), b.sync()
    doc = auth.login(b.ctx, "dr.ward", "correct horse battery")
    pid = patients.create_patient(
        b.ctx, doc, mrn="W-1", given_name="G", family_name="F",
        birth_date=date(1990, 1, 1), sex="female",
    )  # fmt: skip
    report = b.sync()
    assert report.quarantined == [] and report.bundles_pushed == 1
    assert a.sync().quarantined == []
    da = dump(a)
    assert pid in da["patients"]
    assert any(
        c["patient_id"] == pid and c["user_id"] == doc.user_id for c in da["care_team"].values()
    )


def test_an_admin_device_cannot_relay_an_account_a_clinician_authored(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    a, b, _ = clinic
    doc = make_user(a.ctx, "dr.plain", Role.CLINICIAN)
    a.sync(), b.sync()
    add_user(a.ctx, "sneaky.sup", Role.SUPERVISOR)
    uid = a.ctx.store.read(lambda s: s.scalar(select(User.id).where(User.username == "sneaky.sup")))
    entry = entry_of(a, "users", uid)
    entry["v"]["author_id"] = doc.user_id  # a clinician's account cannot make supervisors
    key = forge(bucket, a, [entry])
    report = b.sync()
    assert key in report.quarantined
    assert "not authored by an admin" in _quarantine_audited(b, key)[0]
    assert (
        b.ctx.store.read(lambda s: s.scalar(select(User.id).where(User.username == "sneaky.sup")))
        is None
    )


def test_forging_a_bundle_as_another_device_is_refused(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    a, b, laptop = clinic
    (pid,) = add_patients(laptop, 1, "FORGED")
    entry = entry_of(laptop, "patients", pid)
    # the laptop signs with its own key but files the bundle as workstation A
    as_a = forge(bucket, laptop, [entry], device=device_of(a))
    report = b.sync()
    assert as_a in report.quarantined
    assert "signature does not verify" in _quarantine_audited(b, as_a)[0]
    # a device IT never certified, with a key of its own and the stolen clinic key
    ghost = "0badf00d-0000-4000-8000-000000000000"
    unknown = forge(bucket, laptop, [entry], device=ghost, signer=DeviceKeys.generate().sign)
    report = b.sync()
    assert unknown in report.quarantined
    assert "unknown device" in _quarantine_audited(b, unknown)[0]
    assert pid not in dump(b)["patients"]


def test_an_unannounced_bundle_is_found_by_the_full_scan(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    """Feed markers are hints: a bundle planted without one is not read at the next cycle,
    but the periodic full scan of every device prefix finds (and here refuses) it."""
    a, b, laptop = clinic
    (pid,) = add_patients(laptop, 1, "QUIET")
    key = forge(bucket, laptop, [entry_of(laptop, "patients", pid)], device=device_of(a),
                announce=False)  # fmt: skip
    assert key not in b.sync().quarantined  # not announced: not read yet
    b.ctx.store.write(lambda uow: state.put(uow.session, state.FULL_SCAN_AT, "0"))
    assert key in b.sync().quarantined  # the full scan reads every prefix
    assert pid not in dump(b)["patients"]


def test_lying_feed_markers_cost_nothing(bucket: Bucket, clinic: tuple[Workstation, ...]) -> None:
    """Markers announcing a bundle 10^11 ahead, and one from the year 2100: the next cycle
    makes a bounded number of requests, merges nothing, and the feed keeps working."""
    from tests.bench.bench_sync import Counter
    from tests.integration.sync.forge import announce_bundle

    a, b, _ = clinic
    clinic_id = engine_of(a).id.clinic_id
    announce_bundle(bucket, clinic_id, device_of(a), 10**11)
    far = f"v2/{clinic_id}/feed/4102444800000/{device_of(a)}/000000000001.nmf"
    bucket.s3().put_object(Bucket=bucket.name, Key=far, Body=b"")
    before, counter = dump(b), Counter(b)
    report = b.sync()
    assert report.quarantined == [] and dump(b) == before
    assert counter.n <= 4  # registry, feed, one GET that finds nothing (+ events)
    (pid,) = add_patients(a, 1, "AFTER")
    a.sync()
    b.sync()
    assert pid in dump(b)["patients"]  # the 2100 marker did not push the window past today


def test_a_far_future_clock_is_quarantined_never_merged(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    a, b, laptop = clinic
    pid = next(iter(dump(a)["patients"]))
    entry = entry_of(laptop, "patients", pid)
    future = f"4102444800000-00000-{device_of(laptop)}"  # the year 2100
    entry["v"]["family_name"] = "Hijacked"
    entry["c"]["family_name"] = [future, entry["c"]["family_name"][0]]
    hlc_before = b.ctx.store.read(lambda s: state.get(s, state.HLC))
    key = forge(bucket, laptop, [entry])
    report = b.sync()
    assert key in report.quarantined
    assert "drift bound" in _quarantine_audited(b, key)[0]
    assert dump(b)["patients"][pid]["family_name"] != "Hijacked"
    assert b.ctx.store.read(lambda s: state.get(s, state.HLC)) < future
    assert hlc_before < future


def test_a_forged_snapshot_cannot_make_a_new_workstation_skip_bundles(
    bucket: Bucket, clinic: tuple[Workstation, ...], tmp_path: Path
) -> None:
    a, b, laptop = clinic
    add_patients(b, 2, "B")
    add_patients(laptop, 1, "L")
    b.sync(), laptop.sync()
    clinic_id = engine_of(a).id.clinic_id
    seq_a, _ = next_position(bucket, clinic_id, device_of(a))
    seq_b, _ = next_position(bucket, clinic_id, device_of(b))
    # the laptop (clinical only) claims every chain is already merged
    lie = {device_of(a): [seq_a + 50, "f" * 64], device_of(b): [seq_b + 50, "f" * 64]}
    seq_l, head_l = next_position(bucket, clinic_id, device_of(laptop))
    lie[device_of(laptop)] = [seq_l - 1, head_l]
    by_laptop = forge(
        bucket,
        laptop,
        [],
        kind="snapshot",
        seq=seq_l - 1,
        extra={"cursors": lie},
        key=snapshot_key(clinic_id, device_of(laptop), seq_l - 1),
    )
    # IT's own admin workstation, stolen: a real signature, but cursors naming no real head
    seq_a_head, head_a = seq_a - 1, next_position(bucket, clinic_id, device_of(a))[1]
    lie_a = {device_of(a): [seq_a_head, head_a], device_of(b): [seq_b - 1, "e" * 64]}
    by_admin = forge(
        bucket,
        a,
        [],
        kind="snapshot",
        seq=seq_a_head,
        extra={"cursors": lie_a},
        key=snapshot_key(clinic_id, device_of(a), seq_a_head),
    )
    fresh = open_workstation(tmp_path, "fresh", bucket)
    try:
        report = fresh.sync()
        assert report.snapshot_used == ""
        assert {by_laptop, by_admin} <= set(report.quarantined)
        assert "not certified for admin" in _quarantine_audited(fresh, by_laptop)[0]
        assert "chain head" in _quarantine_audited(fresh, by_admin)[0]
        b.sync()
        assert set(dump(fresh)["patients"]) == set(dump(b)["patients"])  # nothing skipped
    finally:
        fresh.close()


def test_a_revoked_laptop_is_shut_out_and_the_clinic_key_rotates(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    a, b, laptop = clinic
    (before,) = add_patients(laptop, 1, "PRE")
    laptop.sync()
    laptop_device = device_of(laptop)
    stolen_ring = engine_of(laptop).ring
    revocation = bucket.revoke(laptop_device)
    assert revocation.key_version == 2 and revocation.last_valid_seq >= 1
    # the stolen laptop keeps writing with its still-valid-looking key
    (after,) = add_patients(laptop, 1, "POST")
    with pytest.raises(ConfigError, match="revoked"):
        laptop.sync()
    key = forge(bucket, laptop, [entry_of(laptop, "patients", after)], ring=stolen_ring)
    (fresh_pid,) = add_patients(a, 1, "NEW")
    a.sync()
    report = b.sync()
    assert key in report.quarantined
    assert "revoked device after its revocation" in _quarantine_audited(b, key)[0]
    patients_b = dump(b)["patients"]
    assert before in patients_b  # written before the revocation: still valid
    assert after not in patients_b and fresh_pid in patients_b
    # what A wrote after the rotation is sealed under version 2, which the laptop never had
    clinic_id = engine_of(a).id.clinic_id
    seq, _ = next_position(bucket, clinic_id, device_of(a))
    blob = (
        bucket.s3()
        .get_object(Bucket=bucket.name, Key=bundle_key(clinic_id, device_of(a), seq - 1))["Body"]
        .read()
    )
    assert read_header(blob)[0].kv == 2
    with pytest.raises(BundleError):
        open_sealed(blob, stolen_ring.wrapper(2))
    with pytest.raises(BundleError):
        open_sealed(blob, stolen_ring.wrapper(1))
    assert engine_of(b).ring.current == 2
    # recovered and enrolled again, the laptop becomes a new device IT must approve
    again = sync_service.enrol_workstation(laptop.ctx, cli_actor(), bucket.enrolment, PASSPHRASE)
    assert again.device_id != laptop_device
    bucket.approve(again.request_path, CLINICAL)
    laptop.sync()
    b.sync()
    assert after in dump(b)["patients"]  # its record arrives under the new, checked identity


def test_duplicate_keys_become_conflicts_and_sync_goes_on(
    bucket: Bucket, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    canary = "Canary7Zq"
    a = open_workstation(tmp_path, "ws-a", bucket)
    b = open_workstation(tmp_path, "ws-b", bucket)
    try:
        for ws in (a, b):  # the same MRN and the same user name, registered offline on both
            ws.ctx.store.write(
                lambda uow: uow.session.add(
                    Patient(
                        mrn="MRN-DUP",
                        given_name=canary,
                        family_name=canary,
                        birth_date=date(1980, 1, 1),
                        sex="female",
                        is_synthetic=True,
                    )
                )
            )
            admin.create_user(
                ws.ctx,
                cli_actor(),
                username="dup.user",
                display_name=canary,
                role=Role.CLINICIAN,
                password="a long enough password",
            )
        for ws in (a, b, a, b):
            ws.sync()
        da, db = dump(a), dump(b)
        assert da == db  # converged
        mrns = sorted(p["mrn"] for p in da["patients"].values())
        assert mrns[0] == "MRN-DUP" and mrns[1].startswith("MRN-DUP~")
        names = sorted(u["username"] for u in da["users"].values() if "dup.user" in u["username"])
        assert names[0] == "dup.user" and names[1].startswith("dup.user~")
        # the same care-team pair assigned offline on both: one row survives everywhere
        pid = next(k for k, p in da["patients"].items() if p["mrn"] == "MRN-DUP")
        for ws in (a, b):
            admin.assign_care_team(ws.ctx, cli_actor(), username="dup.user", patient_id=pid)
        for ws in (a, b, a, b):
            ws.sync()
        da, db = dump(a), dump(b)
        assert da == db
        uid = next(k for k, u in da["users"].items() if u["username"] == "dup.user")
        pairs = [(c["patient_id"], c["user_id"]) for c in da["care_team"].values()]
        assert pairs.count((pid, uid)) == 1
        for ws in (a, b):
            it = make_user(ws.ctx, f"it.{ws.name.replace('-', '')}", Role.IT)
            conflicts = sync_service.list_conflicts(ws.ctx, it)
            assert "username" in {c.field for c in conflicts}
            name_clash = next(c for c in conflicts if c.field == "username")
            with pytest.raises(ValidationError, match="Another record"):
                sync_service.resolve_conflict(ws.ctx, it, name_clash.id, "remote")
        for record in caplog.records:
            assert canary not in record.getMessage() and canary not in str(record.exc_text)
    finally:
        a.close(), b.close()


def test_a_decompression_bomb_is_quarantined_in_bounded_memory(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    import threading
    import zlib

    a, b, laptop = clinic
    comp, parts = zlib.compressobj(9), []
    parts.append(comp.compress(b'{"records":['))
    zeros = b"\0" * (64 << 20)
    for _ in range(32):  # 2 GiB of zeros
        parts.append(comp.compress(zeros))
    parts.append(comp.flush())
    bomb = b"".join(parts)
    del zeros, parts
    assert len(bomb) < 5 << 20
    key = forge(bucket, laptop, [], compressed=bomb)
    del bomb

    def rss() -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) * 1024

    peak, done = [rss()], threading.Event()
    baseline = peak[0]

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            done.wait(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        report = b.sync()
    finally:
        done.set()
        sampler.join()
    growth = peak[0] - baseline
    print(f"bomb: peak RSS growth {growth / 2**20:.1f} MiB")
    assert key in report.quarantined
    assert "cap" in _quarantine_audited(b, key)[0]
    assert growth < 100 * 2**20


def test_a_bundle_over_the_download_cap_is_quarantined_unread(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    import os
    import zlib

    a, b, laptop = clinic
    noise = zlib.compress(os.urandom(40 << 20), 0)  # 40 MiB that does not compress
    key = forge(bucket, laptop, [], compressed=noise)
    report = b.sync()  # default cap: 32 MiB
    assert key in report.quarantined
    assert "download cap" in _quarantine_audited(b, key)[0]


def test_retry_after_a_crash_is_decided_by_sha256_under_sse_kms(bucket: Bucket) -> None:
    """Real AWS gives SSE-KMS objects an ETag that is not their MD5; moto does not, so the
    test makes the server's ETag opaque the same way and shows the retry still decides right."""
    import boto3

    from sync.transport import TransportError

    kw = dict(endpoint_url=bucket.url, region_name="us-east-1")
    kms = boto3.client("kms", **kw)
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    bucket.s3().put_bucket_encryption(
        Bucket=bucket.name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": key_arn,
                    }
                }
            ]
        },
    )
    t = bucket.transport()

    def opaque_etag(parsed: dict, **_: object) -> None:
        if "ETag" in parsed:
            parsed["ETag"] = '"0123456789abcdef0123456789abcdef-kms"'

    t.s3.meta.events.register(
        "after-call.s3.HeadObject", lambda http_response, parsed, **kw: opaque_etag(parsed)
    )
    data = b"sealed bundle bytes " * 100
    assert t.put_create_only("v2/x/dev/y/000000000001.nmb", data) is True
    head = bucket.s3().head_object(Bucket=bucket.name, Key="v2/x/dev/y/000000000001.nmb")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert t.put_create_only("v2/x/dev/y/000000000001.nmb", data) is False  # same bytes: done
    with pytest.raises(TransportError, match="other content"):
        t.put_create_only("v2/x/dev/y/000000000001.nmb", data + b"!")


def test_a_workstation_waits_for_it_before_syncing(bucket: Bucket, tmp_path: Path) -> None:
    ws = open_workstation(tmp_path, "pending", bucket, roles=None)
    try:
        with pytest.raises(ConfigError, match="not approved"):
            ws.sync()
        request = sorted(Path(ws.ctx.settings.data_dir).glob("device-request-*.json"))[0]
        bucket.approve(request, CLINICAL)
        assert ws.sync().bundles_pushed >= 0
        assert json.loads(request.read_text())["doc"]["device_id"] == device_of(ws)
    finally:
        ws.close()


def test_sync_assumes_the_workstation_role_tagged_with_its_device(bucket: Bucket) -> None:
    """With `sync_role_arn` set, every cycle's S3 calls run as the workstation role under this
    device's session tag (what IAM's per-device prefixes key on, see infra/)."""
    import boto3

    from sync.transport import Endpoint, Transport, TransportError

    iam = boto3.client("iam", endpoint_url=bucket.url, region_name="us-east-1")
    role = iam.create_role(
        RoleName="NovamindWorkstationRole",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    device = "3c9d2b7e-0000-4000-8000-000000000001"
    endpoint = bucket.endpoint()
    t = Transport(Endpoint(**{**endpoint.__dict__, "role_arn": role, "device_tag": device}))
    creds = t.s3._request_signer._credentials
    assert creds.token and creds.access_key != endpoint.access_key  # temporary role credentials
    sts = boto3.client(
        "sts",
        endpoint_url=bucket.url,
        region_name="us-east-1",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
    )
    arn = sts.get_caller_identity()["Arn"]
    assert "NovamindWorkstationRole" in arn and f"novamind-{device[:8]}" in arn
    assert t.put_create_only(f"v2/c/dev/{device}/000000000001.nmb", b"x") is True
    with pytest.raises(TransportError, match="no device id"):
        Transport(Endpoint(**{**endpoint.__dict__, "role_arn": role}))


def test_a_certificate_not_signed_by_the_clinic_it_key_is_refused(
    bucket: Bucket, clinic: tuple[Workstation, ...]
) -> None:
    """A self-made 'IT key' certifies a rogue device in the bucket's registry: workstations
    refuse the entry (it does not verify against the key they pinned) and the device."""
    from sync import registry
    from sync.identity import b64, sign_doc
    from sync.it_keystore import ITKeystore, new_it_keystore

    a, b, laptop = clinic
    held = engine_of(b).registry
    forged_it: ITKeystore = new_it_keystore(bucket.keystore.clinic_id)
    rogue = DeviceKeys.generate()
    rogue_id = "7e5a0f00-0000-4000-8000-000000000001"
    cert = sign_doc(
        forged_it.signing_key,
        {
            "clinic": held.clinic,
            "seq": held.seq + 1,
            "prev": held.head_sha,
            "kind": "device",
            "issued": "2026-12-06T00:00:00+00:00",
            "device": rogue_id,
            "sign_key": b64(rogue.sign_public),
            "box_key": b64(rogue.box_public),
            "roles": ["clinical", "admin"],
            "not_before": "2026-12-06T00:00:00+00:00",
        },
    )
    entry_key = registry.registry_key(held.clinic, held.seq + 1)
    bucket.s3().put_object(Bucket=bucket.name, Key=entry_key, Body=cert)
    (pid,) = add_patients(laptop, 1, "ROGUE")
    bundle = forge(
        bucket, laptop, [entry_of(laptop, "patients", pid)], device=rogue_id, signer=rogue.sign
    )
    report = b.sync()
    assert entry_key in report.quarantined
    assert "signature does not verify" in _quarantine_audited(b, entry_key)[0]
    assert rogue_id not in engine_of(b).registry.devices
    assert bundle in report.quarantined
    assert "unknown device" in _quarantine_audited(b, bundle)[0]
    assert pid not in dump(b)["patients"]
