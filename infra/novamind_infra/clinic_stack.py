"""One clinic's backend: bundle bucket, Object Lock audit bucket, log bucket, CloudTrail trail,
encrypted event bus, KMS key, roles and permissions boundaries.

Workstations get exactly the calls the desktop's sync makes (docs/sync-format.md):
PutObject (create-only) under their OWN device's dev/ and snap/ prefixes and, in the change
feed, only markers keyed on their own device (feed/*/<device>/*; the device id comes from the
session tag `novamind-device`, see `_workstation_role`), GetObject/HeadObject and ListBucket
under the clinic prefix, PutEvents on the clinic bus, and the KMS data-key calls that SSE-KMS
needs, only via S3. No wildcard actions anywhere in workstation policies. Only
IT's role writes the device registry (`registry/`), and IT cannot raise its own rights.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from novamind_infra.params import ClinicParams

# Server access logs are delivered by the logging service principal under a bucket policy
# (the log bucket enforces bucket-owner object ownership, so ACL-based delivery is impossible).
FEATURE_FLAGS = {"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True}
# IAM principal tag / session tag that names a workstation's device id (from its enrolment).
DEVICE_TAG = "novamind-device"
DEVICE_VAR = "${aws:PrincipalTag/" + DEVICE_TAG + "}"
# Every IAM action that changes a role, a policy or a boundary (denied to IT on itself).
IAM_WRITE_ACTIONS = [
    "iam:Put*",
    "iam:Attach*",
    "iam:Detach*",
    "iam:Create*",
    "iam:Update*",
    "iam:Delete*",
    "iam:Tag*",
    "iam:Untag*",
    "iam:SetDefaultPolicyVersion",
]
# What could loosen the workstation role for everyone (IT may only add inline policies to it).
WORKSTATION_ROLE_LOCKED_ACTIONS = [
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:AttachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:DeleteRole",
]


def private_bucket(
    scope: Construct, construct_id: str, *rules: s3.LifecycleRule, **props: Any
) -> s3.Bucket:
    """A retained, versioned bucket no one outside the account reads, TLS only, owned by the
    bucket owner, that aborts incomplete uploads after a day; `rules` add lifecycle rules."""
    abort = s3.LifecycleRule(
        id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=cdk.Duration.days(1)
    )
    return s3.Bucket(
        scope,
        construct_id,
        versioned=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        lifecycle_rules=[abort, *rules],
        **props,
    )


def allow(
    sid: str, actions: list[str], *resources: str, conditions: dict[str, Any] | None = None
) -> iam.PolicyStatement:
    """An Allow statement (the CDK default effect); every statement carries a Sid, so the
    rights read as a list of named grants."""
    return iam.PolicyStatement(
        sid=sid, actions=actions, resources=list(resources), conditions=conditions
    )


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
            description=(
                f"Novamind clinic {params.clinic_id}: SSE-KMS for bundles and audit, "
                "CloudTrail log files, the event bus"
            ),
            enable_key_rotation=True,
            alias=f"alias/novamind/{params.short_id}",
            removal_policy=retain,
        )
        # S3 server access logs and CloudTrail log files. S3 delivers server access logs only
        # to a target bucket with SSE-S3 default encryption (not SSE-KMS), so this is the one
        # bucket without the clinic key; its records hold object keys, which carry only ids
        # (clinic, device, sequence number), never patient data. CloudTrail encrypts its own
        # log files with the clinic key (the trail's KMSKeyId). No Object Lock default
        # retention: S3 refuses a logging target that has one.
        self.logs = private_bucket(
            self,
            "LogBucket",
            s3.LifecycleRule(
                id="expire-logs-after-retention",
                expiration=cdk.Duration.days(params.retention_days),
                noncurrent_version_expiration=cdk.Duration.days(params.retention_days),
            ),
            encryption=s3.BucketEncryption.S3_MANAGED,
        )
        # Versioned, and no lifecycle rule ever expires a version: superseded and deleted
        # bundles stay recoverable for as long as the bucket exists.
        self.bundles = private_bucket(
            self,
            "BundleBucket",
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
            **self._clinic_key_encryption("s3-access/bundles/"),
        )
        # Bundles are create-only: a PutObject without `If-None-Match: *` is refused for
        # everyone (S3 condition key s3:if-none-match), so nothing can overwrite a bundle.
        self.bundles.add_to_resource_policy(
            iam.PolicyStatement(
                sid="BundlesAreCreateOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.bundles.arn_for_objects("v2/*")],
                conditions={"Null": {"s3:if-none-match": "true"}},
            )
        )
        self.audit = private_bucket(
            self,
            "AuditHeadBucket",
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.compliance(
                cdk.Duration.days(params.retention_days)
            ),
            **self._clinic_key_encryption("s3-access/audit/"),
        )
        # kms_key: CDK also adds the key-policy statement that lets EventBridge use the key
        # for this bus only (aws:SourceArn and the encryption context name the bus).
        self.bus = events.EventBus(
            self, "PlatformBus", event_bus_name=params.bus_name, kms_key=self.key
        )
        self.trail = self._trail()

        self.workstation_role = self._workstation_role()
        self.it_role = self._it_role()
        self._outputs()

    # -- audit trail -------------------------------------------------------------------

    def _clinic_key_encryption(self, log_prefix: str) -> dict[str, Any]:
        """Bucket properties of a data bucket: SSE-KMS with the clinic key (S3 bucket keys),
        server access logs into the log bucket under `log_prefix`."""
        return {
            "encryption": s3.BucketEncryption.KMS,
            "encryption_key": self.key,
            "bucket_key_enabled": True,
            "server_access_logs_bucket": self.logs,
            "server_access_logs_prefix": log_prefix,
        }

    def _trail(self) -> cloudtrail.Trail:
        """CloudTrail: every object-level read and write on both buckets (data events), plus
        management write events, to the log bucket, encrypted with the clinic key."""
        p = self.params
        name = f"novamind-{p.short_id}"
        # The trail's ARN is built from its name: the trail refers to the key, so the key
        # policy cannot refer to the trail resource.
        trail_arn = f"arn:{self.partition}:cloudtrail:{p.region}:{self.account}:trail/{name}"
        cloudtrail_principal = iam.ServicePrincipal("cloudtrail.amazonaws.com")
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailEncryptsLogFiles",
                principals=[cloudtrail_principal],
                actions=["kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{self.partition}:cloudtrail:*:{self.account}:trail/*"
                        )
                    },
                },
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailDescribesKey",
                principals=[cloudtrail_principal],
                actions=["kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceArn": trail_arn}},
            )
        )
        trail = cloudtrail.Trail(
            self,
            "DataEventTrail",
            trail_name=name,
            bucket=self.logs,
            s3_key_prefix="cloudtrail",
            encryption_key=self.key,
            enable_file_validation=True,
            management_events=cloudtrail.ReadWriteType.WRITE_ONLY,
            is_multi_region_trail=False,
            include_global_service_events=True,
            send_to_cloud_watch_logs=False,
        )
        trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=self.bundles)],
            read_write_type=cloudtrail.ReadWriteType.ALL,
            include_management_events=False,
        )
        trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=self.audit)],
            read_write_type=cloudtrail.ReadWriteType.ALL,
            include_management_events=False,
        )
        return trail

    # -- roles -------------------------------------------------------------------------

    def _workstation_user_arn_pattern(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:user/novamind/{self.params.short_id}/*"

    def _it_role_arn_pattern(self) -> str:
        """Every role under IT's role path (the boundary cannot name the role it bounds)."""
        return f"arn:{self.partition}:iam::{self.account}:role/novamind/{self.params.short_id}/it/*"

    def _clinic_policy_arn_pattern(self) -> str:
        """Every managed policy of this clinic (the permissions boundaries)."""
        return f"arn:{self.partition}:iam::{self.account}:policy/novamind/{self.params.short_id}/*"

    def _workstation_statements(self) -> list[iam.PolicyStatement]:
        """The workstation role's rights (its inline policy and, identically, its boundary)."""
        p = self.params
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{p.region}.amazonaws.com"}}
        return [
            iam.PolicyStatement(
                sid="UploadOwnDeviceBundles",
                actions=["s3:PutObject"],
                resources=[
                    self.bundles.arn_for_objects(f"{p.prefix}dev/{DEVICE_VAR}/*"),
                    self.bundles.arn_for_objects(f"{p.prefix}snap/{DEVICE_VAR}/*"),
                ],
            ),
            # The change feed (sync/feed.py): after each bundle, an empty create-only
            # marker feed/<ms:013d>/<device>/<seq:012d>.nmf. The session's own device id must
            # be a whole path segment after the timestamp, so a session cannot write a marker
            # under another device's id; nothing else under feed/ is writable.
            allow(
                "WriteOwnFeedMarkers",
                ["s3:PutObject"],
                self.bundles.arn_for_objects(f"{p.prefix}feed/*/{DEVICE_VAR}/*"),
            ),
            allow(
                "ReadOwnClinicBundles",
                ["s3:GetObject"],
                self.bundles.arn_for_objects(f"{p.prefix}*"),
            ),
            allow(
                "ListOwnClinicPrefix",
                ["s3:ListBucket"],
                self.bundles.bucket_arn,
                conditions={"StringLike": {"s3:prefix": [f"{p.prefix}*"]}},
            ),
            allow(
                "WriteOwnAuditHeads",
                ["s3:PutObject"],
                self.audit.arn_for_objects(f"{p.prefix}audit/{DEVICE_VAR}/*"),
            ),
            # verify-audit reads back this device's own anchored heads (never another's)
            allow(
                "ReadOwnAuditHeads",
                ["s3:GetObject"],
                self.audit.arn_for_objects(f"{p.prefix}audit/{DEVICE_VAR}/*"),
            ),
            allow(
                "ListOwnAuditHeads",
                ["s3:ListBucket"],
                self.audit.bucket_arn,
                conditions={"StringLike": {"s3:prefix": [f"{p.prefix}audit/{DEVICE_VAR}/*"]}},
            ),
            allow("PublishPlatformEvents", ["events:PutEvents"], self.bus.event_bus_arn),
            allow(
                "SseKmsViaS3",
                ["kms:GenerateDataKey", "kms:Decrypt"],
                self.key.key_arn,
                conditions=via_s3,
            ),
        ]

    def _workstation_role(self) -> iam.Role:
        """Role a workstation's IAM user (path /novamind/<short id>/) assumes for sync.

        The user carries the IAM tag `novamind-device=<device id>` (set by IT). It must pass
        the same value as a session tag when it assumes the role: the trust policy allows
        sts:TagSession only for that key and only with the caller's own tag value, and refuses
        sts:AssumeRole without it. The policies then write `${aws:PrincipalTag/novamind-device}`
        into the object ARNs, so each session can create objects only under its own device's
        dev/, snap/ and audit/ prefixes, and feed markers only with its own device id
        (feed/<ms>/<device>/...)."""
        p = self.params
        own_tag = {"StringEquals": {f"aws:RequestTag/{DEVICE_TAG}": DEVICE_VAR}}
        from_workstation_user = {"aws:PrincipalArn": self._workstation_user_arn_pattern()}
        boundary = iam.ManagedPolicy(
            self,
            "WorkstationRoleBoundary",
            description=f"Novamind clinic {p.clinic_id}: most a workstation session may do",
            path=f"/novamind/{p.short_id}/",
            statements=self._workstation_statements(),
        )
        role = iam.Role(
            self,
            "WorkstationRole",
            description=f"Novamind workstation sync, clinic {p.clinic_id} only",
            path=f"/novamind/{p.short_id}/workstation/",
            assumed_by=iam.AccountPrincipal(self.account).with_conditions(
                {"ArnLike": from_workstation_user, **own_tag}
            ),
            permissions_boundary=boundary,
            max_session_duration=cdk.Duration.hours(1),
        )
        role.assume_role_policy.add_statements(
            iam.PolicyStatement(
                sid="PassOwnDeviceTag",
                principals=[iam.AccountPrincipal(self.account)],
                actions=["sts:TagSession"],
                conditions={
                    "ArnLike": from_workstation_user,
                    **own_tag,
                    "ForAllValues:StringEquals": {"aws:TagKeys": [DEVICE_TAG]},
                },
            )
        )
        iam.Policy(
            self, "WorkstationPolicy", roles=[role], statements=self._workstation_statements()
        )
        group = iam.Group(self, "WorkstationGroup", path=f"/novamind/{p.short_id}/")
        group.add_to_policy(allow("AssumeWorkstationRole", ["sts:AssumeRole"], role.role_arn))
        group.add_to_policy(
            allow("PassOwnDeviceTag", ["sts:TagSession"], role.role_arn, conditions=own_tag)
        )
        # Every workstation user IT creates must carry this boundary (see _it_role): whatever
        # policy a user ever gets, it can do no more than assume the workstation role.
        self.workstation_user_boundary = iam.ManagedPolicy(
            self,
            "WorkstationUserBoundary",
            description=f"Novamind clinic {p.clinic_id}: most a workstation IAM user may do",
            path=f"/novamind/{p.short_id}/",
            statements=[
                allow(
                    "AssumeWorkstationRoleOnly", ["sts:AssumeRole", "sts:TagSession"], role.role_arn
                )
            ],
        )
        self.workstation_group = group
        self.workstation_boundary = boundary
        return role

    def _it_statements(self) -> list[iam.PolicyStatement]:
        """IT's rights (its inline policy and, identically, its boundary's Allow part)."""
        p = self.params
        users = self._workstation_user_arn_pattern()
        return [
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
                    "s3:GetBucketLogging",
                ],
                resources=[
                    self.bundles.bucket_arn,
                    self.bundles.arn_for_objects(f"{p.prefix}*"),
                    self.audit.bucket_arn,
                    self.audit.arn_for_objects(f"{p.prefix}*"),
                    self.logs.bucket_arn,
                    self.logs.arn_for_objects("*"),
                ],
            ),
            # The IT-signed device registry: only IT writes it (create-only, as every v2/
            # object: the bucket policy refuses a PutObject without If-None-Match).
            allow(
                "WriteDeviceRegistry",
                ["s3:PutObject"],
                self.bundles.arn_for_objects(f"{p.prefix}registry/*"),
            ),
            allow(
                "SseKmsWriteViaS3",
                ["kms:GenerateDataKey"],
                self.key.key_arn,
                conditions={"StringEquals": {"kms:ViaService": f"s3.{p.region}.amazonaws.com"}},
            ),
            allow(
                "KeyStatusAndDecrypt",
                ["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:Decrypt"],
                self.key.key_arn,
            ),
            allow(
                "WatchPlatformBus",
                ["events:DescribeEventBus", "events:ListRules", "events:PutEvents"],
                self.bus.event_bus_arn,
            ),
            allow(
                "CheckTrail",
                ["cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"],
                self.trail.trail_arn,
            ),
            # Workstation users are created only with the workstation user boundary.
            iam.PolicyStatement(
                sid="CreateBoundedWorkstationUsers",
                actions=["iam:CreateUser"],
                resources=[users],
                conditions={
                    "StringEquals": {
                        "iam:PermissionsBoundary": self.workstation_user_boundary.managed_policy_arn
                    }
                },
            ),
            iam.PolicyStatement(
                sid="ManageWorkstationUsers",
                actions=[
                    "iam:TagUser",
                    "iam:GetUser",
                    "iam:ListUserTags",
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
            # Session revocation writes an inline Deny (AWSRevokeOlderSessions) on the
            # workstation role. That role has a permissions boundary IT cannot change, so no
            # inline policy IT writes there can give workstation sessions more than the sync
            # calls (and IT cannot use it to gain rights through a workstation user).
            allow(
                "RevokeWorkstationSessions",
                ["iam:PutRolePolicy", "iam:GetRolePolicy"],
                self.workstation_role.role_arn,
            ),
        ]

    def _it_denies(self, own_role: str) -> list[iam.PolicyStatement]:
        """What IT may never do, whatever else it is granted: change its own role, any of the
        clinic's boundaries, or the workstation role's boundary and trust."""
        return [
            iam.PolicyStatement(
                sid="NoSelfModification",
                effect=iam.Effect.DENY,
                actions=IAM_WRITE_ACTIONS,
                resources=[own_role, self._clinic_policy_arn_pattern()],
            ),
            iam.PolicyStatement(
                sid="WorkstationRoleStaysBounded",
                effect=iam.Effect.DENY,
                actions=WORKSTATION_ROLE_LOCKED_ACTIONS,
                resources=[self.workstation_role.role_arn],
            ),
        ]

    def _it_role(self) -> iam.Role:
        """IT's role: read and verify the clinic's data, write the device registry, manage
        workstation identities; bounded, and unable to change its own rights."""
        p = self.params
        boundary = iam.ManagedPolicy(
            self,
            "ItBoundary",
            description=f"Novamind clinic {p.clinic_id}: most the IT role may ever do",
            path=f"/novamind/{p.short_id}/",
            statements=self._it_statements() + self._it_denies(self._it_role_arn_pattern()),
        )
        role = iam.Role(
            self,
            "ItRole",
            description=f"Novamind clinic IT, clinic {p.clinic_id}",
            path=f"/novamind/{p.short_id}/it/",
            assumed_by=iam.AccountPrincipal(self.account).with_conditions(
                {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            ),
            permissions_boundary=boundary,
            max_session_duration=cdk.Duration.hours(4),
        )
        iam.Policy(
            self,
            "ItPolicy",
            roles=[role],
            statements=self._it_statements() + self._it_denies(role.role_arn),
        )
        self.it_boundary = boundary
        return role

    def _outputs(self) -> None:
        values: dict[str, Any] = {
            "ClinicId": self.params.clinic_id,
            "BundleBucketName": self.bundles.bucket_name,
            "AuditBucketName": self.audit.bucket_name,
            "LogBucketName": self.logs.bucket_name,
            "EventBusName": self.bus.event_bus_name,
            "KeyArn": self.key.key_arn,
            "TrailArn": self.trail.trail_arn,
            "WorkstationRoleArn": self.workstation_role.role_arn,
            "WorkstationGroupName": self.workstation_group.group_name,
            "WorkstationUserBoundaryArn": self.workstation_user_boundary.managed_policy_arn,
            "ItRoleArn": self.it_role.role_arn,
        }
        for name, value in values.items():
            cdk.CfnOutput(self, name, value=value)


def build_app(
    params: ClinicParams, outdir: str | None = None
) -> tuple[cdk.App, ClinicBackendStack]:
    """A CDK app holding one clinic's stack (no version-reporting metadata resource)."""
    app = cdk.App(outdir=outdir, analytics_reporting=False, context=FEATURE_FLAGS)
    stack = ClinicBackendStack(app, params.stack_name, params=params)
    return app, stack
