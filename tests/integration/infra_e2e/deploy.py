"""Deploy a synthesized CloudFormation template into moto's server with the plain AWS APIs.

moto's CloudFormation lacks AWS::S3::BucketPolicy, AWS::IAM::Group and several properties the
stack uses (permissions boundaries, bucket logging, trail event selectors), so this does what
CloudFormation would: resolves Ref / Fn::GetAtt / Fn::Join, creates resources in dependency
order and applies every property. Every resource type of the stack, the CloudTrail trail
included, is created for real through moto's APIs. An unknown resource type or property is an
error, never skipped, so a change to the CDK stack cannot silently go untested here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's default account
HANDLED_PROPS = {
    "AWS::KMS::Key": {"Description", "EnableKeyRotation", "KeyPolicy"},
    "AWS::KMS::Alias": {"AliasName", "TargetKeyId"},
    "AWS::S3::Bucket": {
        "BucketEncryption",
        "LifecycleConfiguration",
        "LoggingConfiguration",
        "ObjectLockConfiguration",
        "ObjectLockEnabled",
        "OwnershipControls",
        "PublicAccessBlockConfiguration",
        "VersioningConfiguration",
    },
    "AWS::S3::BucketPolicy": {"Bucket", "PolicyDocument"},
    "AWS::Events::EventBus": {"Name", "KmsKeyIdentifier"},
    "AWS::IAM::Role": {
        "AssumeRolePolicyDocument",
        "Description",
        "MaxSessionDuration",
        "Path",
        "PermissionsBoundary",
    },
    "AWS::IAM::Group": {"Path"},
    "AWS::IAM::Policy": {"PolicyDocument", "PolicyName", "Roles", "Groups"},
    "AWS::IAM::ManagedPolicy": {"Description", "Path", "PolicyDocument"},
    "AWS::CloudTrail::Trail": {
        "EnableLogFileValidation",
        "EventSelectors",
        "IncludeGlobalServiceEvents",
        "IsLogging",
        "IsMultiRegionTrail",
        "KMSKeyId",
        "S3BucketName",
        "S3KeyPrefix",
        "TrailName",
    },
}


@dataclass
class Deployed:
    """Physical ids and attributes of a deployed template, and its resolved outputs."""

    region: str
    physical: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    # bucket name -> statements not installed in moto (see _moto_can_evaluate)
    withheld: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _moto_can_evaluate(statement: dict[str, Any]) -> bool:
    """moto's S3 applies bucket-policy Deny statements to object requests, but it passes no
    request context to the conditions and treats unknown operators (Bool, Null) as true: a
    conditional Deny (TLS-only, create-only) would refuse every request. Those statements are
    kept aside and evaluated by iam_eval for every request the sync makes instead."""
    return not (statement.get("Effect") == "Deny" and statement.get("Condition"))


def _deps(value: Any) -> set[str]:  # noqa: ANN401
    if isinstance(value, dict):
        out: set[str] = set()
        if "Ref" in value:
            out.add(value["Ref"])
        if "Fn::GetAtt" in value:
            out.add(value["Fn::GetAtt"][0])
        for v in value.values():
            out |= _deps(v)
        return out
    if isinstance(value, list):
        return set().union(*(_deps(v) for v in value)) if value else set()
    return set()


def _order(resources: dict[str, Any]) -> list[str]:
    done: list[str] = []
    pending = dict(resources)
    while pending:
        ready = [
            k
            for k, v in pending.items()
            if (_deps(v.get("Properties", {})) | set(v.get("DependsOn", []))) & set(pending) <= {k}
        ]
        if not ready:
            raise ValueError(f"dependency cycle among {sorted(pending)}")
        for k in sorted(ready):
            done.append(k)
            del pending[k]
    return done


class _Resolver:
    def __init__(self, d: Deployed, stack: str) -> None:
        self.d = d
        self.pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": d.region,
            "AWS::Partition": "aws",
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def __call__(self, v: Any) -> Any:  # noqa: ANN401
        if isinstance(v, list):
            return [self(x) for x in v]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            ((k, arg),) = v.items()
            if k == "Ref":
                return self.pseudo[arg] if arg in self.pseudo else self.d.physical[arg]
            if k == "Fn::GetAtt":
                if arg[1] != "Arn":
                    raise ValueError(f"Fn::GetAtt {arg}: only Arn is handled")
                return self.d.arns[arg[0]]
            if k == "Fn::Join":
                return str(arg[0]).join(str(self(x)) for x in arg[1])
            if k.startswith("Fn::"):
                raise ValueError(f"intrinsic {k} not handled")
        return {k: self(x) for k, x in v.items()}


def _name(stack: str, logical: str, limit: int) -> str:
    return f"{stack}-{logical}-{uuid.uuid4().hex[:10]}".lower()[:limit]


def _lifecycle_rule(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": r["Id"], "Status": r["Status"]}
    out["Filter"] = {"Prefix": r.get("Prefix", "")}
    if "AbortIncompleteMultipartUpload" in r:
        out["AbortIncompleteMultipartUpload"] = r["AbortIncompleteMultipartUpload"]
    if "NoncurrentVersionExpiration" in r:
        out["NoncurrentVersionExpiration"] = r["NoncurrentVersionExpiration"]
    if "ExpirationInDays" in r:
        out["Expiration"] = {"Days": r["ExpirationInDays"]}
    if "Transitions" in r:
        out["Transitions"] = [
            {"StorageClass": t["StorageClass"], "Days": t["TransitionInDays"]}
            for t in r["Transitions"]
        ]
    unknown = set(r) - {"Id", "Status", "Prefix", "AbortIncompleteMultipartUpload",
                        "NoncurrentVersionExpiration", "ExpirationInDays",
                        "Transitions"}  # fmt: skip
    if unknown:
        raise ValueError(f"lifecycle rule {r['Id']}: properties not handled {sorted(unknown)}")
    return out


def deploy(template: dict[str, Any], url: str, region: str, stack: str) -> Deployed:
    """Create every resource of `template` in the moto server at `url`; returns ids and outputs."""
    kw = {"endpoint_url": url, "region_name": region}
    s3, kms = boto3.client("s3", **kw), boto3.client("kms", **kw)
    iam, events = boto3.client("iam", **kw), boto3.client("events", **kw)
    trails = boto3.client("cloudtrail", **kw)
    d = Deployed(region)
    # Bucket logging is applied after every resource exists: moto checks at once that the
    # target bucket's policy lets logging.s3.amazonaws.com write, and that policy names the
    # source buckets (aws:SourceArn), so it is created after them.
    logging_configs: list[tuple[str, dict[str, Any]]] = []
    res = _Resolver(d, stack)
    resources = template["Resources"]
    for lid in _order(resources):
        rtype = resources[lid]["Type"]
        d.types[lid] = rtype
        if rtype not in HANDLED_PROPS:
            raise ValueError(f"{lid}: resource type {rtype} not handled by the moto deployer")
        props = res(resources[lid].get("Properties", {}))
        unknown = set(props) - HANDLED_PROPS[rtype]
        if unknown:
            raise ValueError(f"{lid} ({rtype}): properties not handled {sorted(unknown)}")
        if rtype == "AWS::KMS::Key":
            meta = kms.create_key(
                Policy=json.dumps(props["KeyPolicy"]), Description=props.get("Description", "")
            )["KeyMetadata"]
            if props.get("EnableKeyRotation"):
                kms.enable_key_rotation(KeyId=meta["KeyId"])
            d.physical[lid], d.arns[lid] = meta["KeyId"], meta["Arn"]
        elif rtype == "AWS::KMS::Alias":
            kms.create_alias(
                AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"].split("/")[-1]
            )
            d.physical[lid] = props["AliasName"]
        elif rtype == "AWS::S3::Bucket":
            name = _name(stack, lid, 63)
            s3.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": region},
                ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled")),
            )
            if "VersioningConfiguration" in props:
                s3.put_bucket_versioning(
                    Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
                )
            if "BucketEncryption" in props:
                rules = [
                    {
                        "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                        "BucketKeyEnabled": bool(r.get("BucketKeyEnabled")),
                    }
                    for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                ]
                s3.put_bucket_encryption(
                    Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules}
                )
            if "PublicAccessBlockConfiguration" in props:
                s3.put_public_access_block(
                    Bucket=name,
                    PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"],
                )
            if "OwnershipControls" in props:
                s3.put_bucket_ownership_controls(
                    Bucket=name, OwnershipControls=props["OwnershipControls"]
                )
            if "LifecycleConfiguration" in props:
                rules = [_lifecycle_rule(r) for r in props["LifecycleConfiguration"]["Rules"]]
                s3.put_bucket_lifecycle_configuration(
                    Bucket=name, LifecycleConfiguration={"Rules": rules}
                )
            if "ObjectLockConfiguration" in props:
                s3.put_object_lock_configuration(
                    Bucket=name, ObjectLockConfiguration=props["ObjectLockConfiguration"]
                )
            if "LoggingConfiguration" in props:
                logging_configs.append((name, props["LoggingConfiguration"]))
            d.physical[lid], d.arns[lid] = name, f"arn:aws:s3:::{name}"
        elif rtype == "AWS::S3::BucketPolicy":
            doc = dict(props["PolicyDocument"])
            statements = (
                doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
            )
            doc["Statement"] = [st for st in statements if _moto_can_evaluate(st)]
            d.withheld[props["Bucket"]] = [st for st in statements if not _moto_can_evaluate(st)]
            if doc["Statement"]:
                s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(doc))
            d.physical[lid] = props["Bucket"]
        elif rtype == "AWS::Events::EventBus":
            bus_kw = {"KmsKeyIdentifier": props["KmsKeyIdentifier"]} if props.get(
                "KmsKeyIdentifier") else {}  # fmt: skip
            arn = events.create_event_bus(Name=props["Name"], **bus_kw)["EventBusArn"]
            d.physical[lid], d.arns[lid] = props["Name"], arn
        elif rtype == "AWS::IAM::ManagedPolicy":
            arn = iam.create_policy(
                PolicyName=_name(stack, lid, 128),
                Path=props.get("Path", "/"),
                PolicyDocument=json.dumps(props["PolicyDocument"]),
                Description=props.get("Description", ""),
            )["Policy"]["Arn"]
            d.physical[lid] = d.arns[lid] = arn  # Ref of a managed policy is its ARN
        elif rtype == "AWS::IAM::Role":
            role_kw = {"PermissionsBoundary": props["PermissionsBoundary"]} if props.get(
                "PermissionsBoundary") else {}  # fmt: skip
            role = iam.create_role(
                RoleName=_name(stack, lid, 64),
                Path=props.get("Path", "/"),
                AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
                Description=props.get("Description", ""),
                MaxSessionDuration=int(props.get("MaxSessionDuration", 3600)),
                **role_kw,
            )["Role"]
            d.physical[lid], d.arns[lid] = role["RoleName"], role["Arn"]
        elif rtype == "AWS::CloudTrail::Trail":
            trail_kw = {"KmsKeyId": props["KMSKeyId"]} if props.get("KMSKeyId") else {}
            trail = trails.create_trail(
                Name=props["TrailName"],
                S3BucketName=props["S3BucketName"],
                S3KeyPrefix=props.get("S3KeyPrefix", ""),
                IncludeGlobalServiceEvents=bool(props.get("IncludeGlobalServiceEvents", True)),
                IsMultiRegionTrail=bool(props.get("IsMultiRegionTrail", False)),
                EnableLogFileValidation=bool(props.get("EnableLogFileValidation", False)),
                **trail_kw,
            )
            if props.get("EventSelectors"):
                trails.put_event_selectors(
                    TrailName=props["TrailName"], EventSelectors=props["EventSelectors"]
                )
            if props.get("IsLogging"):
                trails.start_logging(Name=props["TrailName"])
            d.physical[lid], d.arns[lid] = props["TrailName"], trail["TrailARN"]
        elif rtype == "AWS::IAM::Group":
            group = iam.create_group(GroupName=_name(stack, lid, 128), Path=props["Path"])["Group"]
            d.physical[lid], d.arns[lid] = group["GroupName"], group["Arn"]
        elif rtype == "AWS::IAM::Policy":
            doc = json.dumps(props["PolicyDocument"])
            for role in props.get("Roles", []):
                iam.put_role_policy(
                    RoleName=role, PolicyName=props["PolicyName"], PolicyDocument=doc
                )
            for group in props.get("Groups", []):
                iam.put_group_policy(
                    GroupName=group, PolicyName=props["PolicyName"], PolicyDocument=doc
                )
            d.physical[lid] = props["PolicyName"]
    for bucket, cfg in logging_configs:
        unknown = set(cfg) - {"DestinationBucketName", "LogFilePrefix"}
        if unknown:
            raise ValueError(f"{bucket}: logging properties not handled {sorted(unknown)}")
        s3.put_bucket_logging(
            Bucket=bucket,
            BucketLoggingStatus={
                "LoggingEnabled": {
                    "TargetBucket": cfg["DestinationBucketName"],
                    "TargetPrefix": cfg.get("LogFilePrefix", ""),
                }
            },
        )
    d.outputs = {k: str(res(v["Value"])) for k, v in template.get("Outputs", {}).items()}
    return d
