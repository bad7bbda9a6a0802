"""Instrument definitions for the UI: the form is generated from them, never hand-written.

A thin read-only facade over engines.scoring so that the UI needs no engine imports: which
instruments exist, which items the skip logic asks for a partial response, a pure pre-check of a
response (the engine's own validation, nothing stored), band regions for trend charts and the
names of alert rules for the inbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.services._engine_errors import translates_engine_errors
from app.services.site_rules import active_rules
from engines.scoring.conditions import Combo, Condition, EvalContext, Leaf
from engines.scoring.definitions import Instrument, builtin_instruments, get_instrument
from engines.scoring.engine import validate_response

__all__ = [
    "BandRegion",
    "Instrument",
    "asked_items",
    "band_regions",
    "check_response",
    "instrument",
    "instruments",
    "rule_names",
]


@translates_engine_errors
def instruments() -> list[Instrument]:
    """Every shipped instrument, self-report ones first, then by name (for pickers)."""
    return sorted(builtin_instruments().values(), key=lambda i: (i.rater != "self", i.short_name))


@translates_engine_errors
def instrument(instrument_id: str) -> Instrument:
    """One instrument definition (ValidationError for an unknown id)."""
    return get_instrument(instrument_id)


@translates_engine_errors
def asked_items(inst: Instrument, answers: Mapping[str, int]) -> list[str]:
    """Ids of the items the skip logic asks, given the answers so far (top to bottom).

    Skip conditions only look at earlier items, so one pass in order is exact.
    """
    asked: list[str] = []
    clean: dict[str, int] = {}
    for it in inst.items:
        if it.ask_if is None or it.ask_if.evaluate(EvalContext(answers=clean)):
            asked.append(it.id)
            if it.id in answers and answers[it.id] is not None:
                clean[it.id] = answers[it.id]
    return asked


@translates_engine_errors
def check_response(inst: Instrument, answers: Mapping[str, int]) -> None:
    """Run the engine's validation without storing anything (raises ValidationError)."""
    validate_response(inst, answers)


@dataclass(frozen=True)
class BandRegion:
    """A shaded band on a trend chart: y from ``low`` to ``high`` on ``axis`` (total | rank)."""

    code: str
    label: str
    rank: int
    low: float
    high: float
    axis: str
    note: str = ""


def _total_cut(cond: object) -> float | None:
    """The lowest 'total ≥ x' / 'total > x' threshold inside a band condition, if any."""
    if isinstance(cond, Leaf):
        if cond.kind == "score" and cond.name == "total" and cond.op in (">=", ">"):
            if isinstance(cond.value, int | float):
                return float(cond.value) + (1 if cond.op == ">" else 0)
        return None
    if isinstance(cond, Combo):
        cuts = [c for c in (_total_cut(ch) for ch in cond.children) if c is not None]
        return min(cuts) if cuts else None
    return None


@translates_engine_errors
def band_regions(inst: Instrument, params: Mapping[str, float] | None = None) -> list[BandRegion]:
    """Bands as chart regions, read from the definition.

    Range bands shade their score range; condition bands with a total cut-point (PCL-5) shade
    from the cut-point up; instruments without a total (C-SSRS) are charted by band rank.
    """
    if inst.band_rule == "range":
        return [
            BandRegion(b.code, b.label, b.rank, lo - 0.5, hi + 0.5, "total")
            for b, (lo, hi) in ((b, b.bounds()) for b in inst.bands)
        ]
    p = {**inst.default_params(), **(params or {})}
    if inst.scoring_method == "sum":
        cuts: list[float] = []
        for b in inst.bands[1:]:
            cut = None if b.condition is None else _total_cut(_with_params(b.condition, p))
            if cut is None:
                break
            cuts.append(cut)
        else:
            lows = [float(inst.min_total), *cuts]
            highs = [*cuts, float(inst.max_total) + 0.5]
            return [
                BandRegion(
                    b.code,
                    b.label,
                    b.rank,
                    lo - (0.5 if i == 0 else 0),
                    hi,
                    "total",
                    "" if i == 0 else "by total; other rules may also give this band",
                )
                for i, (b, lo, hi) in enumerate(zip(inst.bands, lows, highs, strict=True))
            ]
    return [
        BandRegion(b.code, b.label, b.rank, b.rank - 0.5, b.rank + 0.5, "rank") for b in inst.bands
    ]


def _with_params(cond: Condition, params: Mapping[str, float]) -> Condition:
    if isinstance(cond, Leaf) and isinstance(cond.value, str) and cond.value.startswith("$"):
        return Leaf(cond.kind, cond.name, cond.op, params[cond.value[1:]])
    if isinstance(cond, Combo):
        return Combo(cond.mode, tuple(_with_params(c, params) for c in cond.children))
    return cond


@translates_engine_errors
def rule_names() -> dict[str, tuple[str, str]]:
    """Alert rule id → (name, rule text) for the built-in and policy rules in force."""
    return {r.id: (r.name, r.text()) for r in active_rules()}
