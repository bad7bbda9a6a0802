"""Security properties of the clinic stack, asserted on the synthesized template.

Each property is checked twice: with aws_cdk.assertions on the real stack, and by
novamind_infra.checks (which the desktop's e2e test also runs). The weakened-variant tests
remove one property at a time from a fresh stack and show that both would catch it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from novamind_infra import checks
from novamind_infra.clinic_stack import (
    DEVICE_TAG,
    DEVICE_VAR,
    IAM_WRITE_ACTIONS,
    WORKSTATION_ROLE_LOCKED_ACTIONS,
    ClinicBackendStack,
    build_app,
)
from novamind_infra.params import ClinicParams, demo_params

KMS_SSE = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": Match.object_like(
                    {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": Match.any_value()}
                )
            }
        ]
    }
}
ALL_BLOCKED = {
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
}
TLS_DENY = {
    "PolicyDocument": {
        "Statement": Match.array_with(
            [
                Match.object_like(
                    {
                        "Effect": "Deny",
                        "Action": "s3:*",
                        "Principal": {"AWS": "*"},
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                )
            ]
        )
    }
}


SSE_S3 = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
}


def assert_secure(t: Template) -> None:
    """The assertions every clinic template must pass (raises on the first missing one)."""
    # bundle + audit (data, SSE-KMS with the clinic key) and the log bucket (SSE-S3: S3
    # server access logging cannot deliver to an SSE-KMS bucket; see test_log_bucket)
    t.resource_count_is("AWS::S3::Bucket", 3)
    t.resource_properties_count_is("AWS::S3::Bucket", KMS_SSE, 2)
    t.resource_properties_count_is("AWS::S3::Bucket", SSE_S3, 1)
    t.all_resources_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )
    t.all_resources_properties("AWS::S3::Bucket", ALL_BLOCKED)
    t.resource_count_is("AWS::S3::BucketPolicy", 3)
    t.all_resources_properties("AWS::S3::BucketPolicy", TLS_DENY)
    t.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    findings = checks.findings(t.to_json())
    assert findings == [], findings


def test_demo_stack_is_secure(template: Template) -> None:
    assert_secure(template)


def assert_create_only(t: Template) -> None:
    """Deny PutObject under v2/ without If-None-Match, for everyone."""
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "BundlesAreCreateOnly",
                                "Effect": "Deny",
                                "Action": "s3:PutObject",
                                "Resource": {"Fn::Join": ["", [Match.any_value(), "/v2/*"]]},
                                "Condition": {"Null": {"s3:if-none-match": "true"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_create_only_policy(template: Template) -> None:
    assert_create_only(template)


def test_audit_bucket_object_lock(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "ObjectLockEnabled": True,
            "ObjectLockConfiguration": {
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}},
            },
        },
    )


def _ids(t: Template) -> dict[str, str]:
    """Logical ids of the stack's main resources, from its outputs."""
    out = t.to_json()["Outputs"]

    def ref(name: str) -> str:
        v = out[name]["Value"]
        return v["Ref"] if "Ref" in v else v["Fn::GetAtt"][0]

    return {
        "bundle": ref("BundleBucketName"),
        "audit": ref("AuditBucketName"),
        "logs": ref("LogBucketName"),
        "key": ref("KeyArn"),
        "bus": ref("EventBusName"),
        "ws": ref("WorkstationRoleArn"),
        "it": ref("ItRoleArn"),
        "group": ref("WorkstationGroupName"),
        "user_boundary": ref("WorkstationUserBoundaryArn"),
    }


def _arn(logical_id: str) -> dict:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def _objects(bucket_id: str, path: str) -> dict:
    return {"Fn::Join": ["", [_arn(bucket_id), path]]}


def _account_arn(suffix: str) -> dict:
    return {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, suffix],
        ]
    }


def _statements_with(*statements: dict) -> dict:
    return {"PolicyDocument": {"Statement": Match.array_with(list(statements))}}


def _policy_of(role_id: str) -> dict:
    return {"Roles": [{"Ref": role_id}]}


def _workstation_statements(ids: dict[str, str]) -> list:
    """The workstation role's statements, exactly (order and count included)."""
    prefix = demo_params().prefix
    return [
        Match.object_like({
            "Sid": "UploadOwnDeviceBundles", "Effect": "Allow", "Action": "s3:PutObject",
            "Resource": [
                _objects(ids["bundle"], f"/{prefix}dev/{DEVICE_VAR}/*"),
                _objects(ids["bundle"], f"/{prefix}snap/{DEVICE_VAR}/*"),
            ],
        }),
        Match.object_like({
            "Sid": "WriteOwnFeedMarkers", "Effect": "Allow", "Action": "s3:PutObject",
            "Resource": _objects(ids["bundle"], f"/{prefix}feed/*/{DEVICE_VAR}/*"),
        }),
        Match.object_like({
            "Sid": "ReadOwnClinicBundles", "Action": "s3:GetObject",
            "Resource": _objects(ids["bundle"], f"/{prefix}*"),
        }),
        Match.object_like({
            "Sid": "ListOwnClinicPrefix", "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": [prefix + "*"]}},
        }),
        Match.object_like({
            "Sid": "WriteOwnAuditHeads", "Effect": "Allow", "Action": "s3:PutObject",
            "Resource": _objects(ids["audit"], f"/{prefix}audit/{DEVICE_VAR}/*"),
        }),
        Match.object_like({
            "Sid": "ReadOwnAuditHeads", "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": _objects(ids["audit"], f"/{prefix}audit/{DEVICE_VAR}/*"),
        }),
        Match.object_like({
            "Sid": "ListOwnAuditHeads", "Action": "s3:ListBucket",
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}audit/{DEVICE_VAR}/*"]}},
        }),
        Match.object_like({"Sid": "PublishPlatformEvents", "Action": "events:PutEvents"}),
        Match.object_like({"Sid": "SseKmsViaS3", "Condition": Match.any_value()}),
    ]  # fmt: skip


def assert_per_device_prefixes(t: Template) -> None:
    """Workstations create objects only under their own device id (session tag), never in
    registry/; the trust policy passes only the caller's own device tag."""
    ids = _ids(t)
    t.resource_properties_count_is("AWS::IAM::Policy", _policy_of(ids["ws"]), 1)
    exact = {"PolicyDocument": {"Statement": _workstation_statements(ids)}}
    t.has_resource_properties("AWS::IAM::Policy", {**_policy_of(ids["ws"]), **exact})
    own_tag = {"StringEquals": {f"aws:RequestTag/{DEVICE_TAG}": DEVICE_VAR}}
    users = {"aws:PrincipalArn": _account_arn(f":user/novamind/{demo_params().short_id}/*")}
    t.has_resource_properties(
        "AWS::IAM::Role",
        {
            "PermissionsBoundary": {"Ref": Match.any_value()},
            "AssumeRolePolicyDocument": {
                "Statement": [
                    Match.object_like({
                        "Action": "sts:AssumeRole", "Condition": {"ArnLike": users, **own_tag},
                    }),
                    Match.object_like({
                        "Action": "sts:TagSession",
                        "Condition": {
                            "ArnLike": users, **own_tag,
                            "ForAllValues:StringEquals": {"aws:TagKeys": [DEVICE_TAG]},
                        },
                    }),
                ]
            },
        },
    )  # fmt: skip
    # the boundary holds the same rights: whatever IT writes into the role cannot exceed them
    t.has_resource_properties("AWS::IAM::ManagedPolicy", exact)


def test_per_device_prefixes(template: Template) -> None:
    assert_per_device_prefixes(template)
    ids = _ids(template)
    t = template.to_json()
    text = json.dumps(t["Resources"][ids["ws"]]) + json.dumps(
        [r for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
         and {"Ref": ids["ws"]} in r["Properties"].get("Roles", [])]
    )  # fmt: skip
    assert "registry" not in text
    # workstation users may only assume the role, passing their own device tag
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Groups": [{"Ref": ids["group"]}],
            "PolicyDocument": {
                "Statement": [
                    Match.object_like({"Action": "sts:AssumeRole", "Resource": _arn(ids["ws"])}),
                    Match.object_like({
                        "Action": "sts:TagSession", "Resource": _arn(ids["ws"]),
                        "Condition": {
                            "StringEquals": {f"aws:RequestTag/{DEVICE_TAG}": DEVICE_VAR}
                        },
                    }),
                ]
            },
        },
    )  # fmt: skip


def _deny(sid: str, actions: list[str], resource: object) -> dict:
    return Match.object_like(
        {"Sid": sid, "Effect": "Deny", "Action": actions, "Resource": resource}
    )


def assert_it_cannot_raise_its_rights(t: Template) -> None:
    """IT: a boundary, an explicit Deny on changing itself or the boundaries, policy writes
    only on the (bounded) workstation role, workstation users only with their boundary."""
    ids = _ids(t)
    short = demo_params().short_id
    policies = _account_arn(f":policy/novamind/{short}/*")
    t.has_resource_properties(
        "AWS::IAM::Role",
        {"Path": f"/novamind/{short}/it/", "PermissionsBoundary": {"Ref": Match.any_value()}},
    )
    t.resource_properties_count_is("AWS::IAM::Policy", _policy_of(ids["it"]), 1)
    revoke = Match.object_like({
        "Sid": "RevokeWorkstationSessions", "Effect": "Allow",
        "Action": ["iam:PutRolePolicy", "iam:GetRolePolicy"], "Resource": _arn(ids["ws"]),
    })  # fmt: skip
    create_user = Match.object_like({
        "Sid": "CreateBoundedWorkstationUsers", "Action": "iam:CreateUser",
        "Condition": {"StringEquals": {"iam:PermissionsBoundary": {"Ref": ids["user_boundary"]}}},
    })  # fmt: skip
    locked = _deny("WorkstationRoleStaysBounded", WORKSTATION_ROLE_LOCKED_ACTIONS, _arn(ids["ws"]))
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            **_policy_of(ids["it"]),
            **_statements_with(
                create_user,
                revoke,
                _deny("NoSelfModification", IAM_WRITE_ACTIONS, [_arn(ids["it"]), policies]),
                locked,
            ),
        },
    )
    t.has_resource_properties(
        "AWS::IAM::ManagedPolicy",
        _statements_with(
            create_user,
            revoke,
            _deny(
                "NoSelfModification",
                IAM_WRITE_ACTIONS,
                [_account_arn(f":role/novamind/{short}/it/*"), policies],
            ),
            locked,
        ),
    )


def test_it_role_cannot_raise_its_own_rights(template: Template) -> None:
    assert_it_cannot_raise_its_rights(template)
    t = template.to_json()
    ids = _ids(template)
    # the workstation user boundary allows nothing but assuming the workstation role
    (doc,) = [
        r["Properties"]["PolicyDocument"]
        for lid, r in t["Resources"].items()
        if lid == ids["user_boundary"]
    ]
    assert doc["Statement"] == [
        {
            "Sid": "AssumeWorkstationRoleOnly",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": _arn(ids["ws"]),
        }
    ]


def _bundle_rules(matcher: object) -> dict:
    return {
        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "s3-access/bundles/"}),
        "LifecycleConfiguration": {"Rules": matcher},
    }


def assert_bundle_bucket_keeps_every_version(t: Template) -> None:
    """Versioned, and no lifecycle rule expires a bundle version (current or noncurrent)."""
    for key in ("NoncurrentVersionExpiration", "ExpirationInDays"):
        t.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "VersioningConfiguration": {"Status": "Enabled"},
                **_bundle_rules(
                    Match.not_(Match.array_with([Match.object_like({key: Match.any_value()})]))
                ),
            },
        )


def test_bundle_bucket_keeps_every_version(template: Template) -> None:
    assert_bundle_bucket_keeps_every_version(template)
    bundle = template.to_json()["Resources"][_ids(template)["bundle"]]["Properties"]
    for rule in bundle["LifecycleConfiguration"]["Rules"]:
        assert not set(rule) & set(checks.EXPIRING_LIFECYCLE_KEYS), rule


def assert_access_logging(t: Template) -> None:
    """Both data buckets log to the log bucket (SSE-S3, versioned, private, TLS-only)."""
    ids = _ids(t)
    for prefix in ("s3-access/bundles/", "s3-access/audit/"):
        t.has_resource_properties(
            "AWS::S3::Bucket",
            {
                **KMS_SSE,
                "LoggingConfiguration": {
                    "DestinationBucketName": {"Ref": ids["logs"]},
                    "LogFilePrefix": prefix,
                },
            },
        )
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            **SSE_S3,
            **ALL_BLOCKED,
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": Match.absent(),
        },
    )
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": ids["logs"]},
            **_statements_with(
                Match.object_like({
                    "Effect": "Allow", "Action": "s3:PutObject",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Condition": Match.object_like({"ArnLike": {"aws:SourceArn": _arn(
                        ids["bundle"])}}),
                })
            ),
        },
    )  # fmt: skip


def test_access_logging(template: Template) -> None:
    assert_access_logging(template)


def _data_events(bucket_id: str) -> object:
    return Match.object_like(
        {
            "ReadWriteType": "All",
            "DataResources": [
                {"Type": "AWS::S3::Object", "Values": [_objects(bucket_id, "/")]},
            ],
        }
    )


def assert_trail(t: Template) -> None:
    """A logging trail, file validation on, encrypted with the clinic key, into the log
    bucket, with read and write S3 data events for both data buckets."""
    ids = _ids(t)
    t.resource_count_is("AWS::CloudTrail::Trail", 1)
    t.has_resource_properties(
        "AWS::CloudTrail::Trail",
        {
            "IsLogging": True,
            "EnableLogFileValidation": True,
            "KMSKeyId": _arn(ids["key"]),
            "S3BucketName": {"Ref": ids["logs"]},
            "EventSelectors": Match.array_with(
                [_data_events(ids["bundle"]), _data_events(ids["audit"])]
            ),
        },
    )
    t.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": _statements_with(
                Match.object_like(
                    {
                        "Sid": "CloudTrailEncryptsLogFiles",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "kms:GenerateDataKey*",
                    }
                )
            )["PolicyDocument"]
        },
    )


def test_cloudtrail_data_events(template: Template) -> None:
    assert_trail(template)


def assert_bus_encrypted(t: Template) -> None:
    """The platform bus is encrypted with the clinic key, which lets EventBridge use it."""
    ids = _ids(t)
    t.has_resource_properties("AWS::Events::EventBus", {"KmsKeyIdentifier": _arn(ids["key"])})
    t.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": _statements_with(
                Match.object_like(
                    {
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": Match.array_with(["kms:GenerateDataKey"]),
                        "Condition": Match.object_like({"StringEquals": Match.object_like(
                            {"aws:SourceArn": Match.any_value()})}),
                    }
                )
            )["PolicyDocument"]
        },
    )  # fmt: skip


def test_event_bus_encrypted_with_clinic_key(template: Template) -> None:
    assert_bus_encrypted(template)


def _as_list(v: object) -> list:
    return v if isinstance(v, list) else [v]


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="clinic_id"):
        ClinicParams("clinic-1", "eu-central-1")
    with pytest.raises(ValueError, match="region"):
        ClinicParams(demo_params().clinic_id, "Frankfurt")
    with pytest.raises(ValueError, match="retention_days"):
        ClinicParams(demo_params().clinic_id, "eu-central-1", 0)


def test_parameters_flow_into_the_template() -> None:
    p = ClinicParams("0b7c5a4e-1111-4222-8333-444455556666", "us-west-2", 30)
    t = Template.from_stack(build_app(p)[1])
    t.has_resource_properties("AWS::Events::EventBus", {"Name": p.bus_name})
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {"ObjectLockConfiguration": Match.object_like({"Rule": {"DefaultRetention": {
            "Mode": "COMPLIANCE", "Days": 30}}})},
    )  # fmt: skip
    assert "s3.us-west-2.amazonaws.com" in str(t.to_json())
    assert checks.findings(t.to_json()) == []


def _unversioned(st: ClinicBackendStack) -> None:
    st.bundles.node.default_child.add_property_deletion_override("VersioningConfiguration")


def _unencrypted(st: ClinicBackendStack) -> None:
    st.bundles.node.default_child.add_property_deletion_override("BucketEncryption")


def _public(st: ClinicBackendStack) -> None:
    st.audit.node.default_child.add_property_deletion_override(
        "PublicAccessBlockConfiguration.RestrictPublicBuckets"
    )


def _no_tls(st: ClinicBackendStack) -> None:
    for b in (st.bundles, st.audit):
        b.policy.node.default_child.add_property_override(
            "PolicyDocument.Statement.0.Condition.Bool.aws:SecureTransport", "true"
        )


def _no_rotation(st: ClinicBackendStack) -> None:
    st.key.node.default_child.add_property_override("EnableKeyRotation", False)


def _wildcard(st: ClinicBackendStack) -> None:
    st.workstation_role.add_to_principal_policy(
        iam.PolicyStatement(actions=["s3:*"], resources=[st.bundles.bucket_arn])
    )


def _no_create_only(st: ClinicBackendStack) -> None:
    st.bundles.policy.node.default_child.add_property_deletion_override(
        "PolicyDocument.Statement.1.Condition"
    )


def _grant_helper(st: ClinicBackendStack) -> None:
    # what bucket.grant_read_write would add: s3:GetObject*, s3:List*, ... wildcards
    st.bundles.grant_read_write(st.workstation_role)


# -- per-device prefixes -------------------------------------------------------------------


def _cfn(st: ClinicBackendStack, child: str) -> object:
    return st.node.find_child(child).node.default_child


def _any_device_prefix(st: ClinicBackendStack) -> None:
    """Every device may write every device's bundles (the per-device variable dropped)."""
    bucket = st.get_logical_id(st.bundles.node.default_child)
    _cfn(st, "WorkstationPolicy").add_property_override(
        "PolicyDocument.Statement.0.Resource.0",
        {"Fn::Join": ["", [_arn(bucket), f"/{st.params.prefix}dev/*"]]},
    )


def _ws_sid_index(st: ClinicBackendStack, sid: str) -> int:
    return [s.sid for s in st._workstation_statements()].index(sid)  # noqa: SLF001


def _feed_resource(st: ClinicBackendStack, policy: str, path: str) -> None:
    """The feed statement of the workstation policy (or boundary) on `path` instead."""
    bucket = st.get_logical_id(st.bundles.node.default_child)
    i = _ws_sid_index(st, "WriteOwnFeedMarkers")
    _cfn(st, policy).add_property_override(
        f"PolicyDocument.Statement.{i}.Resource",
        {"Fn::Join": ["", [_arn(bucket), f"/{st.params.prefix}feed/{path}"]]},
    )


def _feed_any_device(st: ClinicBackendStack) -> None:
    """Feed markers no longer keyed on the session's device: any device's may be forged."""
    _feed_resource(st, "WorkstationPolicy", "*/*")


def _feed_tag_misplaced(st: ClinicBackendStack) -> None:
    """The boundary names the device tag, but not as the segment after the timestamp."""
    _feed_resource(st, "WorkstationRoleBoundary", f"{DEVICE_VAR}/*")


def _workstation_writes_registry(st: ClinicBackendStack) -> None:
    st.workstation_role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject"],
            resources=[st.bundles.arn_for_objects(f"{st.params.prefix}registry/*")],
        )
    )


def _assume_without_tag(st: ClinicBackendStack) -> None:
    st.workstation_role.node.default_child.add_property_deletion_override(
        "AssumeRolePolicyDocument.Statement.0.Condition.StringEquals"
    )


def _any_session_tag(st: ClinicBackendStack) -> None:
    """A workstation user may pass any device id as its session tag."""
    st.workstation_role.node.default_child.add_property_deletion_override(
        "AssumeRolePolicyDocument.Statement.1.Condition.StringEquals"
    )


def _workstation_unbounded(st: ClinicBackendStack) -> None:
    st.workstation_role.node.default_child.add_property_deletion_override("PermissionsBoundary")


# -- IT cannot raise its own rights --------------------------------------------------------


def _it_sid_index(st: ClinicBackendStack, sid: str) -> int:
    sids = [s.sid for s in st._it_statements() + st._it_denies("x")]  # noqa: SLF001
    return sids.index(sid)


def _it_unbounded(st: ClinicBackendStack) -> None:
    st.it_role.node.default_child.add_property_deletion_override("PermissionsBoundary")


def _no_self_deny(st: ClinicBackendStack) -> None:
    """The explicit Deny no longer names IT's own role."""
    i = _it_sid_index(st, "NoSelfModification")
    _cfn(st, "ItPolicy").add_property_override(
        f"PolicyDocument.Statement.{i}.Resource", ["arn:aws:iam::123456789012:policy/other"]
    )


def _boundary_without_deny(st: ClinicBackendStack) -> None:
    i = _it_sid_index(st, "NoSelfModification")
    _cfn(st, "ItBoundary").add_property_override(
        f"PolicyDocument.Statement.{i}.Resource", ["arn:aws:iam::123456789012:policy/other"]
    )


def _it_writes_own_policy(st: ClinicBackendStack) -> None:
    st.it_role.add_to_principal_policy(
        iam.PolicyStatement(actions=["iam:PutRolePolicy"], resources=[st.it_role.role_arn])
    )


def _unbounded_users(st: ClinicBackendStack) -> None:
    i = _it_sid_index(st, "CreateBoundedWorkstationUsers")
    _cfn(st, "ItPolicy").add_property_deletion_override(f"PolicyDocument.Statement.{i}.Condition")


def _workstation_boundary_unlocked(st: ClinicBackendStack) -> None:
    i = _it_sid_index(st, "WorkstationRoleStaysBounded")
    _cfn(st, "ItPolicy").add_property_override(
        f"PolicyDocument.Statement.{i}.Resource", "arn:aws:iam::123456789012:role/other"
    )


# -- versions, logging, trail, bus ----------------------------------------------------------


def _noncurrent_expiry(st: ClinicBackendStack) -> None:
    st.bundles.add_lifecycle_rule(
        id="expire-superseded-versions", noncurrent_version_expiration=cdk.Duration.days(30)
    )


def _current_expiry(st: ClinicBackendStack) -> None:
    st.bundles.add_lifecycle_rule(id="expire-bundles", expiration=cdk.Duration.days(365))


def _no_access_logs(st: ClinicBackendStack) -> None:
    st.bundles.node.default_child.add_property_deletion_override("LoggingConfiguration")


def _log_bucket_kms(st: ClinicBackendStack) -> None:
    st.logs.node.default_child.add_property_override(
        "BucketEncryption.ServerSideEncryptionConfiguration.0.ServerSideEncryptionByDefault",
        {"SSEAlgorithm": "aws:kms"},
    )


def _no_data_events(st: ClinicBackendStack) -> None:
    st.trail.node.default_child.add_property_override(
        "EventSelectors", [{"IncludeManagementEvents": True, "ReadWriteType": "WriteOnly"}]
    )


def _write_only_data_events(st: ClinicBackendStack) -> None:
    st.trail.node.default_child.add_property_override("EventSelectors.1.ReadWriteType", "WriteOnly")


def _no_log_validation(st: ClinicBackendStack) -> None:
    st.trail.node.default_child.add_property_override("EnableLogFileValidation", False)


def _trail_unencrypted(st: ClinicBackendStack) -> None:
    st.trail.node.default_child.add_property_deletion_override("KMSKeyId")


def _bus_unencrypted(st: ClinicBackendStack) -> None:
    st.bus.node.default_child.add_property_deletion_override("KmsKeyIdentifier")


WEAKENINGS: dict[str, tuple[Callable[[ClinicBackendStack], None], str]] = {
    "versioning removed": (_unversioned, "versioning not enabled"),
    "encryption removed": (_unencrypted, "not SSE-KMS"),
    "public access partly allowed": (_public, "public access not blocked"),
    "TLS condition inverted": (_no_tls, "TLS-only"),
    "key rotation off": (_no_rotation, "key rotation off"),
    "wildcard action added": (_wildcard, "wildcard action s3:*"),
    "grant helper used": (_grant_helper, "wildcard action"),
    "create-only condition dropped": (_no_create_only, "create-only"),
    "any device prefix": (_any_device_prefix, "not limited to the device's own prefix"),
    "workstation writes registry": (_workstation_writes_registry, "may write the registry"),
    "feed markers of any device": (_feed_any_device, "may write another device's feed markers"),
    "feed device tag misplaced": (_feed_tag_misplaced, "not limited to the device's own prefix"),
    "assume without device tag": (_assume_without_tag, "does not require the device tag"),
    "any session tag value": (_any_session_tag, "not only with the caller's own"),
    "workstation role unbounded": (_workstation_unbounded, "workstation role: no permissions"),
    "IT boundary removed": (_it_unbounded, "IT role: no permissions boundary"),
    "IT self-deny dropped": (_no_self_deny, "no explicit Deny of policy/role changes"),
    "IT boundary without deny": (_boundary_without_deny, "IT boundary: no Deny"),
    "IT may write its own policy": (_it_writes_own_policy, "allows iam:PutRolePolicy"),
    "workstation users unbounded": (_unbounded_users, "iam:CreateUser without"),
    "workstation boundary unlocked": (_workstation_boundary_unlocked, "workstation role's bou"),
    "noncurrent versions expire": (_noncurrent_expiry, "expires bundle versions"),
    "current versions expire": (_current_expiry, "expires bundle versions"),
    "access logging removed": (_no_access_logs, "server access logging"),
    "log bucket SSE-KMS": (_log_bucket_kms, "log bucket default encryption is not SSE-S3"),
    "trail data events dropped": (_no_data_events, "no CloudTrail S3 data events"),
    "trail data events write-only": (_write_only_data_events, "no CloudTrail S3 data events"),
    "trail log validation off": (_no_log_validation, "log file validation off"),
    "trail unencrypted": (_trail_unencrypted, "not encrypted with the clinic KMS key"),
    "bus unencrypted": (_bus_unencrypted, "event bus not encrypted"),
}


@pytest.mark.parametrize("name", sorted(WEAKENINGS))
def test_weakened_stack_is_caught(name: str) -> None:
    """checks.findings names the missing property, and aws_cdk.assertions alone fail too."""
    weaken, finding = WEAKENINGS[name]
    _, stack = build_app(demo_params())
    weaken(stack)
    t = Template.from_stack(stack)
    found = checks.findings(t.to_json())
    assert any(finding in f for f in found), found
    with pytest.raises(Exception):  # noqa: B017 — jsii raises a plain JSIIError
        assert_secure_assertions_only(t)


def assert_secure_assertions_only(t: Template) -> None:
    """assert_secure without the plain-Python checker: aws_cdk.assertions alone must fail."""
    t.resource_properties_count_is("AWS::S3::Bucket", KMS_SSE, 2)
    t.resource_properties_count_is("AWS::S3::Bucket", SSE_S3, 1)
    t.all_resources_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )
    t.all_resources_properties("AWS::S3::Bucket", ALL_BLOCKED)
    t.all_resources_properties("AWS::S3::BucketPolicy", TLS_DENY)
    t.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    assert_create_only(t)
    assert_per_device_prefixes(t)
    assert_it_cannot_raise_its_rights(t)
    assert_bundle_bucket_keeps_every_version(t)
    assert_access_logging(t)
    assert_trail(t)
    assert_bus_encrypted(t)


def test_bucket_without_kms_is_caught_by_assertions() -> None:
    """A whole extra bucket with S3-managed keys fails the bucket-encryption assertions."""
    _, stack = build_app(demo_params())
    s3.Bucket(stack, "Extra", encryption=s3.BucketEncryption.S3_MANAGED, versioned=True)
    t = Template.from_stack(stack)
    with pytest.raises(Exception):  # noqa: B017
        t.resource_properties_count_is("AWS::S3::Bucket", SSE_S3, 1)
    assert any("not SSE-KMS" in f for f in checks.findings(t.to_json()))


def test_checked_in_template_is_up_to_date(template: Template) -> None:
    import synth

    assert synth.DEMO_TEMPLATE.read_text() == synth.render(template.to_json()), (
        "infra/templates is stale: run infra/.venv/bin/python infra/synth.py"
    )
