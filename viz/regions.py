"""Region definitions: which HCP-MMP1.0 parcels or MNI points make up each twin region.

Why: the twin model speaks of regions (dlPFC, sgACC, amygdala, ...), the mesh of 360 named
parcels. The authoritative grouping is a versioned data file (resources/twin/region_map.json,
owned by the twin engine); this module turns such a definition into per-vertex region indices
and glyph positions once, so a timeline frame is a single ``np.take``.

Accepted shape (either the whole file or just its ``regions`` member)::

    {"regions": {
        "dlPFC":    {"kind": "cortical", "parcels": ["46", "9-46d", "L_8C"], "label": "dlPFC"},
        "amygdala": {"kind": "subcortical", "mni": [[-22, -4, -18], [22, -4, -18]]}
    }}

``regions`` may also be a list of objects with an ``id``; ``hcp_mmp_parcels`` and
``display_name`` are accepted for ``parcels`` and ``label`` (the twin engine's file), and a
single ``mni`` point with ``"hemisphere": "bilateral"`` is the left one, mirrored to the right.
A bare parcel name ("46") means both
hemispheres, a prefixed one ("L_46") one hemisphere. ``mni`` is one [x, y, z] point or a list
of them (mm, MNI152). A ``connections`` list of ``[a, b]`` or ``{"from", "to", "weight"}``
entries next to ``regions`` becomes tubes in the scene.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.core.errors import ValidationError
from viz.brain import BrainMesh

CORTICAL_KINDS = frozenset({"cortical", "cortex", "surface"})
NUCLEUS_KINDS = frozenset({"subcortical", "nucleus", "nuclei", "brainstem", "glyph"})
MNI_LIMIT_MM = 110.0


@dataclass(frozen=True)
class Anchor:
    """A point a connection tube attaches to: hemisphere 'L', 'R' or 'M' (midline)."""

    hemi: str
    xyz: tuple[float, float, float]


@dataclass(frozen=True)
class Connection:
    """An undirected link between two regions drawn as a tube (weight scales its radius)."""

    a: str
    b: str
    weight: float = 1.0


@dataclass(frozen=True, eq=False)
class RegionAtlas:
    """A region definition resolved against one mesh.

    ``vertex_region[i]`` is the index into ``ids`` of the region owning vertex i, or -1.
    """

    ids: tuple[str, ...]
    labels: Mapping[str, str]
    kinds: Mapping[str, str]  # "cortical" or "nucleus"
    vertex_region: np.ndarray
    parcels: Mapping[str, tuple[str, ...]]
    nucleus_points: Mapping[str, np.ndarray]
    anchors: Mapping[str, tuple[Anchor, ...]]
    connections: tuple[Connection, ...] = field(default_factory=tuple)

    @property
    def cortical_ids(self) -> tuple[str, ...]:
        """Regions drawn as parcels on the cortex."""
        return tuple(r for r in self.ids if self.kinds[r] == "cortical")

    @property
    def nucleus_ids(self) -> tuple[str, ...]:
        """Regions drawn as glyphs at MNI coordinates."""
        return tuple(r for r in self.ids if self.kinds[r] == "nucleus")

    def region_vertices(self, region: str) -> np.ndarray:
        """Indices of the cortex vertices that belong to a cortical region."""
        return np.flatnonzero(self.vertex_region == self.ids.index(region))


def _fail(source: str, msg: str) -> ValidationError:
    return ValidationError(f"{source}: {msg}")


def _point(value: object, source: str, where: str) -> tuple[float, float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 3:
        raise _fail(source, f"{where}: MNI coordinate must be [x, y, z], got {value!r}")
    try:
        x, y, z = (float(c) for c in value)
    except (TypeError, ValueError) as exc:
        raise _fail(source, f"{where}: MNI coordinate is not numeric: {value!r}") from exc
    xyz = (x, y, z)
    if not all(math.isfinite(c) and abs(c) <= MNI_LIMIT_MM for c in xyz):
        raise _fail(source, f"{where}: MNI coordinate {value!r} is outside ±{MNI_LIMIT_MM:g} mm")
    return xyz


def _points(value: object, source: str, where: str) -> np.ndarray:
    if (
        isinstance(value, Sequence)
        and value
        and all(isinstance(v, Sequence) and not isinstance(v, str) for v in value)
    ):
        return np.array([_point(v, source, where) for v in value], dtype=np.float64)
    return np.array([_point(value, source, where)], dtype=np.float64)


def _region_items(defn: object, source: str) -> list[tuple[str, Mapping]]:
    regions = defn.get("regions", defn) if isinstance(defn, Mapping) else defn
    items: list[tuple[str, Mapping]] = []
    if isinstance(regions, Mapping):
        items = [(str(k), v) for k, v in regions.items()]
    elif isinstance(regions, Sequence) and not isinstance(regions, str):
        for i, spec in enumerate(regions):
            if not isinstance(spec, Mapping) or not spec.get("id"):
                raise _fail(source, f"regions[{i}]: each region needs an 'id'")
            items.append((str(spec["id"]), spec))
    else:
        raise _fail(source, "expected a mapping of region id to definition, or a list")
    if not items:
        raise _fail(source, "no regions defined")
    for rid, spec in items:
        if not isinstance(spec, Mapping):
            raise _fail(source, f"region '{rid}': definition must be an object")
    return items


def _resolve_parcels(
    rid: str, names: object, lookup: Mapping[str, int], source: str
) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Sequence) or not names:
        raise _fail(source, f"region '{rid}': 'parcels' must be a non-empty list of names")
    out: list[str] = []
    for name in names:
        name = str(name)
        full = [name] if name[:2] in ("L_", "R_") else [f"L_{name}", f"R_{name}"]
        for f in full:
            if f not in lookup:
                raise _fail(source, f"region '{rid}': unknown HCP-MMP1.0 parcel '{name}'")
            out.append(f)
    return tuple(dict.fromkeys(out))


def _kind(rid: str, spec: Mapping, source: str) -> str:
    has_parcels = "parcels" in spec or "hcp_mmp_parcels" in spec
    kind = str(spec.get("kind", "cortical" if has_parcels else "nucleus")).lower()
    if kind in CORTICAL_KINDS:
        return "cortical"
    if kind in NUCLEUS_KINDS:
        return "nucleus"
    raise _fail(source, f"region '{rid}': unknown kind '{kind}' (cortical or subcortical)")


def _connections(defn: object, ids: Sequence[str], source: str) -> tuple[Connection, ...]:
    raw = defn.get("connections", []) if isinstance(defn, Mapping) else []
    out: list[Connection] = []
    for i, c in enumerate(raw or []):
        if isinstance(c, Mapping):
            a, b, w = c.get("from", c.get("a")), c.get("to", c.get("b")), c.get("weight", 1.0)
        elif isinstance(c, Sequence) and len(c) in (2, 3):
            a, b, w = c[0], c[1], (c[2] if len(c) == 3 else 1.0)
        else:
            raise _fail(source, f"connections[{i}]: expected [a, b] or {{from, to, weight}}")
        for end in (a, b):
            if end not in ids:
                raise _fail(source, f"connections[{i}]: unknown region '{end}'")
        try:
            weight = float(w)
        except (TypeError, ValueError) as exc:
            raise _fail(source, f"connections[{i}]: weight is not a number") from exc
        if not math.isfinite(weight) or weight <= 0:
            raise _fail(source, f"connections[{i}]: weight must be a positive number")
        out.append(Connection(str(a), str(b), weight))
    return tuple(out)


def _cortical_anchors(brain: BrainMesh, verts: np.ndarray) -> tuple[Anchor, ...]:
    anchors = []
    for hemi, sl in brain.hemisphere_slices().items():
        v = verts[(verts >= sl.start) & (verts < sl.stop)]
        if len(v):
            pts = brain.vertices[v].astype(np.float64)
            centroid = pts.mean(axis=0)
            nearest = pts[np.argmin(((pts - centroid) ** 2).sum(axis=1))]
            x, y, z = (float(c) for c in nearest)
            anchors.append(Anchor(hemi, (x, y, z)))
    return tuple(anchors)


def _nucleus_anchors(points: np.ndarray) -> tuple[Anchor, ...]:
    out = []
    for p in points:
        hemi = "M" if abs(p[0]) < 3.0 else ("L" if p[0] < 0 else "R")
        out.append(Anchor(hemi, (float(p[0]), float(p[1]), float(p[2]))))
    return tuple(out)


def build_atlas(
    defn: object, brain: BrainMesh, *, source: str = "region definition"
) -> RegionAtlas:
    """Resolve a region definition against the mesh; bad definitions raise ValidationError.

    ``source`` names the file in error messages. A parcel may belong to one region only.
    """
    lookup = {name: i for i, name in enumerate(brain.parcel_names) if name}
    items = _region_items(defn, source)
    ids = tuple(rid for rid, _ in items)
    if len(set(ids)) != len(ids):
        raise _fail(source, "duplicate region ids")
    parcel_owner = np.full(len(brain.parcel_names), -1, dtype=np.int32)
    labels, kinds, parcels, points, anchors = {}, {}, {}, {}, {}
    for idx, (rid, spec) in enumerate(items):
        labels[rid] = str(spec.get("label", spec.get("display_name", spec.get("name", rid))))
        kinds[rid] = _kind(rid, spec, source)
        if kinds[rid] == "cortical":
            names = spec.get("parcels", spec.get("hcp_mmp_parcels"))
            parcels[rid] = _resolve_parcels(rid, names, lookup, source)
            for name in parcels[rid]:
                owner = parcel_owner[lookup[name]]
                if owner >= 0:
                    raise _fail(source, f"parcel '{name}' is in both '{ids[owner]}' and '{rid}'")
                parcel_owner[lookup[name]] = idx
        else:
            if "mni" not in spec:
                raise _fail(source, f"region '{rid}': a subcortical region needs 'mni'")
            pts = _points(spec["mni"], source, f"region '{rid}'")
            if str(spec.get("hemisphere", "")).lower() == "bilateral" and len(pts) == 1:
                pts = np.vstack([pts, pts * [-1.0, 1.0, 1.0]])  # given one side, mirror x
            points[rid] = pts
            anchors[rid] = _nucleus_anchors(points[rid])
    vertex_region = parcel_owner[brain.parcel.astype(np.int64)]
    vertex_region[brain.parcel == 0] = -1
    for rid in parcels:
        anchors[rid] = _cortical_anchors(brain, np.flatnonzero(vertex_region == ids.index(rid)))
    return RegionAtlas(
        ids=ids,
        labels=labels,
        kinds=kinds,
        vertex_region=vertex_region.astype(np.int32),
        parcels=parcels,
        nucleus_points=points,
        anchors=anchors,
        connections=_connections(defn, ids, source),
    )
