"""Typed observations and the observation model that maps them onto twin dimensions.

An observation is patient-free: an id, a source code (e.g. ``phq9.total``), a date and a value
in the source's own units. The observation model (``resources/twin/observation_model.json``)
says which dimension a source measures and how: ``value = intercept + slope * x + noise``, with
the noise SD justified by the instrument's reliability.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from engines.errors import InputError

from ._io import DIMENSIONS, load_json, need, number

OBSERVATION_MODEL_FILE = "observation_model.json"


@dataclass(frozen=True)
class Observation:
    """One measurement: ``source`` is a code from the observation model, ``value`` in its units."""

    obs_id: str
    source: str
    when: date
    value: float

    @property
    def day(self) -> date:
        """Calendar day (UTC) the twin files this observation under."""
        return as_day(self.when)


def as_day(when: date | datetime) -> date:
    """Reduce a date or datetime to its UTC calendar day (the twin's time step)."""
    if isinstance(when, datetime):
        if when.tzinfo is not None:
            when = when.astimezone(UTC)
        return when.date()
    if isinstance(when, date):
        return when
    raise InputError(f"date: expected a date or datetime, got {type(when).__name__}")


#: C-SSRS screener behaviour → the ideation level (1-5) of the same triage point (docs/twin.md):
#: behaviour within 3 months (q6_recent) is high risk like intent with a plan (q5); behaviour
#: longer ago (q6 only) is moderate risk like a method (q3).
CSSRS_BEHAVIOUR_LEVEL: Mapping[str, int] = {"q6_recent": 5, "q6": 3}


def cssrs_screen_level(answers: Mapping[str, int]) -> float:
    """``cssrs.ideation_severity`` (0-5) from C-SSRS screener answers: the highest yes among
    ideation questions 1-5, raised to the level of any suicidal behaviour (never lowered by it)."""
    ideation = [k for k in range(1, 6) if answers.get(f"q{k}")]
    behaviour = [lvl for item, lvl in CSSRS_BEHAVIOUR_LEVEL.items() if answers.get(item)]
    return float(max(ideation + behaviour + [0]))


@dataclass(frozen=True)
class DimensionSpec:
    """Prior and dynamics of one dimension (see the state_model section of the data file)."""

    name: str
    prior_mean: float
    prior_sd: float
    tau_days: float
    healthy_reference: float
    higher_is_worse: bool
    scale: str

    @property
    def phi(self) -> float:
        """Daily autoregression coefficient exp(-1/tau)."""
        return math.exp(-1.0 / self.tau_days)

    @property
    def q(self) -> float:
        """Daily process noise variance keeping the stationary SD equal to prior_sd."""
        return self.prior_sd**2 * (1.0 - self.phi**2)


@dataclass(frozen=True)
class SourceSpec:
    """Measurement equation of one source: value = intercept + slope * x + N(0, noise_sd^2)."""

    code: str
    dimension: str
    intercept: float
    slope: float
    noise_sd: float
    lo: float
    hi: float
    unit: str

    @property
    def var_z(self) -> float:
        """Variance of a reading on the dimension scale: (noise_sd / slope)^2."""
        return (self.noise_sd / self.slope) ** 2

    def to_dimension(self, value: float) -> tuple[float, float]:
        """Invert the measurement: the value as a dimension reading z and its variance."""
        z = (value - self.intercept) / self.slope
        return z, (self.noise_sd / self.slope) ** 2


@dataclass(frozen=True)
class ObservationModel:
    """The loaded observation model: dimension specs and source mappings, with its version."""

    version: str
    dimensions: Mapping[str, DimensionSpec]
    sources: Mapping[str, SourceSpec]

    def source(self, code: str) -> SourceSpec:
        """Look up a source; unknown codes are a InputError, never silently ignored."""
        try:
            return self.sources[code]
        except KeyError:
            raise InputError(f"observation source '{code}' is not in the model") from None

    def check(self, obs: Observation) -> tuple[SourceSpec, date]:
        """Validate one observation (id, source, finite value in range, date); returns its spec
        and UTC day."""
        if not isinstance(obs.obs_id, str) or not obs.obs_id:
            raise InputError("observation: 'obs_id' must be a non-empty string")
        spec = self.sources.get(obs.source)
        if spec is None:
            raise InputError(f"observation source '{obs.source}' is not in the model")
        value = obs.value
        if value.__class__ not in (int, float) or not math.isfinite(value):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"observation {obs.obs_id}: 'value' is not a number")
            if not math.isfinite(value):
                raise InputError(f"observation {obs.obs_id}: 'value' is not a finite number")
        if not spec.lo <= value <= spec.hi:
            raise InputError(
                f"observation {obs.obs_id}: value of '{obs.source}' outside {spec.lo}..{spec.hi}"
            )
        when = obs.when
        day = when if when.__class__ is date else as_day(when)
        return spec, day


def load_observation_model(path: str | Path | None = None) -> ObservationModel:
    """Load and validate the observation model (default: the shipped resource file)."""
    label, doc = load_json(OBSERVATION_MODEL_FILE, path, "novamind.twin.observation_model")
    dims_doc = need(doc, "dimensions", dict, label)
    dims: dict[str, DimensionSpec] = {}
    for name in DIMENSIONS:
        where = f"{label}: dimensions.{name}"
        d = need(dims_doc, name, dict, f"{label}: dimensions")
        spec = DimensionSpec(
            name=name,
            prior_mean=number(d, "prior_mean", where),
            prior_sd=number(d, "prior_sd", where),
            tau_days=number(d, "tau_days", where),
            healthy_reference=number(d, "healthy_reference", where),
            higher_is_worse=need(d, "higher_is_worse", bool, where),
            scale=need(d, "scale", str, where),
        )
        if spec.prior_sd <= 0 or spec.tau_days <= 0:
            raise InputError(f"{where}: 'prior_sd' and 'tau_days' must be positive")
        dims[name] = spec
    extra = set(dims_doc) - set(DIMENSIONS)
    if extra:
        raise InputError(f"{label}: dimensions: unknown dimension '{sorted(extra)[0]}'")
    refs = need(doc, "references", dict, label)
    sources: dict[str, SourceSpec] = {}
    for code, s in need(doc, "sources", dict, label).items():
        where = f"{label}: sources.{code}"
        if not isinstance(s, dict):
            raise InputError(f"{where}: must be an object")
        dim = need(s, "dimension", str, where)
        if dim not in dims:
            raise InputError(f"{where}: unknown dimension '{dim}'")
        source = SourceSpec(
            code=code,
            dimension=dim,
            intercept=number(s, "intercept", where),
            slope=number(s, "slope", where),
            noise_sd=number(s, "noise_sd", where),
            lo=number(s, "min", where),
            hi=number(s, "max", where),
            unit=need(s, "unit", str, where),
        )
        if source.slope == 0 or source.noise_sd <= 0 or source.lo >= source.hi:
            raise InputError(f"{where}: needs slope != 0, noise_sd > 0 and min < max")
        need(s, "why", str, where)
        for ref in need(s, "refs", list, where):
            if ref not in refs:
                raise InputError(f"{where}: reference '{ref}' not in 'references'")
        sources[code] = source
    return ObservationModel(version=doc["version"], dimensions=dims, sources=sources)
