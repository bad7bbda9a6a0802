"""A tiny condition language for instrument definitions (skip logic, bands, critical items).

Conditions are data so that adding an instrument needs no code. A leaf compares one reference
with a value; ``all`` / ``any`` combine leaves:

    {"ref": "item:q2", "op": "==", "value": 1}
    {"ref": "score:total", "op": ">=", "value": "$cutoff"}     # "$name" = instrument parameter
    {"ref": "band", "op": ">=", "value": "high"}               # compared by band rank
    {"all": [...]}   {"any": [...]}

An unanswered (skipped or optional) item makes its leaf false, never an error.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engines.errors import InputError

OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
OP_TEXT = {"==": "=", "!=": "≠", ">": ">", ">=": "≥", "<": "<", "<=": "≤"}


@dataclass(frozen=True)
class EvalContext:
    """What a condition may look at: answers, computed scores, band ranks and parameters."""

    answers: Mapping[str, int]
    scores: Mapping[str, float] | None = None
    band: str | None = None
    band_ranks: Mapping[str, int] | None = None
    params: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Leaf:
    """One comparison: ``kind`` is item | score | band; ``value`` a number, band code or $param."""

    kind: str
    name: str
    op: str
    value: float | str

    def resolve(self, ctx: EvalContext) -> float | str:
        """The comparison value, with a ``$param`` looked up in the context's parameters."""
        if isinstance(self.value, str) and self.value.startswith("$"):
            return (ctx.params or {})[self.value[1:]]
        return self.value

    def evaluate(self, ctx: EvalContext) -> bool:
        """True when the referenced value exists and satisfies the comparison."""
        target = self.resolve(ctx)
        if self.kind == "item":
            if self.name not in ctx.answers:
                return False
            return OPS[self.op](ctx.answers[self.name], target)
        if self.kind == "score":
            scores = ctx.scores or {}
            if scores.get(self.name) is None:
                return False
            return OPS[self.op](scores[self.name], target)
        # band: compare ranks
        ranks = ctx.band_ranks or {}
        if ctx.band is None or ctx.band not in ranks:
            return False
        return OPS[self.op](ranks[ctx.band], ranks[str(target)])

    def text(self, params: Mapping[str, float] | None = None) -> str:
        """Human-readable rule text, e.g. ``item q9 > 0`` or ``total ≥ 33``."""
        value: Any = self.value
        if isinstance(value, str) and value.startswith("$") and params and value[1:] in params:
            value = params[value[1:]]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        subject = {"item": f"item {self.name}", "score": self.name, "band": "band"}[self.kind]
        return f"{subject} {OP_TEXT[self.op]} {value}"


@dataclass(frozen=True)
class Combo:
    """``all`` (AND) or ``any`` (OR) of child conditions."""

    mode: str
    children: tuple[Condition, ...]

    def evaluate(self, ctx: EvalContext) -> bool:
        """AND / OR of the children."""
        results = (c.evaluate(ctx) for c in self.children)
        return all(results) if self.mode == "all" else any(results)

    def text(self, params: Mapping[str, float] | None = None) -> str:
        """Children's texts joined with AND / OR, parenthesised when nested."""
        joiner = " AND " if self.mode == "all" else " OR "
        parts = [
            f"({c.text(params)})" if isinstance(c, Combo) else c.text(params) for c in self.children
        ]
        return joiner.join(parts)


Condition = Leaf | Combo


def parse_condition(
    raw: Any,
    where: str,
    *,
    items: Mapping[str, Any],
    scores: set[str],
    bands: set[str],
    params: set[str],
) -> Condition:
    """Parse and check a condition; unknown references raise InputError naming ``where``."""
    if not isinstance(raw, dict):
        raise InputError(f"{where}: condition must be an object")
    for mode in ("all", "any"):
        if mode in raw:
            children = raw[mode]
            if set(raw) != {mode} or not isinstance(children, list) or not children:
                raise InputError(f"{where}.{mode}: must be the only key, a non-empty list")
            return Combo(
                mode,
                tuple(
                    parse_condition(
                        c,
                        f"{where}.{mode}[{i}]",
                        items=items,
                        scores=scores,
                        bands=bands,
                        params=params,
                    )
                    for i, c in enumerate(children)
                ),
            )
    unknown = set(raw) - {"ref", "op", "value"}
    if unknown:
        raise InputError(f"{where}: unknown key(s) {sorted(unknown)}")
    ref, op, value = raw.get("ref"), raw.get("op"), raw.get("value")
    if not isinstance(ref, str) or not ref:
        raise InputError(f"{where}.ref: required string like 'item:q1', 'score:total', 'band'")
    if op not in OPS:
        raise InputError(f"{where}.op: must be one of {sorted(OPS)}")
    kind, _, name = ref.partition(":")
    if kind == "item":
        if name not in items:
            raise InputError(f"{where}.ref: unknown item '{name}'")
    elif kind == "score":
        if name not in scores:
            raise InputError(f"{where}.ref: unknown score '{name}'")
    elif kind == "band" and not name:
        if value not in bands:
            raise InputError(f"{where}.value: unknown band '{value}'")
        return Leaf("band", "", op, value)
    else:
        raise InputError(f"{where}.ref: '{ref}' is not item:<id>, score:<id> or band")
    if isinstance(value, str) and value.startswith("$"):
        if value[1:] not in params:
            raise InputError(f"{where}.value: unknown parameter '{value}'")
        return Leaf(kind, name, op, value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}.value: must be a number or '$parameter'")
    return Leaf(kind, name, op, float(value))
