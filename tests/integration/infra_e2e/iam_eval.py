"""A small IAM evaluator: would AWS allow this request under these policies?

moto's server does not evaluate IAM conditions or bucket policies, so the e2e test records
every S3/EventBridge request the desktop's sync (and IT's registry writes) make and evaluates
each one here against the policies read back from the server (the role's inline policies, its
permissions boundary and the bucket policies). Supported: Allow/Deny, Action/Resource globs,
Principal "*" (resource policies) and the account principal (trust policies), policy
variables such as `${aws:PrincipalTag/novamind-device}` (substituted from the request's
context; a statement whose variable has no value in the context does not match, as in IAM),
and the condition operators our templates use (StringEquals, StringLike, ArnLike, Null, Bool,
ForAllValues:StringEquals). An unsupported operator or variable form raises, so a new
condition cannot be silently treated as satisfied.
"""

from __future__ import annotations

import fnmatch
import glob
import re
from dataclasses import dataclass, field
from typing import Any

VARIABLE = re.compile(r"\$\{([^}]*)\}")
LITERALS = {"*": "*", "?": "?", "$": "$"}  # ${*}, ${?}, ${$}: the character itself


@dataclass(frozen=True)
class Request:
    """One API call as IAM sees it: action, resource ARN and its condition context.

    Context values are strings; a multivalued key (aws:TagKeys) is a tuple of strings."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)


def _as_list(v: Any) -> list[Any]:  # noqa: ANN401
    return v if isinstance(v, list) else [v]


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _substitute(text: str, ctx: dict[str, Any], *, pattern: bool) -> str | None:
    """`text` with its policy variables replaced from `ctx`; None when one has no value.

    In a glob (Resource, StringLike, ArnLike) a substituted value matches literally."""
    missing = False

    def one(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        if name in LITERALS:
            return glob.escape(LITERALS[name]) if pattern else LITERALS[name]
        if ":" not in name:
            raise ValueError(f"policy variable ${{{name}}} not supported by the evaluator")
        value = ctx.get(name)
        if value is None or not isinstance(value, str):
            missing = True
            return ""
        return glob.escape(value) if pattern else value

    out = VARIABLE.sub(one, text)
    return None if missing else out


def _condition_holds(cond: dict[str, Any], ctx: dict[str, Any]) -> bool:
    for op, entries in cond.items():
        for key, expected in entries.items():
            actual = ctx.get(key)
            if op == "Null":
                if (actual is None) != (str(_as_list(expected)[0]) == "true"):
                    return False
                continue
            like = op in ("StringLike", "ArnLike", "ForAllValues:StringLike")
            values = [_substitute(str(x), ctx, pattern=like) for x in _as_list(expected)]
            values = [v for v in values if v is not None]
            if op == "ForAllValues:StringEquals":
                # every value in the request must be allowed; no key in the request: true
                given = [actual] if isinstance(actual, str) else list(actual or [])
                if not set(given) <= set(values):
                    return False
                continue
            if actual is None:
                return False
            if not isinstance(actual, str):
                raise ValueError(f"{key}: multivalued key needs a ForAllValues/ForAnyValue op")
            if op in ("StringEquals", "Bool"):
                if actual not in values:
                    return False
            elif op in ("StringLike", "ArnLike"):
                if not any(_glob(v, actual) for v in values):
                    return False
            else:
                raise ValueError(f"condition operator {op} not supported by the evaluator")
    return True


def _matches(st: dict[str, Any], req: Request) -> bool:
    if not any(_glob(a, req.action) for a in _as_list(st.get("Action", []))):
        return False
    resources = [
        _substitute(str(r), req.context, pattern=True) for r in _as_list(st.get("Resource", []))
    ]
    if not any(r is not None and _glob(r, req.resource) for r in resources):
        return False
    return _condition_holds(st.get("Condition", {}), req.context)


def _statements(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for doc in docs for s in _as_list(doc["Statement"])]


def decide(
    req: Request,
    identity: list[dict[str, Any]],
    resource: list[dict[str, Any]],
    boundary: list[dict[str, Any]] | None = None,
) -> bool:
    """True when an identity policy allows `req`, the permissions boundary (when given) allows
    it too, and no statement of any of them denies it.

    Resource policies here only deny (ours grant nothing to the roles), so an identity Allow
    is required."""
    statements = _statements(identity)
    for s in _statements(resource):
        if s.get("Principal") in ("*", {"AWS": "*"}):
            statements.append(s)
    bounded = _statements(boundary or [])
    matching = [s for s in statements + bounded if _matches(s, req)]
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    if boundary is not None and not any(
        s["Effect"] == "Allow" and _matches(s, req) for s in bounded
    ):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, req) for s in statements)


def trust_allows(req: Request, trust: dict[str, Any], account: str) -> bool:
    """True when a role's trust policy lets a principal of `account` make `req` (sts:...).

    Only account principals are handled (ours trust `arn:aws:iam::<account>:root` and narrow
    the caller by conditions); a statement with another principal form raises."""
    root = f"arn:aws:iam::{account}:root"
    matching = []
    for s in _as_list(trust["Statement"]):
        principal = s.get("Principal")
        if principal != {"AWS": root}:
            raise ValueError(f"trust principal {principal} not supported by the evaluator")
        statement = {**s, "Resource": req.resource}
        if _matches(statement, req):
            matching.append(s)
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    return any(s["Effect"] == "Allow" for s in matching)
