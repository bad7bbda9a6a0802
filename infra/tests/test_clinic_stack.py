"""Security properties of the clinic stack, asserted on the synthesized template.

Each property is checked twice: with aws_cdk.assertions on the real stack, and by
novamind_infra.checks (which the desktop's e2e test also runs). The weakened-variant tests
remove one property at a time from a fresh stack and show that both would catch it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from novamind_infra import checks
from novamind_infra.clinic_stack import ClinicBackendStack, build_app
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


def assert_secure(t: Template) -> None:
    """The assertions every clinic template must pass (raises on the first missing one)."""
    t.resource_count_is("AWS::S3::Bucket", 2)
    t.all_resources_properties("AWS::S3::Bucket", KMS_SSE)
    t.all_resources_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )
    t.all_resources_properties("AWS::S3::Bucket", ALL_BLOCKED)
    t.resource_count_is("AWS::S3::BucketPolicy", 2)
    t.all_resources_properties("AWS::S3::BucketPolicy", TLS_DENY)
    t.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    findings = checks.findings(t.to_json())
    assert findings == [], findings


def test_demo_stack_is_secure(template: Template) -> None:
    assert_secure(template)


def test_create_only_policy_and_lifecycle(template: Template) -> None:
    template.has_resource_properties(
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
                                "Condition": {"Null": {"s3:if-none-match": "true"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 2555}})]
                )
            }
        },
    )


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


def test_workstation_policy_is_scoped_to_the_clinic(template: Template) -> None:
    t = template.to_json()
    role_id = t["Outputs"]["WorkstationRoleArn"]["Value"]["Fn::GetAtt"][0]
    (doc,) = [
        r["Properties"]["PolicyDocument"]
        for r in t["Resources"].values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"].get("Roles", [])
    ]
    actions = sorted({a for st in doc["Statement"] for a in _as_list(st["Action"])})
    assert actions == [
        "events:PutEvents",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:PutObject",
    ]
    prefix = demo_params().prefix
    for st in doc["Statement"]:
        text = str(st["Resource"])
        if st["Action"] in ("s3:PutObject", "s3:GetObject"):
            assert prefix in text
        if st["Action"] == "s3:ListBucket":
            assert st["Condition"] == {"StringLike": {"s3:prefix": [prefix + "*"]}}
    trust = t["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert "ArnLike" in trust["Condition"]


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


WEAKENINGS: dict[str, tuple[Callable[[ClinicBackendStack], None], str]] = {
    "versioning removed": (_unversioned, "versioning not enabled"),
    "encryption removed": (_unencrypted, "not SSE-KMS"),
    "public access partly allowed": (_public, "public access not blocked"),
    "TLS condition inverted": (_no_tls, "TLS-only"),
    "key rotation off": (_no_rotation, "key rotation off"),
    "wildcard action added": (_wildcard, "wildcard action s3:*"),
    "grant helper used": (_grant_helper, "wildcard action"),
    "create-only condition dropped": (_no_create_only, "create-only"),
}


@pytest.mark.parametrize("name", sorted(WEAKENINGS))
def test_weakened_stack_is_caught(name: str) -> None:
    weaken, finding = WEAKENINGS[name]
    _, stack = build_app(demo_params())
    weaken(stack)
    t = Template.from_stack(stack)
    assert any(finding in f for f in checks.findings(t.to_json())), checks.findings(t.to_json())
    if name not in ("wildcard action added", "grant helper used", "create-only condition dropped"):
        with pytest.raises(Exception):  # noqa: B017 — jsii raises a plain JSIIError
            assert_secure_assertions_only(t)


def assert_secure_assertions_only(t: Template) -> None:
    """assert_secure without the plain-Python checker: aws_cdk.assertions alone must fail."""
    t.all_resources_properties("AWS::S3::Bucket", KMS_SSE)
    t.all_resources_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}}
    )
    t.all_resources_properties("AWS::S3::Bucket", ALL_BLOCKED)
    t.all_resources_properties("AWS::S3::BucketPolicy", TLS_DENY)
    t.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_bucket_without_kms_is_caught_by_assertions() -> None:
    """A whole extra bucket with S3-managed keys fails the all-buckets assertion."""
    _, stack = build_app(demo_params())
    s3.Bucket(stack, "Extra", encryption=s3.BucketEncryption.S3_MANAGED, versioned=True)
    t = Template.from_stack(stack)
    with pytest.raises(Exception):  # noqa: B017
        t.all_resources_properties("AWS::S3::Bucket", KMS_SSE)
    assert any("not SSE-KMS" in f for f in checks.findings(t.to_json()))


def test_checked_in_template_is_up_to_date(template: Template) -> None:
    import synth

    assert synth.DEMO_TEMPLATE.read_text() == synth.render(template.to_json()), (
        "infra/templates is stale: run infra/.venv/bin/python infra/synth.py"
    )
