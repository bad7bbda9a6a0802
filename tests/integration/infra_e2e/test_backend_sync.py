"""Two workstations sync through exactly the resources the CDK stack defines (in moto).

The checked-in synthesized template (infra/templates/) is deployed into moto's server; the
desktop's real sync code then runs against the bucket and bus it created, and IT's real
`sync_it` commands write the device registry. Every request is recorded and evaluated
against the policies read back from the server: a workstation's requests against the
workstation role (inline policy + permissions boundary) with the session tag
`novamind-device=<its device id>` (taken from the IAM user IT created for it), IT's requests
(registry writes, workstation users) against the IT role (inline policy + boundary), both
with the bucket policies. All must be allowed; the same requests for another clinic, another
device's prefix, the registry (as a workstation), without TLS or without `If-None-Match` must
be denied. The change-feed markers each sync writes after a bundle
(`feed/<ms>/<device>/<seq>.nmf`) are allowed only keyed on the session's own device id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from app.core.config import load_settings
from app.core.domain import Role
from app.services import admin, notes, sync_it, sync_service
from app.services.context import AppContext, cli_actor
from infra.novamind_infra import checks
from infra.novamind_infra.params import demo_params
from sync.enrolment import read_request
from sync.transport import Endpoint, Transport
from tests.conftest import make_user
from tests.integration.infra_e2e.deploy import ACCOUNT, Deployed
from tests.integration.infra_e2e.iam_eval import Request, decide, trust_allows
from tests.integration.sync.helpers import Workstation, add_patients, dump, edit_patient

PASSPHRASE = "infra e2e enrolment passphrase"
IT_PASSPHRASE = "infra e2e IT keystore passphrase"
OTHER_CLINIC = "00000000-0000-4000-8000-000000000000"
DEVICE_TAG = "novamind-device"
DEVICE_KEY = f"aws:PrincipalTag/{DEVICE_TAG}"
TLS = {"aws:SecureTransport": "true"}  # production endpoints are https (moto here: http)
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _client(stack: Deployed, url: str, service: str) -> Any:  # noqa: ANN401
    return boto3.client(service, endpoint_url=url, region_name=stack.region)


class Recorder:
    """Every S3 / EventBridge / IAM call of one principal's clients, as IAM requests (plus the
    KMS calls that SSE-KMS makes on the caller's behalf). `principal` is the principal's own
    part of the request context (a workstation session: its device tag)."""

    def __init__(self, stack: Deployed, principal: dict[str, str]) -> None:
        self.stack = stack
        self.principal = principal
        self.requests: list[Request] = []
        self.users: dict[str, str] = {}  # IAM user name -> ARN, from CreateUser

    def attach(self, transport: Transport) -> None:
        transport.s3.meta.events.register("before-parameter-build.s3", self._s3)
        transport.events.meta.events.register("before-parameter-build.events", self._events)

    def attach_iam(self, client: Any) -> None:  # noqa: ANN401
        client.meta.events.register("before-parameter-build.iam", self._iam)

    def _add(self, action: str, resource: str, ctx: dict[str, Any] | None = None) -> None:
        self.requests.append(Request(action, resource, {**(ctx or {}), **self.principal}))

    def _s3(self, params: dict[str, Any], model: Any, **_: Any) -> None:  # noqa: ANN401
        kms_ctx = {"kms:ViaService": f"s3.{self.stack.region}.amazonaws.com"}
        key_arn = self.stack.outputs["KeyArn"]
        bucket = f"arn:aws:s3:::{params['Bucket']}"
        op = model.name
        if op == "PutObject":
            ctx = dict(TLS)
            if "IfNoneMatch" in params:
                ctx["s3:if-none-match"] = params["IfNoneMatch"]
            self._add("s3:PutObject", f"{bucket}/{params['Key']}", ctx)
            self._add("kms:GenerateDataKey", key_arn, kms_ctx)
        elif op in ("GetObject", "HeadObject"):
            self._add("s3:GetObject", f"{bucket}/{params['Key']}", TLS)
            if op == "GetObject":
                self._add("kms:Decrypt", key_arn, kms_ctx)
        elif op == "ListObjectsV2":
            ctx = dict(TLS)
            if "Prefix" in params:
                ctx["s3:prefix"] = params["Prefix"]
            self._add("s3:ListBucket", bucket, ctx)
        else:
            self._add(f"s3:{op}", bucket, TLS)

    def _events(self, params: dict[str, Any], model: Any, **_: Any) -> None:  # noqa: ANN401
        for entry in params.get("Entries", []):
            arn = f"arn:aws:events:{self.stack.region}:{ACCOUNT}:event-bus/{entry['EventBusName']}"
            self._add(f"events:{model.name}", arn)

    def _iam(self, params: dict[str, Any], model: Any, **_: Any) -> None:  # noqa: ANN401
        op = model.name
        if op == "CreateUser":
            arn = f"arn:aws:iam::{ACCOUNT}:user{params.get('Path', '/')}{params['UserName']}"
            self.users[params["UserName"]] = arn
            ctx: dict[str, Any] = {}
            if "PermissionsBoundary" in params:
                ctx["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
            tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
            if tags:  # creating a tagged user needs iam:TagUser too
                ctx["aws:TagKeys"] = tuple(tags)
                ctx.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
                self._add("iam:TagUser", arn, ctx)
            self._add("iam:CreateUser", arn, ctx)
        elif op == "AddUserToGroup":
            groups = {
                self.stack.physical[lid]: self.stack.arns[lid]
                for lid, t in self.stack.types.items()
                if t == "AWS::IAM::Group"
            }
            self._add("iam:AddUserToGroup", groups[params["GroupName"]])
        elif op in ("CreateAccessKey", "GetUser", "ListUserTags"):
            self._add(f"iam:{op}", self.users[params["UserName"]])
        else:
            raise AssertionError(f"IAM call {op} not recorded by this test")


@dataclass
class RolePolicies:
    """A role's identity policies and its permissions boundary, as the server holds them."""

    identity: list[dict]
    boundary: list[dict]
    trust: dict


@dataclass
class Policies:
    workstation: RolePolicies
    it: RolePolicies
    resource: list[dict]  # both data buckets' bucket policies
    group: list[dict]  # the workstation group's policies (what a workstation user may do)
    user_boundary: list[dict]


def _role_policies(iam: Any, arn: str) -> RolePolicies:  # noqa: ANN401
    name = arn.rsplit("/", 1)[-1]
    role = iam.get_role(RoleName=name)["Role"]
    identity = [
        iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
        for n in iam.list_role_policies(RoleName=name)["PolicyNames"]
    ]
    boundary_arn = role["PermissionsBoundary"]["PermissionsBoundaryArn"]
    return RolePolicies(identity, [_managed(iam, boundary_arn)], role["AssumeRolePolicyDocument"])


def _managed(iam: Any, arn: str) -> dict:  # noqa: ANN401
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    return iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]


@pytest.fixture
def policies(stack: Deployed, moto_server: str) -> Policies:
    """Every policy the evaluation needs, read back from the server."""
    iam, s3 = _client(stack, moto_server, "iam"), _client(stack, moto_server, "s3")
    resource = []
    for out in ("BundleBucketName", "AuditBucketName"):
        bucket = stack.outputs[out]
        try:
            installed = _as_list(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))
        except s3.exceptions.ClientError:
            installed = []
        resource.append({"Statement": installed + stack.withheld[bucket]})
    group = stack.outputs["WorkstationGroupName"]
    group_docs = [
        iam.get_group_policy(GroupName=group, PolicyName=n)["PolicyDocument"]
        for n in iam.list_group_policies(GroupName=group)["PolicyNames"]
    ]
    return Policies(
        _role_policies(iam, stack.outputs["WorkstationRoleArn"]),
        _role_policies(iam, stack.outputs["ItRoleArn"]),
        resource,
        group_docs,
        [_managed(iam, stack.outputs["WorkstationUserBoundaryArn"])],
    )


def _as_list(doc: dict) -> list[dict]:
    st = doc["Statement"]
    return st if isinstance(st, list) else [st]


def _transport(stack: Deployed, url: str) -> Transport:
    return Transport(
        Endpoint(
            bucket=stack.outputs["BundleBucketName"],
            region=stack.region,
            endpoint_url=url,
            access_key="testing",
            secret_key="testing",
        ),
        attempts=3,
        base_delay=0.01,
    )


def _open(
    root: Path, name: str, stack: Deployed, url: str, enrolment: Path
) -> tuple[Workstation, sync_service.EnrolResult]:
    env = {
        "NOVAMIND_DATA_DIR": str(root / name),
        "NOVAMIND_POLICY": str(root / "no-policy.toml"),
        "NOVAMIND_SYNC_ENDPOINT": url,
        "NOVAMIND_SYNC_BUCKET": stack.outputs["BundleBucketName"],
        "NOVAMIND_SYNC_REGION": stack.region,
    }
    ctx = AppContext.open(load_settings(env))
    enrolled = sync_service.enrol_workstation(ctx, cli_actor(), enrolment, PASSPHRASE)
    endpoint = sync_service.endpoint_from_settings(ctx)
    assert endpoint.bucket == stack.outputs["BundleBucketName"]
    assert endpoint.region == stack.region
    return Workstation(name, ctx, _transport(stack, url)), enrolled


def _workstation_user(iam: Any, stack: Deployed, name: str, device: str) -> str:  # noqa: ANN401
    """IT creates the workstation's IAM user as docs/deployment-backend.md says: under the
    clinic's path, with the workstation user boundary and the device tag; returns its ARN."""
    p = demo_params()
    user = iam.create_user(
        Path=f"/novamind/{p.short_id}/",
        UserName=f"novamind-{p.short_id}-{name}",
        PermissionsBoundary=stack.outputs["WorkstationUserBoundaryArn"],
        Tags=[
            {"Key": DEVICE_TAG, "Value": device},
            {"Key": "novamind:clinic", "Value": p.clinic_id},
        ],
    )["User"]
    iam.add_user_to_group(
        GroupName=stack.outputs["WorkstationGroupName"], UserName=user["UserName"]
    )
    iam.create_access_key(UserName=user["UserName"])
    return user["Arn"]


def _session_context(
    iam: Any,  # noqa: ANN401
    stack: Deployed,
    policies: Policies,
    user_arn: str,
) -> dict[str, str]:
    """The workstation user assumes the role, passing its own device tag as a session tag:
    checked against the trust policy, the group policy and the user's boundary. Returns the
    session's principal context (the tag its later requests carry)."""
    # moto does not keep a user's permissions boundary (get_user omits it), so the boundary
    # the recorded CreateUser passed (checked against IT's policy in the sync test) is the one
    # applied here: policies.user_boundary
    name = user_arn.rsplit("/", 1)[-1]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}
    device = tags[DEVICE_TAG]
    role = stack.outputs["WorkstationRoleArn"]
    caller = {"aws:PrincipalArn": user_arn, DEVICE_KEY: device}

    def assume(tags: dict[str, str]) -> bool:
        ctx = {**caller, "aws:TagKeys": tuple(tags)}
        ctx.update({f"aws:RequestTag/{k}": v for k, v in tags.items()})
        reqs = [Request("sts:AssumeRole", role, ctx)]
        if tags:
            reqs.append(Request("sts:TagSession", role, ctx))
        return all(
            trust_allows(r, policies.workstation.trust, ACCOUNT)
            and decide(r, policies.group, [], policies.user_boundary)
            for r in reqs
        )

    assert assume({DEVICE_TAG: device})
    # ... but not claiming another device, without the tag, or with extra tags
    assert not assume({DEVICE_TAG: "11111111-2222-4333-8444-555555555555"})
    assert not assume({})
    assert not assume({DEVICE_TAG: device, "other": "x"})
    # ... nor can a user outside the clinic's workstation path assume it, tag or not
    elsewhere = {**caller, "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/{name}"}
    tagged = {**elsewhere, "aws:TagKeys": (DEVICE_TAG,), f"aws:RequestTag/{DEVICE_TAG}": device}
    assert not trust_allows(
        Request("sts:AssumeRole", role, tagged), policies.workstation.trust, ACCOUNT
    )
    return {DEVICE_KEY: device}


def test_checked_in_template_passes_the_security_checks(template: dict) -> None:
    assert checks.findings(template) == []
    assert template["Outputs"]["ClinicId"]["Value"] == demo_params().clinic_id


def test_deployed_resources_have_the_template_properties(stack: Deployed, moto_server: str) -> None:
    # the conditional bucket-policy statements moto cannot evaluate are exactly the TLS-only
    # denies (three buckets) and the create-only deny; iam_eval applies them in the sync test
    withheld = [st for sts in stack.withheld.values() for st in sts]
    assert sorted(json.dumps(st["Condition"], sort_keys=True) for st in withheld) == sorted(
        ['{"Bool": {"aws:SecureTransport": "false"}}'] * 3
        + ['{"Null": {"s3:if-none-match": "true"}}']
    )
    s3 = _client(stack, moto_server, "s3")
    key_arn = stack.outputs["KeyArn"]
    logs = stack.outputs["LogBucketName"]
    for out in ("BundleBucketName", "AuditBucketName", "LogBucketName"):
        b = stack.outputs[out]
        assert s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
        (rule,) = s3.get_bucket_encryption(Bucket=b)["ServerSideEncryptionConfiguration"]["Rules"]
        # data buckets: SSE-KMS with the clinic key; log bucket: SSE-S3 (S3 server access
        # logging cannot deliver to SSE-KMS buckets)
        assert rule["ApplyServerSideEncryptionByDefault"] == (
            {"SSEAlgorithm": "AES256"}
            if b == logs
            else {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
        )
        pab = s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"]
        assert all(pab.values()) and len(pab) == 4
        assert s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
    # the bundle bucket keeps every version: no rule expires anything
    for rule in s3.get_bucket_lifecycle_configuration(Bucket=stack.outputs["BundleBucketName"])[
        "Rules"
    ]:
        assert not {"Expiration", "NoncurrentVersionExpiration"} & set(rule), rule
    # server access logs of both data buckets go to the log bucket (moto checked at
    # put_bucket_logging that the log bucket's policy lets logging.s3.amazonaws.com write)
    for out, prefix in (("BundleBucketName", "bundles"), ("AuditBucketName", "audit")):
        enabled = s3.get_bucket_logging(Bucket=stack.outputs[out])["LoggingEnabled"]
        assert enabled == {"TargetBucket": logs, "TargetPrefix": f"s3-access/{prefix}/"}
    lock = s3.get_object_lock_configuration(Bucket=stack.outputs["AuditBucketName"])
    retention = lock["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", demo_params().retention_days)
    kms = _client(stack, moto_server, "kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    bus = _client(stack, moto_server, "events").describe_event_bus(
        Name=stack.outputs["EventBusName"]
    )
    assert bus["Name"] == demo_params().bus_name
    assert bus["KmsKeyIdentifier"] == key_arn
    # CloudTrail: logging, validated, encrypted with the clinic key, into the log bucket,
    # read and write data events of both data buckets
    trails = _client(stack, moto_server, "cloudtrail")
    trail = trails.get_trail(Name=stack.outputs["TrailArn"])["Trail"]
    assert (trail["S3BucketName"], trail["KmsKeyId"], trail["LogFileValidationEnabled"]) == (
        logs,
        key_arn,
        True,
    )
    assert trails.get_trail_status(Name=stack.outputs["TrailArn"])["IsLogging"] is True
    selectors = trails.get_event_selectors(TrailName=stack.outputs["TrailArn"])["EventSelectors"]
    logged = {
        v
        for sel in selectors
        if sel["ReadWriteType"] == "All"
        for dr in sel.get("DataResources", [])
        if dr["Type"] == "AWS::S3::Object"
        for v in dr["Values"]
    }
    assert logged == {
        f"arn:aws:s3:::{stack.outputs['BundleBucketName']}/",
        f"arn:aws:s3:::{stack.outputs['AuditBucketName']}/",
    }
    # both roles carry their permissions boundary
    iam = _client(stack, moto_server, "iam")
    for out in ("WorkstationRoleArn", "ItRoleArn"):
        role = iam.get_role(RoleName=stack.outputs[out].rsplit("/", 1)[-1])["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"].startswith(
            f"arn:aws:iam::{ACCOUNT}:policy/novamind/{demo_params().short_id}/"
        )


def test_two_workstations_sync_through_the_stack(
    stack: Deployed, moto_server: str, policies: Policies, tmp_path: Path
) -> None:
    p = demo_params()
    bus = stack.outputs["EventBusName"]
    # IT creates the clinic (its keystore) and the enrolment file
    ks = sync_it.init_clinic(
        tmp_path / "it.keystore", IT_PASSPHRASE, clinic_id=p.clinic_id, event_bus=bus
    )
    enrolment = tmp_path / "clinic.enrol.json"
    sync_it.create_enrolment(ks, enrolment, PASSPHRASE)
    # platform events on the clinic bus land in a log group (as a platform consumer would)
    events, logs = _client(stack, moto_server, "events"), _client(stack, moto_server, "logs")
    group = "/novamind/e2e-platform"
    logs.create_log_group(logGroupName=group)
    events.put_rule(
        Name="desktop", EventBusName=bus, EventPattern=json.dumps({"source": ["novamind.desktop"]})
    )
    target = f"arn:aws:logs:{stack.region}:{ACCOUNT}:log-group:{group}"
    events.put_targets(Rule="desktop", EventBusName=bus, Targets=[{"Id": "1", "Arn": target}])

    # IT's session (IT role): the registry writes and the workstation users
    it = Recorder(stack, {})
    it_transport = _transport(stack, moto_server)
    it.attach(it_transport)
    it_iam = _client(stack, moto_server, "iam")
    it.attach_iam(it_iam)

    a, ea = _open(tmp_path, "ws-a", stack, moto_server, enrolment)
    b, eb = _open(tmp_path, "ws-b", stack, moto_server, enrolment)
    recs: dict[str, Recorder] = {}
    try:
        for w, enrolled in ((a, ea), (b, eb)):
            user = _workstation_user(it_iam, stack, w.name, enrolled.device_id)
            sync_it.enrol_device(
                it_transport, ks, read_request(enrolled.request_path), ["clinical", "admin"]
            )
            session = _session_context(it_iam, stack, policies, user)
            assert session == {DEVICE_KEY: enrolled.device_id}
            recs[w.name] = Recorder(stack, session)
            recs[w.name].attach(w.transport)
        # an account and its care-team assignment (admin tables, made at IT's console),
        # patients and a note (clinical tables; the note queues a platform event)
        doc = make_user(a.ctx, "dr.infra", Role.CLINICIAN)
        pa = add_patients(a, 4, "A")
        pb = add_patients(b, 3, "B")
        admin.assign_care_team(a.ctx, cli_actor(), username="dr.infra", patient_id=pa[0])
        notes.create_draft(a.ctx, doc, pa[0], "Intake", "Seen today.")
        reports = [w.sync() for w in (a, b, a, b)]
        da, db = dump(a), dump(b)
        assert da == db
        assert set(pa) | set(pb) == set(da["patients"])
        assert {u["username"] for u in db["users"].values()} == {"dr.infra"}
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

    # the objects are where the roles allow them, and their keys carry only ids (so the S3
    # access logs and CloudTrail records, which hold keys, hold no patient data)
    s3 = _client(stack, moto_server, "s3")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=stack.outputs["BundleBucketName"])["Contents"]
    ]
    id_only = re.compile(
        rf"^{p.prefix}((dev|snap)/(?P<device>{UUID})/\d{{12}}\.(nmb|nms)"
        rf"|feed/\d{{13}}/(?P<feed_device>{UUID})/\d{{12}}\.nmf"
        rf"|registry/\d{{12}}\.nmr)$"
    )
    assert keys and all(id_only.match(k) for k in keys), keys
    devices = {ea.device_id, eb.device_id}
    matches = [m for k in keys if (m := id_only.match(k))]
    assert {m["device"] for m in matches if m["device"]} == devices
    assert any(k.startswith(p.prefix + "registry/") for k in keys)
    # both devices announced their bundles in the change feed, each marker under its own
    # device id and naming a bundle that device uploaded
    assert {m["feed_device"] for m in matches if m["feed_device"]} == devices
    for k in keys:
        if (m := id_only.match(k)) and m["feed_device"]:
            bundle = f"{p.prefix}dev/{m['feed_device']}/{k.rsplit('/', 1)[1][:-4]}.nmb"
            assert bundle in keys, (k, bundle)
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert streams, "no platform event reached the clinic bus"

    ws, itp, resource = policies.workstation, policies.it, policies.resource

    def as_workstation(r: Request) -> bool:
        return decide(r, ws.identity, resource, ws.boundary)

    def as_it(r: Request) -> bool:
        return decide(r, itp.identity, resource, itp.boundary)

    # every request each workstation's sync made is allowed to it ...
    ws_requests = [r for rec in recs.values() for r in rec.requests]
    actions = {r.action for r in ws_requests}
    assert {"s3:PutObject", "s3:GetObject", "s3:ListBucket", "events:PutEvents"} <= actions
    assert [r for r in ws_requests if not as_workstation(r)] == []
    # ... and every request IT made (registry writes, workstation users) is allowed to IT
    registry_puts = [
        r
        for r in it.requests
        if r.action == "s3:PutObject" and f"/{p.prefix}registry/" in r.resource
    ]
    assert registry_puts
    assert {r.action for r in it.requests} >= {"iam:CreateUser", "iam:AddUserToGroup"}
    assert [r for r in it.requests if not as_it(r)] == []

    # the same requests are denied for another clinic, without TLS, or as overwrites
    for r in ws_requests + it.requests:
        if not r.action.startswith("s3:"):
            continue
        check = as_workstation if r in ws_requests else as_it
        other = Request(
            r.action,
            r.resource.replace(p.clinic_id, OTHER_CLINIC),
            {k: v.replace(p.clinic_id, OTHER_CLINIC) for k, v in r.context.items()},
        )
        # (IT may list its clinic's whole buckets: each stack's buckets hold one clinic)
        if not (check is as_it and r.action == "s3:ListBucket"):
            assert not check(other), other
        plain = Request(r.action, r.resource, {**r.context, "aws:SecureTransport": "false"})
        assert not check(plain), plain
        if r.action == "s3:PutObject":
            ctx = {k: v for k, v in r.context.items() if k != "s3:if-none-match"}
            assert not check(Request(r.action, r.resource, ctx))

    # per-device prefixes: a workstation cannot write under another device's prefix, nor
    # without its device tag, nor the registry; IT writes the registry but no bundles
    own_puts = [r for r in recs["ws-a"].requests if r.action == "s3:PutObject"]
    assert own_puts and all(f"/{ea.device_id}/" in r.resource for r in own_puts)
    for r in own_puts:
        into_b = Request(r.action, r.resource.replace(ea.device_id, eb.device_id), r.context)
        assert not as_workstation(into_b), into_b
        as_b = Request(into_b.action, into_b.resource, {**r.context, DEVICE_KEY: eb.device_id})
        assert as_workstation(as_b)  # it is the session's tag that decides
        untagged = Request(
            r.action, r.resource, {k: v for k, v in r.context.items() if k != DEVICE_KEY}
        )
        assert not as_workstation(untagged)
        assert not as_it(untagged)  # IT's role cannot write bundles either
    for r in registry_puts:
        for dev in devices:
            assert not as_workstation(Request(r.action, r.resource, {**r.context, DEVICE_KEY: dev}))

    # the change feed: each sync wrote its markers (create-only, own device id after the
    # timestamp); a session cannot write a marker under ANOTHER device's id, nor one with its
    # own id anywhere but the device segment, nor anything else under feed/
    feed = f"/{p.prefix}feed/"
    feed_puts = [r for r in own_puts if feed in r.resource]
    assert feed_puts and all(r.context.get("s3:if-none-match") == "*" for r in feed_puts)
    assert all(as_workstation(r) for r in feed_puts)
    bucket = f"arn:aws:s3:::{stack.outputs['BundleBucketName']}"
    session = feed_puts[0].context
    assert session[DEVICE_KEY] == ea.device_id

    def marker(key: str, ctx: dict[str, Any] = session) -> Request:
        return Request("s3:PutObject", f"{bucket}{feed}{key}", ctx)

    ms, seq = "1700000000000", "000000000001"
    assert as_workstation(marker(f"{ms}/{ea.device_id}/{seq}.nmf"))
    assert not as_workstation(marker(f"{ms}/{eb.device_id}/{seq}.nmf"))  # another device's id
    for r in feed_puts:
        into_b = Request(r.action, r.resource.replace(ea.device_id, eb.device_id), r.context)
        assert feed in into_b.resource and eb.device_id in into_b.resource
        assert not as_workstation(into_b), into_b
    for key in (
        f"{ea.device_id}/{ms}/{seq}.nmf",  # device id not after the timestamp
        f"{ms}/{seq}.nmf",
        f"{ms}/{eb.device_id}/{ea.device_id}.nmf",
        f"{ms}/{ea.device_id}x/{seq}.nmf",
        f"{ea.device_id}.nmf",
        "x",
    ):
        assert not as_workstation(marker(key)), key
    untagged = {k: v for k, v in session.items() if k != DEVICE_KEY}
    assert not as_workstation(marker(f"{ms}/{ea.device_id}/{seq}.nmf", untagged))
    assert not as_it(marker(f"{ms}/{ea.device_id}/{seq}.nmf", untagged))  # IT writes no feed


def test_it_cannot_raise_its_own_rights(stack: Deployed, policies: Policies) -> None:
    """IT's role may revoke workstation sessions and create bounded workstation users, but
    cannot change its own role, any boundary, or the workstation role's boundary and trust."""
    p = demo_params()
    itp, ws = policies.it, policies.workstation

    def as_it(action: str, resource: str, **ctx: str) -> bool:
        return decide(Request(action, resource, ctx), itp.identity, [], itp.boundary)

    it_role, ws_role = stack.outputs["ItRoleArn"], stack.outputs["WorkstationRoleArn"]
    boundaries = [
        stack.arns[lid] for lid, t in stack.types.items() if t == "AWS::IAM::ManagedPolicy"
    ]
    assert len(boundaries) == 3
    for action in (
        "iam:PutRolePolicy",
        "iam:AttachRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRolePermissionsBoundary",
        "iam:UpdateAssumeRolePolicy",
    ):
        assert not as_it(action, it_role), action
    for arn in boundaries:
        for action in (
            "iam:CreatePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:DeletePolicy",
        ):
            assert not as_it(action, arn), (action, arn)
    for action in ("iam:DeleteRolePermissionsBoundary", "iam:AttachRolePolicy",
                   "iam:UpdateAssumeRolePolicy"):  # fmt: skip
        assert not as_it(action, ws_role), action
    # session revocation: an inline policy on the workstation role only
    assert as_it("iam:PutRolePolicy", ws_role)
    # workstation users: only under the clinic's path, only with the workstation user boundary
    user = f"arn:aws:iam::{ACCOUNT}:user/novamind/{p.short_id}/novamind-{p.short_id}-ws-x"
    user_boundary = stack.outputs["WorkstationUserBoundaryArn"]
    assert as_it("iam:CreateUser", user, **{"iam:PermissionsBoundary": user_boundary})
    assert not as_it("iam:CreateUser", user)
    it_boundary = next(b for b in boundaries if "itboundary" in b)
    assert not as_it("iam:CreateUser", user, **{"iam:PermissionsBoundary": it_boundary})
    assert not as_it(
        "iam:CreateUser",
        f"arn:aws:iam::{ACCOUNT}:user/admin-x",
        **{"iam:PermissionsBoundary": user_boundary},
    )
    for action in (
        "iam:PutUserPolicy",
        "iam:AttachUserPolicy",
        "iam:DeleteUserPermissionsBoundary",
    ):
        assert not as_it(action, user), action
    # even with an administrator policy attached to the IT role by mistake, the boundary and
    # the Deny keep IT where it is
    admin = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert not decide(
        Request("iam:PutRolePolicy", it_role), [*itp.identity, admin], [], itp.boundary
    )
    assert not decide(
        Request("s3:DeleteObject", f"arn:aws:s3:::{stack.outputs['BundleBucketName']}/x"),
        [*itp.identity, admin],
        [],
        itp.boundary,
    )
    # whatever inline policy IT writes into the workstation role, its boundary holds: no
    # registry writes, no other device's prefix
    registry = (
        f"arn:aws:s3:::{stack.outputs['BundleBucketName']}/{p.prefix}registry/000000000009.nmr"
    )
    tag = {DEVICE_KEY: "11111111-2222-4333-8444-555555555555", **TLS, "s3:if-none-match": "*"}
    assert not decide(
        Request("s3:PutObject", registry, tag), [*ws.identity, admin], [], ws.boundary
    )
    feed = f"arn:aws:s3:::{stack.outputs['BundleBucketName']}/{p.prefix}feed/1700000000000"
    own, other = tag[DEVICE_KEY], "8d4c6a1e-0b7f-4e2a-9c3d-1f2e3d4c5b6a"
    assert decide(
        Request("s3:PutObject", f"{feed}/{own}/000000000001.nmf", tag),
        [*ws.identity, admin],
        [],
        ws.boundary,
    )
    assert not decide(
        Request("s3:PutObject", f"{feed}/{other}/000000000001.nmf", tag),
        [*ws.identity, admin],
        [],
        ws.boundary,
    )


def test_audit_heads_are_locked_and_writable_only_under_the_device_prefix(
    stack: Deployed, moto_server: str, policies: Policies
) -> None:
    p = demo_params()
    s3 = _client(stack, moto_server, "s3")
    bucket = stack.outputs["AuditBucketName"]
    device, other = "8d4c6a1e-0b7f-4e2a-9c3d-1f2e3d4c5b6a", "11111111-2222-4333-8444-555555555555"
    key = f"{p.prefix}audit/{device}/000000000001.json"
    ws = policies.workstation

    def allowed(resource: str, ctx: dict[str, str]) -> bool:
        return decide(
            Request("s3:PutObject", resource, ctx), ws.identity, policies.resource, ws.boundary
        )

    arn = f"arn:aws:s3:::{bucket}/{key}"
    session = {**TLS, DEVICE_KEY: device}
    assert allowed(arn, session)
    assert not allowed(arn, {**TLS, DEVICE_KEY: other})
    assert not allowed(arn.replace(p.clinic_id, OTHER_CLINIC), session)
    assert not decide(
        Request("s3:DeleteObject", arn, session), ws.identity, policies.resource, ws.boundary
    )
    version = s3.put_object(Bucket=bucket, Key=key, Body=b'{"head": "00"}')["VersionId"]
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = (head["ObjectLockRetainUntilDate"] - head["LastModified"]).days
    assert abs(days - p.retention_days) <= 1
    with pytest.raises(s3.exceptions.ClientError):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
