"""Twin state estimation: fuse typed observations into per-dimension trajectories.

``estimate_twin`` (one patient) and ``estimate_cohort`` (many, vectorised) return a frozen
``TwinState``: the smoothed mean and SD of every dimension on every day from ``start`` to
``as_of``, the observations it used, and its provenance. A state answers ``at(day)`` for any
date (extrapolating, with growing uncertainty, outside its grid) and ``explain(dim, day)``: the
exact weight of each observation in that estimate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from engines.errors import InputError

from ._io import DIMENSIONS
from .kalman import extrapolate, observation_weights, smooth
from .observations import Observation, ObservationModel, as_day, load_observation_model

ENGINE_NAME = "novamind-twin-kalman"
ENGINE_VERSION = "1.0.0"
SCHEMA_VERSION = 1
Z90 = 1.6448536269514722  # two-sided 90 % band of a normal distribution


@dataclass(frozen=True)
class Estimate:
    """A dimension's value on one day with its SD and 90 % band (0-1 scale, not clipped)."""

    dimension: str
    day: date
    mean: float
    sd: float
    extrapolated: bool = False

    @property
    def low(self) -> float:
        """Lower end of the 90 % band."""
        return self.mean - Z90 * self.sd

    @property
    def high(self) -> float:
        """Upper end of the 90 % band."""
        return self.mean + Z90 * self.sd


class UsedObservation(NamedTuple):
    """An observation as the filter used it: its reading on the dimension scale and variance.

    A NamedTuple (immutable, cheap to build) because a cohort update creates tens of thousands.
    """

    obs_id: str
    source: str
    day: date
    value: float
    dimension: str
    z: float
    var: float


@dataclass(frozen=True)
class Contribution:
    """How much one observation moved an estimate: weight and weight * reading."""

    obs_id: str
    source: str
    day: date
    value: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """Decomposition of one estimate: mean = prior_weight * prior_mean + sum of contributions."""

    dimension: str
    day: date
    mean: float
    prior_mean: float
    prior_weight: float
    contributions: tuple[Contribution, ...]

    def top(self, k: int = 5) -> tuple[Contribution, ...]:
        """The k observations with the largest absolute weight."""
        return tuple(sorted(self.contributions, key=lambda c: -abs(c.weight))[:k])


@dataclass(frozen=True, eq=False)
class TwinState:
    """Immutable result of one twin update; serialisable with ``to_json``/``from_json``."""

    version: int
    start: date
    as_of: date
    dimensions: tuple[str, ...]
    mean: NDArray[np.float64]  # (dimension, day)
    sd: NDArray[np.float64]
    params: Mapping[str, Mapping[str, float]]  # per dimension: mu, prior_sd, tau_days
    observations: tuple[UsedObservation, ...]
    observation_model_version: str
    created_at: str = ""
    provenance: Mapping[str, str] = field(default_factory=dict)

    # ---- queries ---------------------------------------------------------------------------
    @property
    def days(self) -> int:
        """Number of days on the grid (start..as_of inclusive)."""
        return int(self.mean.shape[1])

    def dates(self) -> list[date]:
        """Every grid date, in order."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def _dim(self, dimension: str) -> int:
        try:
            return self.dimensions.index(dimension)
        except ValueError:
            raise InputError(f"twin: unknown dimension '{dimension}'") from None

    def estimate(self, dimension: str, when: date | datetime) -> Estimate:
        """Value and uncertainty of one dimension on any date."""
        d, day = self._dim(dimension), as_day(when)
        idx = (day - self.start).days
        if 0 <= idx < self.days:
            return Estimate(dimension, day, float(self.mean[d, idx]), float(self.sd[d, idx]))
        edge = 0 if idx < 0 else self.days - 1
        gap = idx - edge
        p = self.params[dimension]
        phi = math.exp(-1.0 / p["tau_days"])
        m, v = extrapolate(
            float(self.mean[d, edge]),
            float(self.sd[d, edge]) ** 2,
            p["mu"],
            phi,
            p["prior_sd"] ** 2,
            gap,
        )
        return Estimate(dimension, day, m, math.sqrt(v), extrapolated=True)

    def at(self, when: date | datetime) -> dict[str, Estimate]:
        """All dimensions on one date."""
        return {dim: self.estimate(dim, when) for dim in self.dimensions}

    def explain(self, dimension: str, when: date | datetime) -> Explanation:
        """Exact per-observation weights behind the smoothed estimate of a grid date."""
        self._dim(dimension)
        day = as_day(when)
        idx = (day - self.start).days
        if not 0 <= idx < self.days:
            raise InputError(f"twin: {day.isoformat()} is outside the estimated range")
        p = self.params[dimension]
        used = [o for o in self.observations if o.dimension == dimension]
        spec = _series_params([p])
        z = np.array([o.z for o in used])
        var = np.array([o.var for o in used])
        day_idx = np.array([(o.day - self.start).days for o in used], dtype=np.int64)
        prec, zprec = _info_arrays(1, self.days, np.zeros(len(used), np.int64), day_idx, z, var)
        res = smooth(*spec, prec, zprec)
        w = observation_weights(float(spec[2][0]), res.p_pred[0], res.p_filt[0], day_idx, var)
        row = w[idx]
        contributions = tuple(
            Contribution(
                o.obs_id, o.source, o.day, o.value, float(row[i + 1]), float(row[i + 1] * o.z)
            )
            for i, o in enumerate(used)
            if row[i + 1] != 0.0
        )
        mean = float(row[0] * p["mu"] + (row[1:] @ z if used else 0.0))
        return Explanation(dimension, day, mean, p["mu"], float(row[0]), contributions)

    # ---- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary with exact floats (round-trips through ``from_json``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "version": self.version,
            "start": self.start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "created_at": self.created_at,
            "provenance": dict(self.provenance),
            "observation_model_version": self.observation_model_version,
            "dimensions": list(self.dimensions),
            "params": {k: dict(v) for k, v in self.params.items()},
            "mean": self.mean.tolist(),
            "sd": self.sd.tolist(),
            "observations": [
                {
                    "obs_id": o.obs_id,
                    "source": o.source,
                    "day": o.day.isoformat(),
                    "value": o.value,
                    "dimension": o.dimension,
                    "z": o.z,
                    "var": o.var,
                }
                for o in self.observations
            ],
        }

    def to_json(self) -> str:
        """Serialise for an immutable TwinSnapshot record."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TwinState:
        """Rebuild a state written by ``to_json``; a malformed snapshot is a InputError."""
        try:
            doc = json.loads(text)
            if doc["schema_version"] != SCHEMA_VERSION:
                raise InputError(
                    f"twin snapshot: schema_version {doc['schema_version']} is not supported"
                )
            mean = _readonly(np.asarray(doc["mean"], dtype=float))
            sd = _readonly(np.asarray(doc["sd"], dtype=float))
            dims = tuple(doc["dimensions"])
            if mean.shape != sd.shape or mean.shape[0] != len(dims):
                raise InputError("twin snapshot: 'mean'/'sd' shapes do not match dimensions")
            return cls(
                version=int(doc["version"]),
                start=date.fromisoformat(doc["start"]),
                as_of=date.fromisoformat(doc["as_of"]),
                dimensions=dims,
                mean=mean,
                sd=sd,
                params={
                    k: {kk: float(vv) for kk, vv in v.items()} for k, v in doc["params"].items()
                },
                observations=tuple(
                    UsedObservation(
                        o["obs_id"],
                        o["source"],
                        date.fromisoformat(o["day"]),
                        float(o["value"]),
                        o["dimension"],
                        float(o["z"]),
                        float(o["var"]),
                    )
                    for o in doc["observations"]
                ),
                observation_model_version=doc["observation_model_version"],
                created_at=doc.get("created_at", ""),
                provenance=dict(doc.get("provenance", {})),
            )
        except InputError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"twin snapshot: malformed ({type(exc).__name__})") from exc


# ---- estimation ----------------------------------------------------------------------------
def estimate_twin(
    observations: Sequence[Observation],
    *,
    as_of: date | datetime,
    start: date | datetime | None = None,
    version: int = 1,
    model: ObservationModel | None = None,
) -> TwinState:
    """Estimate one patient's twin from all its observations up to ``as_of``."""
    return estimate_cohort([observations], as_of=as_of, start=start, version=version, model=model)[
        0
    ]


def estimate_cohort(
    cohort: Sequence[Sequence[Observation]],
    *,
    as_of: date | datetime,
    start: date | datetime | None = None,
    version: int = 1,
    model: ObservationModel | None = None,
) -> list[TwinState]:
    """Estimate many patients at once (one vectorised filter pass over patients x dimensions).

    Each patient's grid runs from its own first observation (or ``start``) to ``as_of``. Because
    the prior is the stationary distribution, starting earlier without data changes nothing, so
    the shared grid gives the same result as estimating each patient alone.
    """
    model = model or load_observation_model()
    end = as_day(as_of)
    used_all: list[list[UsedObservation]] = []
    starts: list[date] = []
    for obs_list in cohort:
        used: list[UsedObservation] = []
        seen: set[str] = set()
        for o in obs_list:
            spec, day = model.check(o)
            if o.obs_id in seen:
                raise InputError(f"observation {o.obs_id}: duplicate id")
            seen.add(o.obs_id)
            if day > end:
                raise InputError(f"observation {o.obs_id}: dated after as_of")
            value = float(o.value)
            z = (value - spec.intercept) / spec.slope
            used.append(
                UsedObservation(o.obs_id, o.source, day, value, spec.dimension, z, spec.var_z)
            )
        used.sort(key=lambda u: (u.day, u.obs_id))
        first = [as_day(start)] if start is not None else []
        first += [used[0].day] if used else []
        starts.append(min(first) if first else end)
        used_all.append(used)
    if any(s > end for s in starts):
        raise InputError("twin: 'start' is after 'as_of'")
    grid0 = min(starts) if starts else end
    t_len = (end - grid0).days + 1
    n_dim = len(DIMENSIONS)
    n_series = len(cohort) * n_dim
    dim_index = {d: i for i, d in enumerate(DIMENSIONS)}
    series, day_idx, zs, vs = [], [], [], []
    for p, used in enumerate(used_all):
        for u in used:
            series.append(p * n_dim + dim_index[u.dimension])
            day_idx.append((u.day - grid0).days)
            zs.append(u.z)
            vs.append(u.var)
    prec, zprec = _info_arrays(
        n_series,
        t_len,
        np.asarray(series, np.int64),
        np.asarray(day_idx, np.int64),
        np.asarray(zs, float),
        np.asarray(vs, float),
    )
    params = {
        d: {
            "mu": model.dimensions[d].prior_mean,
            "prior_sd": model.dimensions[d].prior_sd,
            "tau_days": model.dimensions[d].tau_days,
        }
        for d in DIMENSIONS
    }
    mu, var0, phi, q = (
        np.tile(a, len(cohort)) for a in _series_params([params[d] for d in DIMENSIONS])
    )
    res = smooth(mu, var0, phi, q, prec, zprec)
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    provenance = {
        "model": ENGINE_NAME,
        "model_version": ENGINE_VERSION,
        "observation_model_version": model.version,
        "training_data": "none: parameters are literature-informed assumptions, not fitted to data",
        "method": "mean-reverting local-level Kalman filter + RTS smoother, daily steps",
    }
    out = []
    for p, used in enumerate(used_all):
        off = (starts[p] - grid0).days
        rows = slice(p * n_dim, (p + 1) * n_dim)
        out.append(
            TwinState(
                version=version,
                start=starts[p],
                as_of=end,
                dimensions=DIMENSIONS,
                mean=_readonly(res.m_smooth[rows, off:].copy()),
                sd=_readonly(np.sqrt(res.p_smooth[rows, off:])),
                params=params,
                observations=tuple(used),
                observation_model_version=model.version,
                created_at=created,
                provenance=provenance,
            )
        )
    return out


def _series_params(
    params: Sequence[Mapping[str, float]],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    mu = np.array([p["mu"] for p in params], float)
    var0 = np.array([p["prior_sd"] ** 2 for p in params], float)
    phi = np.exp(-1.0 / np.array([p["tau_days"] for p in params], float))
    q = var0 * (1.0 - phi**2)
    return mu, var0, phi, q


def _info_arrays(
    n_series: int,
    t_len: int,
    series: NDArray[np.int64],
    day: NDArray[np.int64],
    z: NDArray[np.float64],
    var: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    prec = np.zeros((n_series, t_len))
    zprec = np.zeros((n_series, t_len))
    if series.size:
        np.add.at(prec, (series, day), 1.0 / var)
        np.add.at(zprec, (series, day), z / var)
    return prec, zprec


def _readonly(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a.setflags(write=False)
    return a
