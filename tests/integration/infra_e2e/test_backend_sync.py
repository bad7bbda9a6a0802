"""Two workstations sync through exactly the resources the CDK stack defines (in moto).

The checked-in synthesized template (infra/templates/) is deployed into moto's server; the
desktop's real sync code then runs against the bucket and bus it created. Every request the
sync makes is recorded and evaluated against the workstation role's policy and the bucket
policies read back from the server: all must be allowed, and the same requests for another
clinic, without TLS, or without `If-None-Match` must be denied.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.config import load_settings
from app.domain import Role
from app.services import patients, sync_service
from app.services.context import AppContext, cli_actor
from infra.novamind_infra import checks
from infra.novamind_infra.params import demo_params
from sync.enrolment import write_enrolment
from sync.transport import Endpoint, Transport
from tests.conftest import make_user
from tests.integration.infra_e2e.deploy import ACCOUNT, Deployed
from tests.integration.infra_e2e.iam_eval import Request, decide
from tests.integration.sync.helpers import Workstation, add_patients, dump, edit_patient

PASSPHRASE = "infra e2e enrolment passphrase"
OTHER_CLINIC = "00000000-0000-4000-8000-000000000000"


def _client(stack: Deployed, url: str, service: str) -> Any:  # noqa: ANN401
    return boto3.client(service, endpoint_url=url, region_name=stack.region)


class Recorder:
    """Every S3 / EventBridge call of a transport, as IAM requests (plus the KMS calls that
    SSE-KMS makes on the caller's behalf)."""

    def __init__(self, stack: Deployed) -> None:
        self.stack = stack
        self.requests: list[Request] = []

    def attach(self, transport: Transport) -> None:
        transport.s3.meta.events.register("before-parameter-build.s3", self._s3)
        transport.events.meta.events.register("before-parameter-build.events", self._events)

    def _s3(self, params: dict[str, Any], model: Any, **_: Any) -> None:  # noqa: ANN401
        tls = {"aws:SecureTransport": "true"}  # production endpoints are https (moto here: http)
        kms_ctx = {"kms:ViaService": f"s3.{self.stack.region}.amazonaws.com"}
        key_arn = self.stack.outputs["KeyArn"]
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        op = model.name
        if op == "PutObject":
            ctx = dict(tls)
            if "IfNoneMatch" in params:
                ctx["s3:if-none-match"] = params["IfNoneMatch"]
            self.requests.append(Request("s3:PutObject", f"{bucket}/{params['Key']}", ctx))
            self.requests.append(Request("kms:GenerateDataKey", key_arn, kms_ctx))
        elif op in ("GetObject", "HeadObject"):
            self.requests.append(Request("s3:GetObject", f"{bucket}/{params['Key']}", tls))
            if op == "GetObject":
                self.requests.append(Request("kms:Decrypt", key_arn, kms_ctx))
        elif op == "ListObjectsV2":
            ctx = dict(tls)
            if "Prefix" in params:
                ctx["s3:prefix"] = params["Prefix"]
            self.requests.append(Request("s3:ListBucket", bucket, ctx))
        else:
            self.requests.append(Request(f"s3:{op}", bucket, tls))

    def _events(self, params: dict[str, Any], model: Any, **_: Any) -> None:  # noqa: ANN401
        for entry in params.get("Entries", []):
            arn = f"arn:aws:events:{self.stack.region}:{ACCOUNT}:event-bus/{entry['EventBusName']}"
            self.requests.append(Request(f"events:{model.name}", arn))


@pytest.fixture
def policies(stack: Deployed, moto_server: str) -> tuple[list[dict], list[dict]]:
    """The workstation role's policies and both bucket policies, read back from the server."""
    iam, s3 = _client(stack, moto_server, "iam"), _client(stack, moto_server, "s3")
    role = stack.outputs["WorkstationRoleArn"].rsplit("/", 1)[-1]
    identity = [
        iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
        for n in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    resource = []
    for out in ("BundleBucketName", "AuditBucketName"):
        bucket = stack.outputs[out]
        try:
            installed = _as_list(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))
        except s3.exceptions.ClientError:
            installed = []
        resource.append({"Statement": installed + stack.withheld[bucket]})
    return identity, resource


def _as_list(doc: dict) -> list[dict]:
    st = doc["Statement"]
    return st if isinstance(st, list) else [st]


def _open(root: Path, name: str, stack: Deployed, url: str, enrolment: Path) -> Workstation:
    env = {
        "NOVAMIND_DATA_DIR": str(root / name),
        "NOVAMIND_POLICY": str(root / "no-policy.toml"),
        "NOVAMIND_SYNC_ENDPOINT": url,
        "NOVAMIND_SYNC_BUCKET": stack.outputs["BundleBucketName"],
        "NOVAMIND_SYNC_REGION": stack.region,
    }
    ctx = AppContext.open(load_settings(env))
    sync_service.enrol_workstation(ctx, cli_actor(), enrolment, PASSPHRASE)
    endpoint = sync_service.endpoint_from_settings(ctx)
    assert endpoint.bucket == stack.outputs["BundleBucketName"]
    assert endpoint.region == stack.region
    transport = Transport(
        Endpoint(
            bucket=endpoint.bucket,
            region=endpoint.region,
            endpoint_url=endpoint.endpoint_url,
            access_key="testing",
            secret_key="testing",
        ),
        attempts=3,
        base_delay=0.01,
    )
    return Workstation(name, ctx, transport)


def test_checked_in_template_passes_the_security_checks(template: dict) -> None:
    assert checks.findings(template) == []
    assert template["Outputs"]["ClinicId"]["Value"] == demo_params().clinic_id


def test_deployed_resources_have_the_template_properties(stack: Deployed, moto_server: str) -> None:
    # the conditional bucket-policy statements moto cannot evaluate are exactly the TLS-only
    # and create-only denies; iam_eval applies them to every request in the sync test
    withheld = [st for sts in stack.withheld.values() for st in sts]
    assert sorted(json.dumps(st["Condition"], sort_keys=True) for st in withheld) == sorted(
        ['{"Bool": {"aws:SecureTransport": "false"}}'] * 2
        + ['{"Null": {"s3:if-none-match": "true"}}']
    )
    s3 = _client(stack, moto_server, "s3")
    key_arn = stack.outputs["KeyArn"]
    for out in ("BundleBucketName", "AuditBucketName"):
        b = stack.outputs[out]
        assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn,
        }
        pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        assert all(pab.values()) and len(pab) == 4
        assert s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    lock = s3.get_object_lock_configuration(Bucket=stack.outputs["AuditBucketName"])
    retention = lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", demo_params().retention_days)
    kms = _client(stack, moto_server, "kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    bus = _client(stack, moto_server, "events").describe_event_bus(
        Name=stack.outputs["EventBusName"]
    )
    assert bus["Name"] == demo_params().bus_name


def test_two_workstations_sync_through_the_stack(
    stack: Deployed, moto_server: str, policies: tuple[list[dict], list[dict]], tmp_path: Path
) -> None:
    p = demo_params()
    enrolment = tmp_path / "clinic.enrol.json"
    write_enrolment(
        enrolment, PASSPHRASE, clinic_id=p.clinic_id, event_bus=stack.outputs["EventBusName"]
    )
    # platform events on the clinic bus land in a log group (as a platform consumer would)
    events, logs = _client(stack, moto_server, "events"), _client(stack, moto_server, "logs")
    group = "/novamind/e2e-platform"
    logs.create_log_group(logGroupName=group)
    bus = stack.outputs["EventBusName"]
    events.put_rule(
        Name="desktop", EventBusName=bus, EventPattern=json.dumps({"source": ["novamind.desktop"]})
    )
    target = f"arn:aws:logs:{stack.region}:{ACCOUNT}:log-group:{group}"
    events.put_targets(Rule="desktop", EventBusName=bus, Targets=[{"Id": "1", "Arn": target}])

    rec = Recorder(stack)
    a = _open(tmp_path, "ws-a", stack, moto_server, enrolment)
    b = _open(tmp_path, "ws-b", stack, moto_server, enrolment)
    try:
        rec.attach(a.transport)
        rec.attach(b.transport)
        doc = make_user(a.ctx, "dr.infra", Role.CLINICIAN)
        created = patients.create_patient(
            a.ctx, doc, mrn="E2E-1", given_name="G", family_name="F",
            birth_date=date(1980, 1, 1), sex="female",
        )  # fmt: skip
        pa = add_patients(a, 4, "A")
        pb = add_patients(b, 3, "B")
        reports = [w.sync() for w in (a, b, a, b)]
        da, db = dump(a), dump(b)
        assert da == db
        assert set(pa) | set(pb) | {created} <= set(da["patients"])
        edit_patient(a, pa[0], status="inactive")
        edit_patient(b, pa[0], sex="other")
        for w in (a, b, a, b):
            w.sync()
        da, db = dump(a), dump(b)
        assert da == db
        assert (da["patients"][pa[0]]["status"], da["patients"][pa[0]]["sex"]) == (
            "inactive",
            "other",
        )
        assert sum(r.events_published for r in reports) >= 1
        for w in (a, b):
            st = sync_service.sync_status(w.ctx)
            assert (st.unsent_bundles, st.quarantined, st.open_conflicts) == (0, 0, 0)
    finally:
        a.close()
        b.close()

    # the objects are where the role allows them: under this clinic's prefix only
    s3 = _client(stack, moto_server, "s3")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=stack.outputs["BundleBucketName"])["Contents"]
    ]
    assert keys and all(k.startswith(p.prefix + "dev/") for k in keys)
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams, "no platform event reached the clinic bus"

    # every request the sync made is allowed by the stack's policies ...
    identity, resource = policies
    actions = {r.action for r in rec.requests}
    assert {"s3:PutObject", "s3:GetObject", "s3:ListBucket", "events:PutEvents"} <= actions
    denied = [r for r in rec.requests if not decide(r, identity, resource)]
    assert denied == []
    # ... and the same requests are denied for another clinic, without TLS, or as overwrites
    for r in rec.requests:
        if r.action.startswith("s3:"):
            other = Request(
                r.action,
                r.resource.replace(p.clinic_id, OTHER_CLINIC),
                {k: v.replace(p.clinic_id, OTHER_CLINIC) for k, v in r.context.items()},
            )
            assert not decide(other, identity, resource), other
            plain = Request(r.action, r.resource, {**r.context, "aws:SecureTransport": "false"})
            assert not decide(plain, identity, resource), plain
        if r.action == "s3:PutObject":
            ctx = {k: v for k, v in r.context.items() if k != "s3:if-none-match"}
            assert not decide(Request(r.action, r.resource, ctx), identity, resource)


def test_audit_heads_are_locked_and_writable_only_under_the_clinic_prefix(
    stack: Deployed, moto_server: str, policies: tuple[list[dict], list[dict]]
) -> None:
    p = demo_params()
    s3 = _client(stack, moto_server, "s3")
    bucket = stack.outputs["AuditBucketName"]
    key = f"{p.prefix}audit/device-1/000000000001.json"
    identity, resource = policies
    arn = f"arn:aws:s3:::{bucket}/{key}"
    tls = {"aws:SecureTransport": "true"}
    assert decide(Request("s3:PutObject", arn, tls), identity, resource)
    assert not decide(
        Request("s3:PutObject", arn.replace(p.clinic_id, OTHER_CLINIC), tls), identity, resource
    )
    assert not decide(Request("s3:DeleteObject", arn, tls), identity, resource)
    version = s3.put_object(Bucket=bucket, Key=key, Body=b'{"head": "00"}')["VersionId"]
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - head["LastModified"]).days
    assert abs(days - p.retention_days) <= 1
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
