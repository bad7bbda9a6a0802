"""Region model: brain-region activity as a documented linear map of twin dimensions.

``activity[r] = sum_d w[r, d] * (x[d] - healthy_reference[d])`` with variance
``sum_d w[r, d]^2 var(x[d])`` (dimensions are estimated independently). The result is a model
estimate derived from clinical scores, never a measurement of the brain; every value says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from engines.errors import InputError

from ._io import DIMENSIONS, load_json, need, number
from .state import Estimate, TwinState

REGION_MAP_FILE = "region_map.json"
ACTIVITY_LABEL = "model estimate, not a measurement"
KINDS = ("cortical", "subcortical")
HEMISPHERES = ("bilateral", "midline", "left", "right")


@dataclass(frozen=True)
class RegionWeight:
    """Signed weight of one dimension on one region, with its literature references."""

    dimension: str
    weight: float
    refs: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Region:
    """A brain region of the twin scene (cortical parcel group or subcortical glyph)."""

    id: str
    display_name: str
    kind: str
    hemisphere: str
    mni: tuple[float, float, float]
    hcp_mmp_parcels: tuple[str, ...]
    weights: tuple[RegionWeight, ...]

    def mni_points(self) -> tuple[tuple[float, float, float], ...]:
        """Glyph/label positions: both hemispheres for bilateral regions, one otherwise."""
        x, y, z = self.mni
        if self.hemisphere == "bilateral":
            return ((-abs(x), y, z), (abs(x), y, z))
        return ((x, y, z),)


@dataclass(frozen=True)
class RegionActivity:
    """Activity deviation of one region with its SD; ``label`` says it is a model estimate."""

    region_id: str
    value: float
    sd: float
    contributions: Mapping[str, float]
    label: str = ACTIVITY_LABEL


@dataclass(frozen=True)
class RegionMap:
    """The loaded, validated region map."""

    version: str
    regions: tuple[Region, ...]
    connections: tuple[tuple[str, str], ...]
    references: Mapping[str, str]
    healthy_reference: Mapping[str, float]

    @property
    def ids(self) -> tuple[str, ...]:
        """Region ids in file order (the row order of ``weight_matrix``)."""
        return tuple(r.id for r in self.regions)

    def region(self, region_id: str) -> Region:
        """Look up a region by id."""
        for r in self.regions:
            if r.id == region_id:
                return r
        raise InputError(f"region map: unknown region '{region_id}'")

    def weight_matrix(self) -> NDArray[np.float64]:
        """Weights shaped (regions, DIMENSIONS)."""
        w = np.zeros((len(self.regions), len(DIMENSIONS)))
        for i, r in enumerate(self.regions):
            for rw in r.weights:
                w[i, DIMENSIONS.index(rw.dimension)] = rw.weight
        return w

    def reference_vector(self) -> NDArray[np.float64]:
        """Healthy reference of every dimension, in DIMENSIONS order."""
        return np.array([self.healthy_reference[d] for d in DIMENSIONS])

    def activity(self, estimates: Mapping[str, Estimate]) -> dict[str, RegionActivity]:
        """Region activity for one date from the twin's estimates of that date."""
        x = np.array([estimates[d].mean for d in DIMENSIONS])
        sd = np.array([estimates[d].sd for d in DIMENSIONS])
        w = self.weight_matrix()
        dev = x - self.reference_vector()
        value = w @ dev
        var = (w * w) @ (sd * sd)
        out = {}
        for i, r in enumerate(self.regions):
            contrib = {DIMENSIONS[j]: float(w[i, j] * dev[j]) for j in np.flatnonzero(w[i])}
            out[r.id] = RegionActivity(r.id, float(value[i]), math.sqrt(var[i]), contrib)
        return out

    def activity_series(
        self, mean: NDArray[np.float64], sd: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Vectorised activity for a whole timeline: (dimension, day) in -> (region, day) out."""
        w = self.weight_matrix()
        value = w @ (mean - self.reference_vector()[:, None])
        return value, np.sqrt((w * w) @ (sd * sd))

    def state_activity(self, state: TwinState) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Activity of every region on every grid day of a twin state (for the timeline)."""
        if state.dimensions != DIMENSIONS:
            raise InputError("region map: twin state has unexpected dimensions")
        return self.activity_series(state.mean, state.sd)


@dataclass(frozen=True)
class RegionEvidence:
    """One observation's share in a region's activity: ``region_weight * z`` summed = activity
    minus the prior and reference terms."""

    obs_id: str
    source: str
    dimension: str
    region_weight: float
    contribution: float


def explain_region(
    region_map: RegionMap, state: TwinState, region_id: str, when: date | datetime
) -> tuple[RegionEvidence, ...]:
    """Observations behind a region's activity on a grid date, largest influence first.

    ``activity = sum_d w[r,d] (prior_weight_d mu_d + sum_i w_i z_i - ref_d)``, so observation i
    of dimension d enters with weight ``w[r,d] * w_i``.
    """
    region = region_map.region(region_id)
    out = []
    for rw in region.weights:
        ex = state.explain(rw.dimension, when)
        for c in ex.contributions:
            out.append(
                RegionEvidence(
                    c.obs_id,
                    c.source,
                    rw.dimension,
                    rw.weight * c.weight,
                    rw.weight * c.contribution,
                )
            )
    return tuple(sorted(out, key=lambda e: -abs(e.region_weight)))


def load_region_map(
    path: str | Path | None = None, *, healthy_reference: Mapping[str, float] | None = None
) -> RegionMap:
    """Load and validate the region map; a bad file is a InputError naming it."""
    label, doc = load_json(REGION_MAP_FILE, path, "novamind.twin.region_map")
    if healthy_reference is None:
        from .observations import load_observation_model

        dims = load_observation_model().dimensions
        healthy_reference = {d: dims[d].healthy_reference for d in DIMENSIONS}
    refs = need(doc, "references", dict, label)
    regions: list[Region] = []
    seen: set[str] = set()
    for i, r in enumerate(need(doc, "regions", list, label)):
        where = f"{label}: regions[{i}]"
        if not isinstance(r, dict):
            raise InputError(f"{where}: must be an object")
        rid = need(r, "id", str, where)
        where = f"{label}: region '{rid}'"
        if rid in seen:
            raise InputError(f"{where}: duplicate id")
        seen.add(rid)
        kind = need(r, "kind", str, where)
        if kind not in KINDS:
            raise InputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}")
        hemi = need(r, "hemisphere", str, where)
        if hemi not in HEMISPHERES:
            raise InputError(f"{where}: 'hemisphere' must be one of {', '.join(HEMISPHERES)}")
        mni = need(r, "mni", list, where)
        if len(mni) != 3 or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and abs(c) < 100 for c in mni
        ):
            raise InputError(f"{where}: 'mni' must be three coordinates in mm (|c| < 100)")
        parcels = need(r, "hcp_mmp_parcels", list, where)
        if not all(isinstance(p, str) and p for p in parcels):
            raise InputError(f"{where}: 'hcp_mmp_parcels' must be a list of names")
        if kind == "cortical" and not parcels:
            raise InputError(f"{where}: a cortical region needs 'hcp_mmp_parcels'")
        weights = []
        for dim, wd in need(r, "weights", dict, where).items():
            wwhere = f"{where}: weights.{dim}"
            if dim not in DIMENSIONS:
                raise InputError(f"{wwhere}: unknown dimension")
            w = number(wd, "w", wwhere)
            if not -1.0 <= w <= 1.0:
                raise InputError(f"{wwhere}: 'w' must lie in -1..1")
            wrefs = need(wd, "refs", list, wwhere)
            if not wrefs:
                raise InputError(f"{wwhere}: every weight needs a literature reference")
            for ref in wrefs:
                if ref not in refs:
                    raise InputError(f"{wwhere}: reference '{ref}' not in 'references'")
            weights.append(RegionWeight(dim, w, tuple(wrefs), str(wd.get("note", ""))))
        if not weights:
            raise InputError(f"{where}: needs at least one weight")
        regions.append(
            Region(
                id=rid,
                display_name=need(r, "display_name", str, where),
                kind=kind,
                hemisphere=hemi,
                mni=(float(mni[0]), float(mni[1]), float(mni[2])),
                hcp_mmp_parcels=tuple(parcels),
                weights=tuple(weights),
            )
        )
    all_parcels = [p for r in regions for p in r.hcp_mmp_parcels]
    if len(all_parcels) != len(set(all_parcels)):
        raise InputError(f"{label}: a parcel is assigned to more than one region")
    connections = []
    for i, c in enumerate(doc.get("connections", [])):
        a = need(c, "a", str, f"{label}: connections[{i}]")
        b = need(c, "b", str, f"{label}: connections[{i}]")
        if a not in seen or b not in seen:
            raise InputError(f"{label}: connections[{i}]: unknown region")
        connections.append((a, b))
    return RegionMap(
        version=doc["version"],
        regions=tuple(regions),
        connections=tuple(connections),
        references=dict(refs),
        healthy_reference=dict(healthy_reference),
    )
