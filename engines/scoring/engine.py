"""The scoring engine: validate a response, score it, band it, flag critical answers.

Pure logic: takes an Instrument and answers, returns frozen results (each carrying the rule text
the UI shows). It never stores anything; the service layer persists and publishes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engines.errors import InputError
from engines.scoring.conditions import EvalContext
from engines.scoring.definitions import Instrument
from engines.scoring.observations import Observation


@dataclass(frozen=True)
class BandResult:
    """The severity band given, with the rule that gave it."""

    code: str
    label: str
    rank: int
    rule_text: str


@dataclass(frozen=True)
class SubscaleResult:
    """A part score (e.g. a PCL-5 cluster)."""

    id: str
    label: str
    value: float
    rule_text: str


@dataclass(frozen=True)
class ClassificationResult:
    """A yes/no finding (e.g. DSM-5 cluster rule met), with its rule and source."""

    id: str
    label: str
    met: bool
    rule_text: str
    source: str


@dataclass(frozen=True)
class CriticalFlag:
    """A critical answer pattern that was present: it must raise an alert."""

    rule_id: str
    severity: str
    message: str
    rule_text: str


@dataclass(frozen=True)
class ScoreResult:
    """Everything the engine concluded about one administration."""

    instrument_id: str
    instrument_version: str
    short_name: str
    answers: tuple[tuple[str, int], ...]
    asked_items: tuple[str, ...]
    total: int | None
    max_total: int | None
    band: BandResult
    subscales: tuple[SubscaleResult, ...]
    classifications: tuple[ClassificationResult, ...]
    flags: tuple[CriticalFlag, ...]
    parameters: tuple[tuple[str, float], ...]
    rule_text: str

    def answer(self, item_id: str) -> int | None:
        """The stored value of an item (None if skipped or left blank)."""
        return dict(self.answers).get(item_id)

    @property
    def has_critical(self) -> bool:
        """True when any flag has severity 'critical'."""
        return any(f.severity == "critical" for f in self.flags)


@dataclass(frozen=True)
class ChangeResult:
    """Change between two administrations of the same instrument."""

    instrument_id: str
    before: int
    after: int
    delta: int
    reliable: bool | None
    direction: str  # improved | deteriorated | no_reliable_change | not_defined
    meaningful: bool | None
    rule_text: str


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def validate_response(instrument: Instrument, answers: Mapping[str, Any]) -> dict[str, int]:
    """Check a response against the instrument and its skip logic; returns the clean answers.

    Raises InputError naming the item (never the answer) for an unknown item, a value
    outside the options, a missing required answer, or an answer to a question the skip logic
    says was not asked.
    """
    where = instrument.id
    if not isinstance(answers, Mapping):
        raise InputError(f"{where}: answers must be a mapping of item id to value")
    known = {it.id for it in instrument.items}
    unknown = [k for k in answers if k not in known]
    if unknown:
        raise InputError(f"{where}: unknown item(s) {sorted(map(str, unknown))}")
    clean: dict[str, int] = {}
    for item in instrument.items:
        skip_unless = item.ask_if
        present = item.id in answers and answers[item.id] is not None
        if skip_unless is not None and not skip_unless.evaluate(EvalContext(answers=clean)):
            if present:
                raise InputError(
                    f"{where}: item {item.id} must not be answered (skipped: "
                    f"asked only if {skip_unless.text()})"
                )
            continue
        if not present:
            if item.required:
                raise InputError(f"{where}: item {item.id} is required but not answered")
            continue
        value = answers[item.id]
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: item {item.id} must be a whole number")
        if value not in item.allowed_values:
            lo, hi = min(item.allowed_values), max(item.allowed_values)
            raise InputError(f"{where}: item {item.id} value is not an allowed option ({lo}-{hi})")
        clean[item.id] = value
    return clean


def resolve_params(
    instrument: Instrument, params: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Instrument defaults overridden by ``params``, each checked against its allowed range."""
    out = instrument.default_params()
    for name, value in (params or {}).items():
        spec = next((p for p in instrument.parameters if p.name == name), None)
        if spec is None:
            raise InputError(f"{instrument.id}: unknown parameter '{name}'")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{instrument.id}: parameter '{name}' must be a number")
        if not spec.min <= value <= spec.max:
            raise InputError(
                f"{instrument.id}: parameter '{name}' must lie in "
                f"[{_fmt(spec.min)}, {_fmt(spec.max)}]"
            )
        out[name] = float(value)
    return out


def score(
    instrument: Instrument,
    answers: Mapping[str, Any],
    params: Mapping[str, float] | None = None,
) -> ScoreResult:
    """Validate, then score, band and flag one administration (nothing returned if invalid)."""
    clean = validate_response(instrument, answers)
    p = resolve_params(instrument, params)

    total: int | None = None
    scores: dict[str, float] = {}
    if instrument.scoring_method == "sum":
        total = sum(clean[it.id] for it in instrument.items if it.scored)
        scores["total"] = total
    subscales = []
    for s in instrument.subscales:
        values = [clean[i] for i in s.items]
        if s.method == "sum":
            value = float(sum(values))
        elif s.threshold is None:
            raise InputError(f"{instrument.id}: subscale {s.id} counts items but has no threshold")
        else:
            threshold = s.threshold
            value = float(sum(1 for v in values if v >= threshold))
        scores[s.id] = value
        subscales.append(SubscaleResult(s.id, s.label, value, s.rule_text()))

    ctx = EvalContext(answers=clean, scores=scores, params=p)
    band = _band(instrument, total, ctx, p)
    ctx = EvalContext(
        answers=clean, scores=scores, params=p, band=band.code, band_ranks=instrument.band_ranks
    )
    classifications = tuple(
        ClassificationResult(
            c.id, c.label, c.condition.evaluate(ctx), c.condition.text(p), c.source
        )
        for c in instrument.classifications
    )
    flags = tuple(
        CriticalFlag(c.id, c.severity, c.message, c.condition.text(p))
        for c in instrument.critical
        if c.condition.evaluate(ctx)
    )
    return ScoreResult(
        instrument_id=instrument.id,
        instrument_version=instrument.version,
        short_name=instrument.short_name,
        answers=tuple((it.id, clean[it.id]) for it in instrument.items if it.id in clean),
        asked_items=tuple(
            it.id
            for it in instrument.items
            if it.ask_if is None or it.ask_if.evaluate(EvalContext(answers=clean))
        ),
        total=total,
        max_total=instrument.max_total if total is not None else None,
        band=band,
        subscales=tuple(subscales),
        classifications=classifications,
        flags=flags,
        parameters=tuple(sorted(p.items())),
        rule_text=instrument.scoring_rule_text,
    )


def _band(
    instrument: Instrument, total: int | None, ctx: EvalContext, params: Mapping[str, float]
) -> BandResult:
    if instrument.band_rule == "range":
        for b in instrument.bands:
            lo, hi = b.bounds()
            if total is not None and lo <= total <= hi:
                return BandResult(
                    b.code,
                    b.label,
                    b.rank,
                    f"{b.label}: total {total} lies in {_fmt(lo)}-{_fmt(hi)} "
                    f"({instrument.band_source})",
                )
        raise AssertionError("band coverage is checked when the definition loads")
    for b in reversed(instrument.bands):
        if b.condition is None:
            others = " / ".join(
                f"{x.label}: {x.condition.text(params)}"
                for x in instrument.bands[1:]
                if x.condition is not None
            )
            return BandResult(
                b.code, b.label, b.rank, f"{b.label}: no higher level applies ({others})"
            )
        if b.condition.evaluate(ctx):
            return BandResult(
                b.code,
                b.label,
                b.rank,
                f"{b.label}: {b.condition.text(params)} ({instrument.band_source})",
            )
    raise AssertionError("the first band has no condition")


def reliable_change(
    instrument: Instrument, before: ScoreResult, after: ScoreResult
) -> ChangeResult:
    """Compare two administrations; reliable/meaningful only where the instrument defines it.

    Higher totals mean worse symptoms for every shipped instrument, so a fall is improvement.
    """
    for r in (before, after):
        if r.instrument_id != instrument.id:
            raise InputError(f"{instrument.id}: cannot compare a {r.instrument_id} result")
        if r.total is None:
            raise InputError(f"{instrument.id}: no total score to compare")
    old, new = before.total, after.total
    if old is None or new is None:  # refused above; this narrows the types
        raise InputError(f"{instrument.id}: no total score to compare")
    delta = new - old
    spec = instrument.reliable_change
    if spec is None:
        return ChangeResult(
            instrument.id,
            old,
            new,
            delta,
            None,
            "not_defined",
            None,
            f"{instrument.short_name} defines no reliable change index",
        )
    reliable = abs(delta) >= spec.threshold
    direction = "no_reliable_change"
    if reliable:
        direction = "deteriorated" if delta > 0 else "improved"
    meaningful = None
    text = f"reliable change if |Δ| ≥ {_fmt(spec.threshold)} points ({spec.source})"
    if spec.meaningful_change is not None:
        meaningful = abs(delta) >= spec.meaningful_change
        text += (
            f"; clinically meaningful if |Δ| ≥ {_fmt(spec.meaningful_change)} "
            f"({spec.meaningful_source})"
        )
    return ChangeResult(instrument.id, old, new, delta, reliable, direction, meaningful, text)


def observations_from_result(
    result: ScoreResult, *, patient_id: str, assessment_id: str, at: datetime
) -> tuple[Observation, ...]:
    """Flatten a result into observations (total, band rank, items, subscales, flags)."""
    iid = result.instrument_id
    values: list[tuple[str, float]] = []
    if result.total is not None:
        values.append(("total", float(result.total)))
    values.append(("band_rank", float(result.band.rank)))
    values += [(f"item.{k}", float(v)) for k, v in result.answers]
    values += [(f"score.{s.id}", s.value) for s in result.subscales]
    values += [(f"class.{c.id}", 1.0 if c.met else 0.0) for c in result.classifications]
    values += [(f"flag.{f.rule_id}", 1.0) for f in result.flags]
    return tuple(
        Observation(
            id=f"{assessment_id}/{iid}.{name}",
            patient_id=patient_id,
            metric=f"{iid}.{name}",
            value=value,
            at=at,
        )
        for name, value in values
    )
