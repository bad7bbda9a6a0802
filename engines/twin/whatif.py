"""What-if projection of the twin under a treatment option (illustrative model).

Given a response probability ``p`` with its interval ``[low, high]`` (from the treatment-response
model) the twin is projected forward as a two-component mixture: responders reach a mean
fractional depression reduction of ``responder_reduction_w8`` by week 8, non-responders
``non_responder_reduction_w8`` (response = at least 50 % reduction by week 8). Other dimensions
move toward their healthy reference in proportion (``coupling``), plus the medication class's
small illustrative effect. The band is the envelope of the mixture's 5-95 % quantiles at ``low``,
``p`` and ``high``; the current posterior uncertainty is carried forward. See docs/twin.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from engines.errors import InputError

from ._io import DIMENSIONS, load_json, need, number
from .neuro import MedicationModel, load_medication_model
from .observations import ObservationModel, load_observation_model
from .regions import ACTIVITY_LABEL, RegionMap, load_region_map
from .state import TwinState

WHATIF_FILE = "whatif_model.json"
PROJECTION_LABEL = "Illustrative projection, not a prediction of this patient's course"
Array = NDArray[np.float64]


@dataclass(frozen=True)
class WhatIfModel:
    """Parameters of the projection (resources/twin/whatif_model.json)."""

    version: str
    responder: tuple[float, float]  # mean, sd of the fractional reduction at week 8
    non_responder: tuple[float, float]
    tau_weeks: float
    coupling: Mapping[str, float]


def load_whatif_model(path: str | Path | None = None) -> WhatIfModel:
    """Load and validate the projection parameters."""
    label, doc = load_json(WHATIF_FILE, path, "novamind.twin.whatif_model")
    r = need(doc, "responder_reduction_w8", dict, label)
    n = need(doc, "non_responder_reduction_w8", dict, label)
    coupling_doc = need(doc, "coupling", dict, label)
    coupling = {d: number(coupling_doc, d, f"{label}: coupling") for d in DIMENSIONS}
    model = WhatIfModel(
        version=doc["version"],
        responder=(number(r, "mean", label), number(r, "sd", label)),
        non_responder=(number(n, "mean", label), number(n, "sd", label)),
        tau_weeks=number(doc, "tau_weeks", label),
        coupling=coupling,
    )
    if not 0 <= model.non_responder[0] < 0.5 <= model.responder[0] <= 1:
        raise InputError(f"{label}: responders must reduce >= 50 %, non-responders < 50 %")
    if model.tau_weeks <= 0 or model.responder[1] < 0 or model.non_responder[1] < 0:
        raise InputError(f"{label}: 'tau_weeks' must be positive and SDs non-negative")
    return model


@dataclass(frozen=True, eq=False)
class Projection:
    """Projected trajectories: dimension arrays (dimension, step), region arrays (region, step)."""

    option: str
    p: float
    p_low: float
    p_high: float
    days: tuple[date, ...]
    dimensions: tuple[str, ...]
    mean: Array
    low: Array  # 5 % quantile envelope
    high: Array  # 95 % quantile envelope
    responder_mean: Array
    non_responder_mean: Array
    region_ids: tuple[str, ...]
    region_mean: Array
    region_sd: Array
    provenance: Mapping[str, str] = field(default_factory=dict)
    label: str = PROJECTION_LABEL
    region_label: str = ACTIVITY_LABEL

    def series(self, dimension: str) -> tuple[Array, Array, Array]:
        """(mean, low, high) of one dimension over the projection steps."""
        i = self.dimensions.index(dimension)
        return self.mean[i], self.low[i], self.high[i]


def project(
    state: TwinState,
    *,
    option: str,
    p: float,
    p_low: float,
    p_high: float,
    weeks: int = 12,
    step_days: int = 7,
    start: date | None = None,
    model: WhatIfModel | None = None,
    medications: MedicationModel | None = None,
    regions: RegionMap | None = None,
    observation_model: ObservationModel | None = None,
) -> Projection:
    """Project ``state`` forward ``weeks`` weeks under treatment ``option`` (a class id)."""
    values = (p, p_low, p_high)
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise InputError("what-if: p, p_low and p_high must be finite numbers")
    if not 0.0 <= p_low <= p <= p_high <= 1.0:
        raise InputError("what-if: need 0 <= p_low <= p <= p_high <= 1")
    if not isinstance(weeks, int) or not 1 <= weeks <= 104:
        raise InputError("what-if: 'weeks' must be an integer 1..104")
    if not isinstance(step_days, int) or not 1 <= step_days <= 28:
        raise InputError("what-if: 'step_days' must be an integer 1..28")
    model = model or load_whatif_model()
    medications = medications or load_medication_model()
    regions = regions or load_region_map()
    obs_model = observation_model or load_observation_model()
    med = medications.get(option)
    day0 = start or state.as_of
    steps = np.arange(0, weeks * 7 + 1, step_days, dtype=float)
    t = steps / 7.0
    days = tuple(day0 + timedelta(days=int(s)) for s in steps)

    now = state.at(day0)
    x0 = np.array([now[d].mean for d in DIMENSIONS])[:, None]
    p0 = np.array([now[d].sd ** 2 for d in DIMENSIONS])[:, None]
    target = np.array(
        [
            0.0 if d == "depression" else obs_model.dimensions[d].healthy_reference
            for d in DIMENSIONS
        ]
    )[:, None]
    coupling = np.array([model.coupling[d] for d in DIMENSIONS])[:, None]
    tau = model.tau_weeks
    g = (1.0 - np.exp(-t / tau)) / (1.0 - math.exp(-8.0 / tau))
    onset = 1.0 - np.exp(-t / med.onset_weeks)
    med_shift = np.array([med.dimension_effects.get(d, 0.0) for d in DIMENSIONS])[:, None] * onset
    # drift of the part of each dimension the mood response does not explain (state model noise)
    phi = np.array([math.exp(-1.0 / obs_model.dimensions[d].tau_days) for d in DIMENSIONS])[:, None]
    prior_var = np.array([obs_model.dimensions[d].prior_sd ** 2 for d in DIMENSIONS])[:, None]
    drift_var = (1.0 - coupling) * prior_var * (1.0 - phi ** (2.0 * steps[None, :]))

    def component(reduction: tuple[float, float]) -> tuple[Array, Array]:
        mean_f, sd_f = reduction[0] * g, reduction[1] * g
        gap = coupling * (target - x0)
        m = x0 + gap * mean_f + med_shift
        v = (gap * sd_f) ** 2 + (1.0 - coupling * mean_f) ** 2 * p0 + drift_var
        return m, v

    m_r, v_r = component(model.responder)
    m_n, v_n = component(model.non_responder)
    lows, highs = [], []
    for prob in (p_low, p, p_high):
        lows.append(_mixture_quantile(prob, m_r, v_r, m_n, v_n, 0.05))
        highs.append(_mixture_quantile(prob, m_r, v_r, m_n, v_n, 0.95))
    mean = p * m_r + (1.0 - p) * m_n

    w = regions.weight_matrix()
    ref = regions.reference_vector()[:, None]
    a_r, a_n = w @ (m_r - ref), w @ (m_n - ref)
    av_r, av_n = (w * w) @ v_r, (w * w) @ v_n
    region_mean = p * a_r + (1.0 - p) * a_n
    region_var = (
        p * av_r
        + (1.0 - p) * av_n
        + p * (1.0 - p) * (a_r - a_n) ** 2
        + (p_high - p_low) ** 2 / 12.0 * (a_r - a_n) ** 2
    )
    return Projection(
        option=option,
        p=float(p),
        p_low=float(p_low),
        p_high=float(p_high),
        days=days,
        dimensions=DIMENSIONS,
        mean=mean,
        low=np.minimum.reduce(lows),
        high=np.maximum.reduce(highs),
        responder_mean=m_r,
        non_responder_mean=m_n,
        region_ids=regions.ids,
        region_mean=region_mean,
        region_sd=np.sqrt(region_var),
        provenance={
            "model": "novamind-twin-whatif",
            "model_version": model.version,
            "medication_model_version": medications.version,
            "region_map_version": regions.version,
            "twin_state_version": str(state.version),
            "response_probability_source": "treatment-response model (caller supplied)",
            "training_data": "none: literature-informed illustrative parameters",
        },
    )


def _mixture_quantile(p: float, m1: Array, v1: Array, m2: Array, v2: Array, q: float) -> Array:
    """Quantile q of p*N(m1, v1) + (1-p)*N(m2, v2), elementwise, by vectorised bisection."""
    s1, s2 = np.sqrt(np.maximum(v1, 1e-18)), np.sqrt(np.maximum(v2, 1e-18))
    z = float(ndtri(q))
    lo = np.minimum(m1 + z * s1, m2 + z * s2) - 1e-9
    hi = np.maximum(m1 + z * s1, m2 + z * s2) + 1e-9
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        cdf = p * ndtr((mid - m1) / s1) + (1.0 - p) * ndtr((mid - m2) / s2)
        below = cdf < q
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return 0.5 * (lo + hi)
