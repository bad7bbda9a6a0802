"""A small IAM evaluator: would AWS allow this request under these policies?

moto's server does not evaluate IAM conditions or bucket policies, so the e2e test records
every S3/EventBridge request the desktop's sync makes and evaluates each one here against the
policies read back from the server (the workstation role's inline policy and the bucket
policies). Supported: Allow/Deny, Action/Resource globs, Principal "*", and the condition
operators our templates use (StringEquals, StringLike, ArnLike, Null, Bool). An unsupported
operator raises, so a new condition cannot be silently treated as satisfied.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One API call as IAM sees it: action, resource ARN and its condition context."""

    action: str
    resource: str
    context: dict[str, str] = field(default_factory=dict)


def _as_list(v: Any) -> list[Any]:  # noqa: ANN401
    return v if isinstance(v, list) else [v]


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _condition_holds(cond: dict[str, Any], ctx: dict[str, str]) -> bool:
    for op, entries in cond.items():
        for key, expected in entries.items():
            values = [str(x) for x in _as_list(expected)]
            actual = ctx.get(key)
            if op == "Null":
                if (actual is None) != (values[0] == "true"):
                    return False
            elif actual is None:
                return False
            elif op in ("StringEquals", "Bool"):
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
    if not any(_glob(r, req.resource) for r in _as_list(st.get("Resource", []))):
        return False
    return _condition_holds(st.get("Condition", {}), req.context)


def decide(req: Request, identity: list[dict[str, Any]], resource: list[dict[str, Any]]) -> bool:
    """True when an identity policy allows `req` and no statement of either kind denies it.

    Resource policies here only deny (ours grant nothing), so an identity Allow is required.
    """
    statements = [s for doc in identity for s in _as_list(doc["Statement"])]
    for doc in resource:
        for s in _as_list(doc["Statement"]):
            principal = s.get("Principal")
            if principal in ("*", {"AWS": "*"}):
                statements.append(s)
    matching = [s for s in statements if _matches(s, req)]
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    return any(s["Effect"] == "Allow" for s in matching)
