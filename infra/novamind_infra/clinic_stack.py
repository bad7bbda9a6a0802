"""One clinic's backend: bundle bucket, Object Lock audit bucket, event bus, KMS key, roles.

Workstations get exactly the calls the desktop's sync makes (docs/sync-format.md):
PutObject (create-only) under their clinic's dev/ and snap/ prefixes, GetObject/HeadObject
and ListBucket under the clinic prefix, PutEvents on the clinic bus, and the KMS data-key
calls that SSE-KMS needs, only via S3. No wildcard actions anywhere in workstation policies.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from novamind_infra.params import ClinicParams


class ClinicBackendStack(cdk.Stack):
    """The AWS resources one clinic's workstations sync through (one stack per clinic)."""

    def __init__(self, scope: Construct, construct_id: str, *, params: ClinicParams) -> None:
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(region=params.region),
            description=f"Novamind clinic backend (clinic {params.clinic_id})",
            synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
            # Stack-level tags: CloudFormation puts them on every resource at deploy time.
            tags={"novamind:clinic": params.clinic_id},
        )
        self.params = params
        retain = cdk.RemovalPolicy.RETAIN

        self.key = kms.Key(
            self,
            "ClinicKey",
            description=f"Novamind clinic {params.clinic_id}: S3 SSE-KMS for bundles and audit",
            enable_key_rotation=True,
            alias=f"alias/novamind/{params.short_id}",
            removal_policy=retain,
        )
        self.bundles = s3.Bucket(
            self,
            "BundleBucket",
            versioned=True,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=retain,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-superseded-versions",
                    noncurrent_version_expiration=cdk.Duration.days(params.retention_days),
                ),
                s3.LifecycleRule(
                    id="old-bundles-infrequent-access",
                    prefix=params.prefix,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(90),
                        )
                    ],
                ),
            ],
        )
        # Bundles are create-only: a PutObject without `If-None-Match: *` is refused for
        # everyone (S3 condition key s3:if-none-match), so nothing can overwrite a bundle.
        self.bundles.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BundlesAreCreateOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bundles.arn_for_objects("v1/*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        self.audit = s3.Bucket(
            self,
            "AuditHeadBucket",
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                cdk.Duration.days(params.retention_days)
            ),
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=retain,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
        )
        self.bus = events.EventBus(self, "PlatformBus", event_bus_name=params.bus_name)

        self.workstation_role = self._workstation_role()
        self.it_role = self._it_role()
        self._outputs()

    # -- roles -------------------------------------------------------------------------

    def _workstation_user_arn_pattern(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:user/novamind/{self.params.short_id}/*"

    def _workstation_role(self) -> iam.Role:
        """Role a workstation's IAM user (path /novamind/<short id>/) assumes for sync."""
        p = self.params
        role = iam.Role(
            self,
            "WorkstationRole",
            description=f"Novamind workstation sync, clinic {p.clinic_id} only",
            assumed_by=iam.AccountPrincipal(self.account).with_conditions(
                {"ArnLike": {"aws:PrincipalArn": self._workstation_user_arn_pattern()}}
            ),
            max_session_duration=cdk.Duration.hours(1),
        )
        bundles_prefix = self.bundles.arn_for_objects(f"{p.prefix}*")
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{p.region}.amazonaws.com"}}
        statements = [
            iam.PolicyStatement(
                sid="UploadOwnClinicBundles",
                actions=["s3:PutObject"],
                resources=[
                    self.bundles.arn_for_objects(f"{p.prefix}dev/*"),
                    self.bundles.arn_for_objects(f"{p.prefix}snap/*"),
                ],
            ),
            iam.PolicyStatement(
                sid="ReadOwnClinicBundles",
                actions=["s3:GetObject"],
                resources=[bundles_prefix],
            ),
            iam.PolicyStatement(
                sid="ListOwnClinicPrefix",
                actions=["s3:ListBucket"],
                resources=[self.bundles.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{p.prefix}*"]}},
            ),
            iam.PolicyStatement(
                sid="WriteOwnAuditHeads",
                actions=["s3:PutObject"],
                resources=[self.audit.arn_for_objects(f"{p.prefix}audit/*")],
            ),
            iam.PolicyStatement(
                sid="PublishPlatformEvents",
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
            ),
            iam.PolicyStatement(
                sid="SseKmsViaS3",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[self.key.key_arn],
                conditions=via_s3,
            ),
        ]
        iam.Policy(self, "WorkstationPolicy", roles=[role], statements=statements)
        group = iam.Group(self, "WorkstationGroup", path=f"/novamind/{p.short_id}/")
        group.add_to_policy(
            iam.PolicyStatement(
                sid="AssumeWorkstationRole",
                actions=["sts:AssumeRole"],
                resources=[role.role_arn],
            )
        )
        self.workstation_group = group
        return role

    def _it_role(self) -> iam.Role:
        """IT's role: read and verify the clinic's data, manage workstation identities."""
        p = self.params
        role = iam.Role(
            self,
            "ItRole",
            description=f"Novamind clinic IT, clinic {p.clinic_id}",
            assumed_by=iam.AccountPrincipal(self.account).with_conditions(
                {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            ),
            max_session_duration=cdk.Duration.hours(4),
        )
        users = self._workstation_user_arn_pattern()
        statements = [
            iam.PolicyStatement(
                sid="ReadClinicObjects",
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:GetObjectRetention",
                    "s3:ListBucket",
                    "s3:ListBucketVersions",
                    "s3:GetBucketVersioning",
                    "s3:GetBucketPolicy",
                    "s3:GetLifecycleConfiguration",
                    "s3:GetBucketObjectLockConfiguration",
                ],
                resources=[
                    self.bundles.bucket_arn,
                    self.bundles.arn_for_objects(f"{p.prefix}*"),
                    self.audit.bucket_arn,
                    self.audit.arn_for_objects(f"{p.prefix}*"),
                ],
            ),
            iam.PolicyStatement(
                sid="KeyStatusAndDecrypt",
                actions=["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:Decrypt"],
                resources=[self.key.key_arn],
            ),
            iam.PolicyStatement(
                sid="WatchPlatformBus",
                actions=["events:DescribeEventBus", "events:ListRules", "events:PutEvents"],
                resources=[self.bus.event_bus_arn],
            ),
            iam.PolicyStatement(
                sid="ManageWorkstationUsers",
                actions=[
                    "iam:CreateUser",
                    "iam:TagUser",
                    "iam:GetUser",
                    "iam:DeleteUser",
                    "iam:CreateAccessKey",
                    "iam:UpdateAccessKey",
                    "iam:DeleteAccessKey",
                    "iam:ListAccessKeys",
                    "iam:AddUserToGroup",
                    "iam:RemoveUserFromGroup",
                ],
                resources=[users, self.workstation_group.group_arn],
            ),
            iam.PolicyStatement(
                sid="RevokeWorkstationSessions",
                actions=["iam:PutRolePolicy", "iam:GetRolePolicy"],
                resources=[self.workstation_role.role_arn],
            ),
        ]
        iam.Policy(self, "ItPolicy", roles=[role], statements=statements)
        return role

    def _outputs(self) -> None:
        values: dict[str, Any] = {
            "ClinicId": self.params.clinic_id,
            "BundleBucketName": self.bundles.bucket_name,
            "AuditBucketName": self.audit.bucket_name,
            "EventBusName": self.bus.event_bus_name,
            "KeyArn": self.key.key_arn,
            "WorkstationRoleArn": self.workstation_role.role_arn,
            "WorkstationGroupName": self.workstation_group.group_name,
            "ItRoleArn": self.it_role.role_arn,
        }
        for name, value in values.items():
            cdk.CfnOutput(self, name, value=value)


def build_app(
    params: ClinicParams, outdir: str | None = None
) -> tuple[cdk.App, ClinicBackendStack]:
    """A CDK app holding one clinic's stack (no version-reporting metadata resource)."""
    app = cdk.App(outdir=outdir, analytics_reporting=False)
    stack = ClinicBackendStack(app, params.stack_name, params=params)
    return app, stack
