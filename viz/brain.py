"""The shipped cortical surface: HCP S1200 fs_LR 32k midthickness with HCP-MMP1.0 parcels.

Why: the twin is drawn on a real cortex whose coordinates are in MNI152 space, so subcortical
glyphs placed at MNI coordinates land inside it. Loading is a plain ``np.load`` of an
uncompressed file (a few ms) and is cached per process, so opening another patient costs
nothing here. See resources/brain/SOURCE.md for provenance and licences.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.errors import ValidationError

BRAIN_FILE = "fslr32k_mmp1.npz"
_REQUIRED = ("vertices", "faces", "normals", "parcel", "parcel_names", "sulc", "n_left", "source")


@dataclass(frozen=True, eq=False)
class BrainMesh:
    """Both hemispheres as one triangle mesh plus per-vertex parcel labels.

    ``parcel[i]`` indexes ``parcel_names`` (0 = medial wall, no parcel); names carry the
    hemisphere prefix as in HCP-MMP1.0 (``"L_46"``, ``"R_46"``). Vertices ``< n_left`` are the
    left hemisphere.
    """

    vertices: np.ndarray  # (n, 3) float32, MNI152 mm
    faces: np.ndarray  # (m, 3) int64 vertex indices
    normals: np.ndarray  # (n, 3) float32 unit normals
    parcel: np.ndarray  # (n,) int16
    parcel_names: tuple[str, ...]
    sulc: np.ndarray  # (n,) float32 sulcal depth (positive = sulcus)
    n_left: int
    source: str

    @property
    def n_vertices(self) -> int:
        """Number of vertices over both hemispheres."""
        return int(self.vertices.shape[0])

    def hemisphere_slices(self) -> dict[str, slice]:
        """Vertex ranges of the left and right hemispheres."""
        return {"L": slice(0, self.n_left), "R": slice(self.n_left, self.n_vertices)}


def _validate(data: dict[str, np.ndarray], where: str) -> None:
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValidationError(f"{where}: missing arrays {', '.join(missing)}")
    v, f = data["vertices"], data["faces"]
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValidationError(f"{where}: 'vertices' must be a finite (n, 3) array")
    if f.ndim != 2 or f.shape[1] != 3 or (f.size and int(f.max()) >= len(v)):
        raise ValidationError(f"{where}: 'faces' must be (m, 3) indices below {len(v)}")
    for key in ("normals", "parcel", "sulc"):
        if len(data[key]) != len(v):
            raise ValidationError(f"{where}: '{key}' has {len(data[key])} rows, expected {len(v)}")
    if int(data["parcel"].max()) >= len(data["parcel_names"]) or int(data["parcel"].min()) < 0:
        raise ValidationError(f"{where}: 'parcel' labels outside 'parcel_names'")


def load_brain_file(path: Path) -> BrainMesh:
    """Load and validate a brain npz (the shipped one or a test fixture)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{path}: not a readable brain mesh file ({exc})") from exc
    _validate(data, str(path))
    return BrainMesh(
        vertices=np.ascontiguousarray(data["vertices"], dtype=np.float32),
        faces=data["faces"].astype(np.int64),
        normals=data["normals"].astype(np.float32)
        / (127.0 if data["normals"].dtype == np.int8 else 1.0),
        parcel=data["parcel"].astype(np.int16),
        parcel_names=tuple(str(n) for n in data["parcel_names"]),
        sulc=data["sulc"].astype(np.float32),
        n_left=int(data["n_left"]),
        source=str(data["source"]),
    )


@functools.cache
def load_brain() -> BrainMesh:
    """The shipped cortex (cached: loaded once per process)."""
    ref = importlib.resources.files("resources") / "brain" / BRAIN_FILE
    with importlib.resources.as_file(ref) as path:
        return load_brain_file(Path(path))
