"""Security properties of a synthesized clinic template, as plain-Python checks (no CDK).

Used by infra/tests (on freshly synthesized stacks, next to aws_cdk.assertions) and by the
desktop's end-to-end test (on the checked-in template, before deploying it into moto).
`findings(template)` lists every property that is missing; an empty list means all hold.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

Template = dict[str, Any]
DEVICE_VAR = "${aws:PrincipalTag/novamind-device}"
# A workstation may create objects only under <layout>/<clinic>/<kind>/<its own device>/.
OWN_DEVICE_PATH = re.compile(
    r"^/v2/[0-9a-f-]{36}/(dev|snap|audit)/" + re.escape(DEVICE_VAR) + r"/\*$"
)
# ... and, in the bundle bucket's change feed, only markers keyed on its own device
# (feed/<ms:013d>/<device>/<seq:012d>.nmf): exactly this resource, nothing else under feed/.
OWN_FEED_PATH = re.compile(r"^/v2/[0-9a-f-]{36}/feed/\*/" + re.escape(DEVICE_VAR) + r"/\*$")
# A feed marker of a device other than the caller's (no session tag value can match it).
OTHER_DEVICE = "00000000-0000-4000-8000-00000000000f"
# IAM actions that change who may do what: an Allow of any of them is privilege escalation
# unless it is the one exception the design names (IT's session revocation on the
# workstation role, which has a boundary IT cannot change).
IAM_ESCALATION_ACTIONS = (
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateRole",
    "iam:PassRole",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:PutUserPolicy",
    "iam:AttachUserPolicy",
    "iam:PutUserPermissionsBoundary",
    "iam:DeleteUserPermissionsBoundary",
    "iam:PutGroupPolicy",
    "iam:AttachGroupPolicy",
)
# What IT must be explicitly denied on its own role (and on the clinic's boundaries).
SELF_MODIFICATION = (
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)
BOUNDARY_LOCK = ("iam:PutRolePermissionsBoundary", "iam:DeleteRolePermissionsBoundary")
EXPIRING_LIFECYCLE_KEYS = (
    "ExpirationInDays",
    "ExpirationDate",
    "ExpiredObjectDeleteMarker",
    "NoncurrentVersionExpiration",
    "NoncurrentVersionExpirationInDays",
)


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


def _is_ref(value: Any, logical_id: str) -> bool:  # noqa: ANN401 — any JSON value
    """True when `value` IS a Ref or Fn::GetAtt of `logical_id` (not merely mentions it)."""
    return value == {"Ref": logical_id} or (
        isinstance(value, dict) and value.get("Fn::GetAtt", [None])[0] == logical_id
    )


def _render(value: Any) -> str:  # noqa: ANN401 — any JSON value
    """A string form of an ARN expression: Fn::Join flattened, Ref/GetAtt as <logical id>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{value['Fn::GetAtt'][0]}>"
        join = value.get("Fn::Join")
        if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
            return str(join[0]).join(_render(p) for p in join[1])
    return repr(value)


def _sample_arn(kind: str, path: str) -> str:
    """An ARN of a `kind` (role, policy) under `path`, as _render writes pseudo parameters."""
    return f"arn:<AWS::Partition>:iam::<AWS::AccountId>:{kind}{path}sample"


def _as_list(value: Any) -> list[Any]:  # noqa: ANN401 — any JSON value
    return value if isinstance(value, list) else [value]


def _covers(patterns: list[Any], action: str) -> bool:
    """True when one of the statement's action patterns matches `action`."""
    return any(fnmatch.fnmatchcase(action, str(p)) for p in patterns)


def _touches(patterns: list[Any], action: str) -> bool:
    """True when an action pattern and `action` overlap (either way round)."""
    return any(
        fnmatch.fnmatchcase(action, str(p)) or fnmatch.fnmatchcase(str(p), action) for p in patterns
    )


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(doc.get("Statement", []))


def _denies(
    docs: list[tuple[str, dict[str, Any]]], actions: tuple[str, ...], on: str | None = None
) -> list[dict[str, Any]]:
    """The Deny statements of `docs` that cover every one of `actions` (and, given `on`, name
    that logical id among their resources)."""
    return [
        st
        for _, doc in docs
        for st in _statements(doc)
        if st.get("Effect") == "Deny"
        and all(_covers(_as_list(st.get("Action", [])), a) for a in actions)
        and (on is None or any(_is_ref(r, on) for r in _as_list(st.get("Resource", []))))
    ]


def _bucket_policy_statements(t: Template, bucket_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for pol in _resources(t, "AWS::S3::BucketPolicy").values():
        props = pol.get("Properties", {})
        if props.get("Bucket") == {"Ref": bucket_id}:
            out.extend(_statements(props.get("PolicyDocument", {})))
    return out


def _bucket_findings(
    t: Template, bucket_id: str, props: dict[str, Any], *, log_bucket: bool
) -> list[str]:
    out: list[str] = []
    if props.get("VersioningConfiguration", {}).get("Status") != "Enabled":
        out.append(f"{bucket_id}: versioning not enabled")
    sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    algos = {r.get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in sse}
    if log_bucket:
        # S3 server access logs are delivered only to SSE-S3 buckets (not SSE-KMS)
        if algos != {"AES256"}:
            out.append(f"{bucket_id}: log bucket default encryption is not SSE-S3 ({algos})")
    elif algos != {"aws:kms"}:
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


def _role_docs(t: Template, role_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, document) of every identity policy of a role: AWS::IAM::Policy and inline."""
    role = t["Resources"].get(role_id, {}).get("Properties", {})
    docs = [
        (pid, p["Properties"]["PolicyDocument"])
        for pid, p in _resources(t, "AWS::IAM::Policy").items()
        if {"Ref": role_id} in p.get("Properties", {}).get("Roles", [])
    ]
    docs += [
        (f"{role_id}/{p.get('PolicyName')}", p["PolicyDocument"]) for p in role.get("Policies", [])
    ]
    return docs


def _boundary(t: Template, role_id: str) -> tuple[str, dict[str, Any]] | None:
    """(logical id, document) of a role's permissions boundary, when it is in the template."""
    ref = t["Resources"].get(role_id, {}).get("Properties", {}).get("PermissionsBoundary")
    if isinstance(ref, dict) and "Ref" in ref:
        mp = _resources(t, "AWS::IAM::ManagedPolicy").get(ref["Ref"])
        if mp is not None:
            return ref["Ref"], mp.get("Properties", {}).get("PolicyDocument", {})
    return None


def _wildcard_findings(t: Template, role_id: str, who: str) -> list[str]:
    """No wildcard action, NotAction/NotResource or Resource '*' in what a role is allowed.

    Wildcards in Deny statements are fine (they only narrow); the boundary is reviewed too."""
    out: list[str] = []
    role = t["Resources"].get(role_id, {}).get("Properties", {})
    docs = _role_docs(t, role_id)
    if role.get("ManagedPolicyArns"):
        out.append(f"{who} role: managed policies attached (not reviewable here)")
    if not docs:
        out.append(f"{who} role: no policy")
    boundary = _boundary(t, role_id)
    if boundary:
        docs.append(boundary)
    for pid, doc in docs:
        for st in _statements(doc):
            if "NotAction" in st or "NotResource" in st:
                out.append(f"{who} role {pid}: NotAction/NotResource used")
            if st.get("Effect") != "Allow":
                continue
            for action in _as_list(st.get("Action", [])):
                if "*" in str(action):
                    out.append(f"{who} role {pid}: wildcard action {action}")
            if "*" in _as_list(st.get("Resource", [])):
                out.append(f"{who} role {pid}: Resource '*'")
    return out


def _retention_findings(t: Template, bundle_id: str, props: dict[str, Any]) -> list[str]:
    """The bundle bucket keeps every version: versioned, and no rule ever expires anything."""
    out: list[str] = []
    for rule in props.get("LifecycleConfiguration", {}).get("Rules", []):
        expiring = [k for k in EXPIRING_LIFECYCLE_KEYS if k in rule]
        if expiring:
            out.append(
                f"{bundle_id}: lifecycle rule {rule.get('Id')} expires bundle versions "
                f"({', '.join(expiring)}); the bundle bucket must keep every version"
            )
    return out


def _logging_findings(
    t: Template, buckets: dict[str, Any], data_ids: list[str], log_id: str
) -> list[str]:
    """S3 server access logs of every data bucket go to the log bucket, which lets S3 write."""
    out: list[str] = []
    if log_id not in buckets:
        return ["no log bucket output (LogBucketName)"]
    for bid in data_ids:
        cfg = buckets.get(bid, {}).get("Properties", {}).get("LoggingConfiguration", {})
        if not _is_ref(cfg.get("DestinationBucketName"), log_id):
            out.append(f"{bid}: S3 server access logging to the log bucket not configured")
    delivery = [
        s
        for s in _bucket_policy_statements(t, log_id)
        if s.get("Effect") == "Allow"
        and s.get("Principal") == {"Service": "logging.s3.amazonaws.com"}
        and "s3:PutObject" in _as_list(s.get("Action"))
    ]
    if not delivery:
        out.append(f"{log_id}: bucket policy does not let S3 deliver server access logs")
    if buckets[log_id].get("Properties", {}).get("LoggingConfiguration"):
        out.append(f"{log_id}: the log bucket logs to itself")
    return out


def _key_allows_service(t: Template, key_id: str, service: str, action: str) -> bool:
    key = _resources(t, "AWS::KMS::Key").get(key_id, {})
    return any(
        st.get("Effect") == "Allow"
        and st.get("Principal") == {"Service": service}
        and _covers(_as_list(st.get("Action", [])), action)
        for st in _statements(key.get("Properties", {}).get("KeyPolicy", {}))
    )


def _key_of(t: Template, value: Any) -> str:  # noqa: ANN401 — any JSON value
    """Logical id of the template's KMS key that `value` is a Ref/GetAtt of; '' if none."""
    for kid in _resources(t, "AWS::KMS::Key"):
        if _is_ref(value, kid):
            return kid
    return ""


def _trail_findings(t: Template, data_ids: list[str], log_id: str) -> list[str]:
    """A logging, validated, KMS-encrypted trail with read+write S3 data events per bucket."""
    trails = _resources(t, "AWS::CloudTrail::Trail")
    if not trails:
        return ["no CloudTrail trail"]
    out: list[str] = []
    for tid, trail in trails.items():
        props = trail.get("Properties", {})
        if props.get("IsLogging") is not True:
            out.append(f"{tid}: trail not logging")
        if props.get("EnableLogFileValidation") is not True:
            out.append(f"{tid}: log file validation off")
        kid = _key_of(t, props.get("KMSKeyId"))
        if not kid:
            out.append(f"{tid}: log files not encrypted with the clinic KMS key")
        elif not _key_allows_service(t, kid, "cloudtrail.amazonaws.com", "kms:GenerateDataKey"):
            out.append(f"{kid}: key policy does not let CloudTrail encrypt log files")
        if not _is_ref(props.get("S3BucketName"), log_id):
            out.append(f"{tid}: trail does not deliver to the log bucket")
    for bid in data_ids:
        logged = any(
            sel.get("ReadWriteType", "All") == "All"
            and any(
                dr.get("Type") == "AWS::S3::Object" and _refs(dr.get("Values", []), bid)
                for dr in sel.get("DataResources", [])
            )
            for trail in trails.values()
            for sel in trail.get("Properties", {}).get("EventSelectors", [])
        )
        if not logged:
            out.append(f"{bid}: no CloudTrail S3 data events (read and write) for this bucket")
    return out


def _bus_findings(t: Template) -> list[str]:
    buses = _resources(t, "AWS::Events::EventBus")
    if not buses:
        return ["no EventBridge bus"]
    out: list[str] = []
    for bid, bus in buses.items():
        kid = _key_of(t, bus.get("Properties", {}).get("KmsKeyIdentifier"))
        if not kid:
            out.append(f"{bid}: event bus not encrypted with the clinic KMS key")
        elif not _key_allows_service(t, kid, "events.amazonaws.com", "kms:GenerateDataKey"):
            out.append(f"{kid}: key policy does not let EventBridge use the key")
    return out


def _device_tag_condition(st: dict[str, Any]) -> bool:
    """The statement requires the session tag novamind-device = the caller's own tag."""
    eq = st.get("Condition", {}).get("StringEquals", {})
    return eq.get("aws:RequestTag/novamind-device") == DEVICE_VAR


def _workstation_findings(t: Template, role_id: str, bundle_id: str, clinic: str) -> list[str]:
    """Per-device prefixes: every object the role may create is under its own device id (its
    dev/, snap/, audit/ prefixes, and feed markers keyed on it in the bundle bucket)."""
    out: list[str] = []
    boundary = _boundary(t, role_id)
    if boundary is None:
        out.append("workstation role: no permissions boundary")
    docs = _role_docs(t, role_id) + ([boundary] if boundary else [])
    registry_key = f"/v2/{clinic}/registry/000000000001.nmr"
    other_feed_key = f"/v2/{clinic}/feed/0000000000001/{OTHER_DEVICE}/000000000001.nmf"
    for pid, doc in docs:
        for st in _statements(doc):
            if st.get("Effect") != "Allow" or not _touches(
                _as_list(st.get("Action", [])), "s3:PutObject"
            ):
                continue
            for res in _as_list(st.get("Resource", [])):
                text = _render(res)
                bucket, _, path = text.partition(">")
                own_feed = bucket == f"<{bundle_id}" and OWN_FEED_PATH.match(path)
                if not bucket.startswith("<") or not (OWN_DEVICE_PATH.match(path) or own_feed):
                    out.append(
                        f"workstation role {pid}: PutObject on {text} is not limited to the "
                        "device's own prefix (${aws:PrincipalTag/novamind-device})"
                    )
                if bucket == f"<{bundle_id}" and fnmatch.fnmatchcase(registry_key, path):
                    out.append(f"workstation role {pid}: may write the registry ({text})")
                if bucket == f"<{bundle_id}" and fnmatch.fnmatchcase(other_feed_key, path):
                    out.append(
                        f"workstation role {pid}: may write another device's feed markers ({text})"
                    )
    trust = _statements(
        t["Resources"][role_id].get("Properties", {}).get("AssumeRolePolicyDocument", {})
    )
    allows = [s for s in trust if s.get("Effect") == "Allow"]
    tag = [s for s in allows if "sts:TagSession" in _as_list(s.get("Action"))]
    if not tag or not all(_device_tag_condition(s) for s in tag):
        out.append(
            "workstation role trust: sts:TagSession not allowed, or not only with the caller's "
            "own novamind-device tag"
        )
    assume = [s for s in allows if "sts:AssumeRole" in _as_list(s.get("Action"))]
    if not assume or not all(_device_tag_condition(s) for s in assume):
        out.append("workstation role trust: sts:AssumeRole does not require the device tag")
    return out


def _it_findings(t: Template, it_id: str, ws_id: str) -> list[str]:
    """IT cannot raise its own rights: boundary, explicit self-modification deny, no IAM
    escalation action allowed except revocation on the (bounded) workstation role, and
    workstation users only with their boundary."""
    out: list[str] = []
    docs = _role_docs(t, it_id)
    boundary = _boundary(t, it_id)
    if boundary is None:
        out.append("IT role: no permissions boundary")
    if not _denies(docs, SELF_MODIFICATION, on=it_id):
        out.append("IT role: no explicit Deny of policy/role changes on its own role")
    if boundary is not None:
        path = t["Resources"][it_id].get("Properties", {}).get("Path", "/")
        own = _sample_arn("role", path)
        bpath = _resources(t, "AWS::IAM::ManagedPolicy")[boundary[0]]["Properties"].get("Path", "/")
        own_boundary = _sample_arn("policy", bpath)
        hits = [
            {_render(r) for r in _as_list(st.get("Resource", []))}
            for st in _denies([boundary], SELF_MODIFICATION)
        ]
        for sample, what in ((own, "its own role"), (own_boundary, "its boundary")):
            if not any(fnmatch.fnmatchcase(sample, r) for rs in hits for r in rs):
                out.append(f"IT boundary: no Deny of policy/role changes on {what}")
    allowed_docs = docs + ([boundary] if boundary else [])
    revocation = False
    for pid, doc in allowed_docs:
        for st in _statements(doc):
            if st.get("Effect") != "Allow":
                continue
            actions = _as_list(st.get("Action", []))
            resources = _as_list(st.get("Resource", []))
            for a in IAM_ESCALATION_ACTIONS:
                if not _touches(actions, a):
                    continue
                if a == "iam:PutRolePolicy" and all(_is_ref(r, ws_id) for r in resources):
                    revocation = True
                    continue
                out.append(f"IT role {pid}: allows {a} on {[_render(r) for r in resources]}")
            if _touches(actions, "iam:CreateUser"):
                cond = st.get("Condition", {}).get("StringEquals", {})
                pb = cond.get("iam:PermissionsBoundary")
                if not any(_is_ref(pb, m) for m in _resources(t, "AWS::IAM::ManagedPolicy")):
                    out.append(
                        f"IT role {pid}: iam:CreateUser without an iam:PermissionsBoundary "
                        "condition naming the workstation user boundary"
                    )
    if revocation:
        if _boundary(t, ws_id) is None:
            out.append("IT may write workstation role policies, but that role has no boundary")
        if not _denies(docs, BOUNDARY_LOCK, on=ws_id):
            out.append("IT role: not denied changing the workstation role's boundary")
    return out


def findings(t: Template) -> list[str]:
    """Every missing security property of a clinic template (empty list: all hold)."""
    out: list[str] = []
    buckets = _resources(t, "AWS::S3::Bucket")
    bundle_id, audit_id = _output_ref(t, "BundleBucketName"), _output_ref(t, "AuditBucketName")
    log_id = _output_ref(t, "LogBucketName")
    clinic = str(t.get("Outputs", {}).get("ClinicId", {}).get("Value", ""))
    for name, bid in (("bundle", bundle_id), ("audit", audit_id)):
        if bid not in buckets:
            out.append(f"no {name} bucket output")
    for bid, res in buckets.items():
        out.extend(_bucket_findings(t, bid, res.get("Properties", {}), log_bucket=bid == log_id))
    if bundle_id in buckets:
        create_only = [
            s
            for s in _bucket_policy_statements(t, bundle_id)
            if s.get("Effect") == "Deny"
            and "s3:PutObject" in _as_list(s.get("Action"))
            and s.get("Condition", {}).get("Null", {}).get("s3:if-none-match") == "true"
            and any(
                fnmatch.fnmatchcase(f"<{bundle_id}>/v2/{clinic}/dev/d/1.nmb", _render(r))
                for r in _as_list(s.get("Resource", []))
            )
        ]
        if not create_only:
            out.append(f"{bundle_id}: no create-only policy (deny PutObject without If-None-Match)")
        out.extend(_retention_findings(t, bundle_id, buckets[bundle_id].get("Properties", {})))
    if audit_id in buckets:
        props = buckets[audit_id].get("Properties", {})
        lock = props.get("ObjectLockConfiguration", {})
        if props.get("ObjectLockEnabled") is not True or lock.get("ObjectLockEnabled") != "Enabled":
            out.append(f"{audit_id}: Object Lock not enabled")
        elif not lock.get("Rule", {}).get("DefaultRetention"):
            out.append(f"{audit_id}: no Object Lock default retention")
    data_ids = [b for b in (bundle_id, audit_id) if b in buckets]
    out.extend(_logging_findings(t, buckets, data_ids, log_id))
    out.extend(_trail_findings(t, data_ids, log_id))
    keys = _resources(t, "AWS::KMS::Key")
    if not keys:
        out.append("no KMS key")
    for kid, key in keys.items():
        if key.get("Properties", {}).get("EnableKeyRotation") is not True:
            out.append(f"{kid}: key rotation off")
    out.extend(_bus_findings(t))
    roles = _resources(t, "AWS::IAM::Role")
    ws_id, it_id = _output_ref(t, "WorkstationRoleArn"), _output_ref(t, "ItRoleArn")
    for rid, who in ((ws_id, "workstation"), (it_id, "IT")):
        if rid not in roles:
            out.append(f"no {who} role output")
        else:
            out.extend(_wildcard_findings(t, rid, who))
    if ws_id in roles:
        out.extend(_workstation_findings(t, ws_id, bundle_id, clinic))
    if it_id in roles and ws_id in roles:
        out.extend(_it_findings(t, it_id, ws_id))
    return out
