"""Security properties of a synthesized clinic template, as plain-Python checks (no CDK).

Used by infra/tests (on freshly synthesized stacks, next to aws_cdk.assertions) and by the
desktop's end-to-end test (on the checked-in template, before deploying it into moto).
`findings(template)` lists every property that is missing; an empty list means all hold.
"""

from __future__ import annotations

from typing import Any

Template = dict[str, Any]


def _resources(t: Template, rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in t.get("Resources", {}).items() if v.get("Type") == rtype}


def _output_ref(t: Template, name: str) -> str:
    """Logical id behind an output (Ref or Fn::GetAtt); '' when absent."""
    value = t.get("Outputs", {}).get(name, {}).get("Value", {})
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return ""


def _refs(value: Any, logical_id: str) -> bool:  # noqa: ANN401 — any JSON value
    """True when `value` mentions `logical_id` through Ref or Fn::GetAtt anywhere."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value and value["Fn::GetAtt"][0] == logical_id:
            return True
        return any(_refs(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_refs(v, logical_id) for v in value)
    return False


def _as_list(value: Any) -> list[Any]:  # noqa: ANN401 — any JSON value
    return value if isinstance(value, list) else [value]


def _bucket_policy_statements(t: Template, bucket_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pol in _resources(t, "AWS::S3::BucketPolicy").values():
        props = pol.get("Properties", {})
        if props.get("Bucket") == {"Ref": bucket_id}:
            out.extend(_as_list(props.get("PolicyDocument", {}).get("Statement", [])))
    return out


def _bucket_findings(t: Template, bucket_id: str, props: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        out.append(f"{bucket_id}: versioning not enabled")
    sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    algos = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in sse}
    if algos != {"aws:kms"}:
        out.append(f"{bucket_id}: default encryption is not SSE-KMS ({sorted(map(str, algos))})")
    pab = props.get("PublicAccessBlockConfiguration", {})
    for flag in (
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ):
        if pab.get(flag) is not True:
            out.append(f"{bucket_id}: public access not blocked ({flag})")
    tls = [
        s
        for s in _bucket_policy_statements(t, bucket_id)
        if s.get("Effect") == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        and "s3:*" in _as_list(s.get("Action"))
    ]
    if not tls:
        out.append(f"{bucket_id}: no TLS-only bucket policy (deny when aws:SecureTransport false)")
    if not props.get("LifecycleConfiguration", {}).get("Rules"):
        out.append(f"{bucket_id}: no lifecycle rules")
    return out


def _wildcard_findings(t: Template, role_id: str, who: str) -> list[str]:
    out: list[str] = []
    policies = [
        (pid, p)
        for pid, p in _resources(t, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in p.get("Properties", {}).get("Roles", [])
    ]
    role = t["Resources"].get(role_id, {}).get("Properties", {})
    docs = [(pid, p["Properties"]["PolicyDocument"]) for pid, p in policies]
    docs += [
        (f"{role_id}/{p.get('PolicyName')}", p["PolicyDocument"]) for p in role.get("Policies", [])
    ]
    if role.get("ManagedPolicyArns"):
        out.append(f"{who} role: managed policies attached (not reviewable here)")
    if not docs:
        out.append(f"{who} role: no policy")
    for pid, doc in docs:
        for st in _as_list(doc.get("Statement", [])):
            if "NotAction" in st or "NotResource" in st:
                out.append(f"{who} role {pid}: NotAction/NotResource used")
            for action in _as_list(st.get("Action", [])):
                if "*" in str(action):
                    out.append(f"{who} role {pid}: wildcard action {action}")
            if st.get("Effect") == "Allow" and "*" in _as_list(st.get("Resource", [])):
                out.append(f"{who} role {pid}: Resource '*'")
    return out


def findings(t: Template) -> list[str]:
    """Every missing security property of a clinic template (empty list: all hold)."""
    out: list[str] = []
    buckets = _resources(t, "AWS::S3::Bucket")
    bundle_id, audit_id = _output_ref(t, "BundleBucketName"), _output_ref(t, "AuditBucketName")
    for name, bid in (("bundle", bundle_id), ("audit", audit_id)):
        if bid not in buckets:
            out.append(f"no {name} bucket output")
    for bid, res in buckets.items():
        out.extend(_bucket_findings(t, bid, res.get("Properties", {})))
    if bundle_id in buckets:
        create_only = [
            s
            for s in _bucket_policy_statements(t, bundle_id)
            if s.get("Effect") == "Deny"
            and "s3:PutObject" in _as_list(s.get("Action"))
            and s.get("Condition", {}).get("Null", {}).get("s3:if-none-match") == "true"
        ]
        if not create_only:
            out.append(f"{bundle_id}: no create-only policy (deny PutObject without If-None-Match)")
    if audit_id in buckets:
        props = buckets[audit_id].get("Properties", {})
        lock = props.get("ObjectLockConfiguration", {})
        if props.get("ObjectLockEnabled") is not True or lock.get("ObjectLockEnabled") != "Enabled":
            out.append(f"{audit_id}: Object Lock not enabled")
        elif not lock.get("Rule", {}).get("DefaultRetention"):
            out.append(f"{audit_id}: no Object Lock default retention")
    keys = _resources(t, "AWS::KMS::Key")
    if not keys:
        out.append("no KMS key")
    for kid, key in keys.items():
        if key.get("Properties", {}).get("EnableKeyRotation") is not True:
            out.append(f"{kid}: key rotation off")
    if not _resources(t, "AWS::Events::EventBus"):
        out.append("no EventBridge bus")
    for output, who in (("WorkstationRoleArn", "workstation"), ("ItRoleArn", "IT")):
        rid = _output_ref(t, output)
        if rid not in _resources(t, "AWS::IAM::Role"):
            out.append(f"no {who} role output")
        else:
            out.extend(_wildcard_findings(t, rid, who))
    return out
