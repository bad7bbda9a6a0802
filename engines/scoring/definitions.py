"""Instrument definitions: typed model and a validating loader for resources/instruments/*.json.

Instruments are data so that adding one needs no code. Every definition is checked when it is
loaded (structure, option values, skip logic only looking backwards, bands covering the whole
score range without gaps or overlaps), so a bad file fails with a message naming file and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from engines.errors import InputError
from engines.scoring._checks import Reader
from engines.scoring.conditions import Condition, parse_condition

SEVERITIES = ("critical", "warning", "info")
TOP_KEYS = {
    "schema_version",
    "id",
    "short_name",
    "name",
    "version",
    "rater",
    "time_frame",
    "instructions",
    "item_text_source",
    "citation",
    "licence",
    "loinc",
    "option_sets",
    "items",
    "parameters",
    "scoring",
    "bands",
    "classifications",
    "critical",
    "reliable_change",
}


@dataclass(frozen=True)
class Option:
    """One answer option: the stored value, its label and (if any) its LOINC answer code."""

    value: int
    label: str
    loinc: str | None = None


@dataclass(frozen=True)
class Item:
    """One question; ``ask_if`` is its skip logic (asked only when the condition holds)."""

    id: str
    text: str
    options: tuple[Option, ...]
    required: bool = True
    scored: bool = True
    loinc: str | None = None
    ask_if: Condition | None = None
    time_frame: str | None = None

    @cached_property
    def allowed_values(self) -> frozenset[int]:
        """Values a response may hold for this item."""
        return frozenset(o.value for o in self.options)

    def option(self, value: int) -> Option:
        """The option with this value (KeyError if none)."""
        for o in self.options:
            if o.value == value:
                return o
        raise KeyError(value)


@dataclass(frozen=True)
class Parameter:
    """A tunable number (e.g. the PCL-5 cut-off) with its allowed range."""

    name: str
    default: float
    min: float
    max: float
    description: str


@dataclass(frozen=True)
class Subscale:
    """A named part score: ``sum`` of items, or ``count_at_least`` items ≥ threshold."""

    id: str
    label: str
    items: tuple[str, ...]
    method: str
    threshold: float | None = None

    def rule_text(self) -> str:
        """How this subscale is computed, for display."""
        if self.method == "sum":
            return f"{self.label} = sum of items {', '.join(self.items)}"
        return (
            f"{self.label} = number of items among {', '.join(self.items)} "
            f"rated ≥ {_fmt(self.threshold)}"
        )


@dataclass(frozen=True)
class Band:
    """A severity band: a total range (min..max) or a condition; ``rank`` grows with severity."""

    code: str
    label: str
    rank: int
    min: float | None = None
    max: float | None = None
    condition: Condition | None = None

    def bounds(self) -> tuple[float, float]:
        """(min, max) of a range band; a band without both is a definition error."""
        if self.min is None or self.max is None:
            raise InputError(f"band {self.code}: a range band needs both min and max")
        return self.min, self.max


@dataclass(frozen=True)
class Classification:
    """A named yes/no finding (e.g. 'probable PTSD by DSM-5 cluster rule')."""

    id: str
    label: str
    condition: Condition
    source: str


@dataclass(frozen=True)
class CriticalRule:
    """A critical answer pattern that must raise an alert."""

    id: str
    condition: Condition
    severity: str
    message: str


@dataclass(frozen=True)
class ReliableChangeSpec:
    """Reliable-change threshold (points) and optional clinically meaningful change, cited."""

    threshold: float
    source: str
    meaningful_change: float | None = None
    meaningful_source: str | None = None


@dataclass(frozen=True)
class Instrument:
    """A complete, validated instrument definition."""

    id: str
    short_name: str
    name: str
    version: str
    rater: str
    time_frame: str
    instructions: str | None
    item_text_source: str
    citation: str
    licence: str
    loinc_panel: str | None
    loinc_total: str | None
    items: tuple[Item, ...]
    parameters: tuple[Parameter, ...]
    scoring_method: str
    scoring_rule_text: str
    subscales: tuple[Subscale, ...]
    band_rule: str
    band_source: str
    bands: tuple[Band, ...]
    classifications: tuple[Classification, ...]
    critical: tuple[CriticalRule, ...]
    reliable_change: ReliableChangeSpec | None
    source_file: str

    def item(self, item_id: str) -> Item:
        """The item with this id (KeyError if unknown)."""
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)

    @cached_property
    def band_ranks(self) -> dict[str, int]:
        """Band code → rank (0 = least severe)."""
        return {b.code: b.rank for b in self.bands}

    def band(self, code: str) -> Band:
        """The band with this code (KeyError if unknown)."""
        for b in self.bands:
            if b.code == code:
                return b
        raise KeyError(code)

    @cached_property
    def min_total(self) -> int:
        """Lowest possible total (sum of the scored items' lowest options)."""
        return sum(min(it.allowed_values) for it in self.items if it.scored)

    @cached_property
    def max_total(self) -> int:
        """Highest possible total."""
        return sum(max(it.allowed_values) for it in self.items if it.scored)

    def default_params(self) -> dict[str, float]:
        """Parameter name → default value."""
        return {p.name: p.default for p in self.parameters}


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    return str(int(x)) if float(x).is_integer() else str(x)


def parse_instrument(raw: Any, source: str) -> Instrument:
    """Validate a decoded definition and build the typed Instrument (InputError if bad)."""
    r = Reader(raw, source)
    r.only(TOP_KEYS)
    if r.num("schema_version", integer=True) != 1:
        raise r.fail("schema_version", "only version 1 is supported")
    iid = r.str_("id")
    if not iid.replace("_", "").isalnum() or not iid.islower():
        raise r.fail("id", "must be lower-case letters, digits and '_'")
    loinc = Reader(r.obj("loinc"), f"{source}.loinc")
    loinc.only({"panel", "total"})

    option_sets = _parse_option_sets(r.obj("option_sets"), f"{source}.option_sets")

    params = _parse_params(r.obj("parameters", required=False) or {}, f"{source}.parameters")
    param_names = {p.name for p in params}

    items: dict[str, Item] = {}
    for i, raw_item in enumerate(r.list_("items")):
        where = f"{source}.items[{i}]"
        ir = Reader(raw_item, where)
        ir.only({"id", "text", "options", "required", "scored", "loinc", "ask_if", "time_frame"})
        item_id = ir.str_("id")
        if item_id in items:
            raise ir.fail("id", f"duplicate item id '{item_id}'")
        opt_name = ir.str_("options")
        if opt_name not in option_sets:
            raise ir.fail("options", f"unknown option set '{opt_name}'")
        ask_if = None
        if "ask_if" in raw_item:
            # Skip logic may only look at earlier items: no cycles, and a form can be
            # completed top to bottom.
            ask_if = parse_condition(
                raw_item["ask_if"],
                f"{where}.ask_if",
                items=items,
                scores=set(),
                bands=set(),
                params=param_names,
            )
        items[item_id] = Item(
            id=item_id,
            text=ir.str_("text"),
            options=option_sets[opt_name],
            required=ir.bool_("required", True),
            scored=ir.bool_("scored", True),
            loinc=ir.str_("loinc", required=False),
            ask_if=ask_if,
            time_frame=ir.str_("time_frame", required=False),
        )

    sr = Reader(r.obj("scoring"), f"{source}.scoring")
    sr.only({"method", "rule_text", "subscales"})
    method = sr.choice("method", ("sum", "none"))
    if method == "sum" and not any(it.scored for it in items.values()):
        raise sr.fail("method", "'sum' needs at least one item with scored=true")
    if method == "sum" and any(it.ask_if is not None and it.scored for it in items.values()):
        raise sr.fail("method", "'sum' cannot include skippable items (mark them scored=false)")
    subscales = _parse_subscales(sr.list_("subscales", required=False), sr.where, items)
    score_names = {s.id for s in subscales} | ({"total"} if method == "sum" else set())

    prelim = {
        "items": items,
        "params": param_names,
        "scores": score_names,
    }
    bands, band_rule, band_source = _parse_bands(r.obj("bands"), f"{source}.bands", method, prelim)
    if method == "sum":
        _check_coverage(
            bands,
            band_rule,
            sum(min(it.allowed_values) for it in items.values() if it.scored),
            sum(max(it.allowed_values) for it in items.values() if it.scored),
            f"{source}.bands",
        )
    band_codes = {b.code for b in bands}

    def cond(raw_c: Any, where: str) -> Condition:
        return parse_condition(
            raw_c,
            where,
            items=items,
            scores=score_names,
            bands=band_codes,
            params=param_names,
        )

    classifications = []
    for i, raw_c in enumerate(r.list_("classifications", required=False)):
        cr = Reader(raw_c, f"{source}.classifications[{i}]")
        cr.only({"id", "label", "condition", "source"})
        classifications.append(
            Classification(
                id=cr.str_("id"),
                label=cr.str_("label"),
                condition=cond(cr.obj("condition"), f"{cr.where}.condition"),
                source=cr.str_("source"),
            )
        )

    critical = []
    for i, raw_c in enumerate(r.list_("critical", required=False, non_empty=False)):
        cr = Reader(raw_c, f"{source}.critical[{i}]")
        cr.only({"id", "condition", "severity", "message"})
        critical.append(
            CriticalRule(
                id=cr.str_("id"),
                condition=cond(cr.obj("condition"), f"{cr.where}.condition"),
                severity=cr.choice("severity", SEVERITIES),
                message=cr.str_("message"),
            )
        )

    rc = None
    raw_rc = r.obj("reliable_change", required=False)
    if raw_rc is not None:
        rr = Reader(raw_rc, f"{source}.reliable_change")
        rr.only({"threshold", "source", "meaningful_change", "meaningful_source"})
        if method != "sum":
            raise rr.fail("threshold", "reliable change needs a summed total")
        threshold = rr.num("threshold")
        if threshold <= 0:
            raise rr.fail("threshold", "must be > 0")
        meaningful = rr.num("meaningful_change", required=False)
        rc = ReliableChangeSpec(
            threshold=float(threshold),
            source=rr.str_("source"),
            meaningful_change=None if meaningful is None else float(meaningful),
            meaningful_source=rr.str_("meaningful_source", required=meaningful is not None),
        )

    return Instrument(
        id=iid,
        short_name=r.str_("short_name"),
        name=r.str_("name"),
        version=r.str_("version"),
        rater=r.choice("rater", ("self", "clinician")),
        time_frame=r.str_("time_frame"),
        instructions=r.str_("instructions", required=False),
        item_text_source=r.choice("item_text_source", ("published", "paraphrased")),
        citation=r.str_("citation"),
        licence=r.str_("licence"),
        loinc_panel=loinc.str_("panel", required=False),
        loinc_total=loinc.str_("total", required=False),
        items=tuple(items.values()),
        parameters=params,
        scoring_method=method,
        scoring_rule_text=sr.str_("rule_text"),
        subscales=subscales,
        band_rule=band_rule,
        band_source=band_source,
        bands=bands,
        classifications=tuple(classifications),
        critical=tuple(critical),
        reliable_change=rc,
        source_file=source,
    )


def _parse_option_sets(raw: dict[str, Any], where: str) -> dict[str, tuple[Option, ...]]:
    out: dict[str, tuple[Option, ...]] = {}
    if not raw:
        raise InputError(f"{where}: at least one option set is required")
    for name, opts in raw.items():
        if not isinstance(opts, list) or not opts:
            raise InputError(f"{where}.{name}: must be a non-empty list of options")
        seen: set[int] = set()
        parsed = []
        for j, raw_o in enumerate(opts):
            orr = Reader(raw_o, f"{where}.{name}[{j}]")
            orr.only({"value", "label", "loinc"})
            value = int(orr.num("value", integer=True))
            if value in seen:
                raise orr.fail("value", f"duplicate value {value}")
            seen.add(value)
            parsed.append(Option(value, orr.str_("label"), orr.str_("loinc", required=False)))
        out[name] = tuple(parsed)
    return out


def _parse_params(raw: dict[str, Any], where: str) -> tuple[Parameter, ...]:
    out = []
    for name, spec in raw.items():
        pr = Reader(spec, f"{where}.{name}")
        pr.only({"default", "min", "max", "description"})
        lo, hi, default = pr.num("min"), pr.num("max"), pr.num("default")
        if not lo <= default <= hi:
            raise pr.fail("default", f"must lie in [{_fmt(lo)}, {_fmt(hi)}]")
        out.append(Parameter(name, float(default), float(lo), float(hi), pr.str_("description")))
    return tuple(out)


def _parse_subscales(raw: list[Any], where: str, items: dict[str, Item]) -> tuple[Subscale, ...]:
    out = []
    seen: set[str] = set()
    for i, raw_s in enumerate(raw):
        ss = Reader(raw_s, f"{where}.subscales[{i}]")
        ss.only({"id", "label", "items", "method", "threshold"})
        sid = ss.str_("id")
        if sid in seen or sid == "total":
            raise ss.fail("id", f"duplicate or reserved subscale id '{sid}'")
        seen.add(sid)
        member_ids = ss.list_("items")
        for m in member_ids:
            if not isinstance(m, str):
                raise ss.fail("items", "must be a list of item ids (strings)")
            if m not in items:
                raise ss.fail("items", f"unknown item '{m}'")
            if items[m].ask_if is not None:
                raise ss.fail("items", f"item '{m}' is skippable and cannot be in a subscale")
        method = ss.choice("method", ("sum", "count_at_least"))
        threshold = ss.num("threshold", required=method == "count_at_least")
        out.append(
            Subscale(sid, ss.str_("label"), tuple(member_ids), method, threshold),
        )
    return tuple(out)


def _parse_bands(
    raw: dict[str, Any], where: str, method: str, refs: dict[str, Any]
) -> tuple[tuple[Band, ...], str, str]:
    br = Reader(raw, where)
    br.only({"rule", "source", "levels"})
    rule = br.choice("rule", ("range", "highest_matching"))
    if rule == "range" and method != "sum":
        raise br.fail("rule", "'range' bands need scoring.method 'sum'")
    levels = br.list_("levels")
    codes = set()
    for i, lv in enumerate(levels):
        code = Reader(lv, f"{where}.levels[{i}]").str_("code")
        if code in codes:
            raise InputError(f"{where}.levels[{i}].code: duplicate band '{code}'")
        codes.add(code)
    bands = []
    for rank, lv in enumerate(levels):
        lr = Reader(lv, f"{where}.levels[{rank}]")
        lr.only({"code", "label", "min", "max", "condition"})
        if rule == "range":
            lo = lr.num("min", integer=True)
            hi = lr.num("max", integer=True)
            if lo > hi:
                raise lr.fail("max", f"must be ≥ min ({_fmt(lo)})")
            bands.append(Band(lr.str_("code"), lr.str_("label"), rank, float(lo), float(hi)))
        else:
            condition = None
            if rank == 0:
                if "condition" in lv:
                    raise lr.fail("condition", "the first (default) level has no condition")
            else:
                condition = parse_condition(
                    lr.obj("condition"),
                    f"{lr.where}.condition",
                    items=refs["items"],
                    scores=refs["scores"],
                    bands=set(),
                    params=refs["params"],
                )
            bands.append(Band(lr.str_("code"), lr.str_("label"), rank, condition=condition))
    return tuple(bands), rule, br.str_("source")


def _check_coverage(bands: tuple[Band, ...], rule: str, lo: int, hi: int, where: str) -> None:
    if rule != "range":
        return
    expected = lo
    for b in bands:
        if b.min != expected:
            raise InputError(
                f"{where}.levels[{b.rank}].min: expected {expected} (bands must be ascending, "
                f"contiguous and start at the lowest possible total {lo})"
            )
        expected = int(b.bounds()[1]) + 1
    if expected - 1 != hi:
        raise InputError(
            f"{where}.levels[{len(bands) - 1}].max: must equal the highest possible total {hi}"
        )


MAX_DEFINITION_BYTES = 1024 * 1024  # the largest shipped definition is ~20 KB
_MAX_INT_DIGITS = 15  # beyond this a JSON integer is not a score, an option or a threshold


def _reject_constant(name: str) -> Any:  # noqa: ANN401 — json.loads hook
    raise ValueError(f"{name} is not allowed (numbers must be finite)")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"integer with more than {_MAX_INT_DIGITS} digits")
    return int(text)


def decode_definition(data: bytes, name: str) -> Any:  # noqa: ANN401 — decoded JSON
    """Bytes -> JSON value, or InputError naming the file (UTF-8 with optional BOM; no
    NaN/Infinity, no absurd integers, no nesting deep enough to exhaust the stack)."""
    if len(data) > MAX_DEFINITION_BYTES:
        raise InputError(f"{name}: larger than {MAX_DEFINITION_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: byte {exc.start}: not UTF-8 (save the definition as UTF-8)"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{name}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except ValueError as exc:
        raise InputError(f"{name}: not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{name}: not valid JSON (nested too deeply)") from None


def parse_definition(raw: Any, name: str) -> Instrument:  # noqa: ANN401
    """parse_instrument with a last guard: a structure the checks above did not foresee (a list
    where a string belongs, ...) is still a InputError naming the file, never a crash."""
    try:
        return parse_instrument(raw, name)
    except InputError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError, IndexError, RecursionError) as exc:
        raise InputError(
            f"{name}: malformed definition ({type(exc).__name__}: a field has the wrong type "
            "or shape)"
        ) from None


def load_instrument_file(path: Path | str) -> Instrument:
    """Read and validate one definition file; errors name the file."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_DEFINITION_BYTES:
            raise InputError(f"{path.name}: larger than {MAX_DEFINITION_BYTES // 1024} KiB")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path.name}: cannot be read ({exc.strerror})") from None
    return parse_definition(decode_definition(data, path.name), path.name)


def load_instruments(*dirs: Path | str) -> dict[str, Instrument]:
    """Built-in instruments plus any ``*.json`` in ``dirs`` (e.g. an IT folder); ids unique."""
    out = dict(builtin_instruments())
    for d in dirs:
        for path in sorted(Path(d).glob("*.json")):
            inst = load_instrument_file(path)
            if inst.id in out:
                raise InputError(f"{path.name}.id: instrument '{inst.id}' already defined")
            out[inst.id] = inst
    return out


@lru_cache(maxsize=1)
def builtin_instruments() -> dict[str, Instrument]:
    """The instruments shipped in resources/instruments, keyed by id (validated once, cached)."""
    folder = resources.files("resources") / "instruments"
    out: dict[str, Instrument] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        inst = parse_definition(decode_definition(entry.read_bytes(), entry.name), entry.name)
        if inst.id in out:
            raise InputError(f"{entry.name}.id: instrument '{inst.id}' already defined")
        out[inst.id] = inst
    return out


def get_instrument(instrument_id: str) -> Instrument:
    """A built-in instrument by id; InputError for an unknown id."""
    try:
        return builtin_instruments()[instrument_id]
    except KeyError:
        raise InputError(f"instrument: unknown id '{instrument_id}'") from None
