"""Load PAT encoder weights from Keras 2 H5 files (h5py), checking every tensor.

Layout (Keras 2 ``model.save`` / ``save_weights``; a ``model_weights`` group is used when
present): each top-level layer group holds its variables under ``<sublayer>/<var>:0``::

    dense/dense/kernel:0                                            (P, 96)
    dense/dense/bias:0                                              (96,)
    encoder_layer_{i}_transformer/encoder_layer_{i}_attention/{query,key,value}/kernel:0
                                                                    (96, H, 96)
    .../{query,key,value}/bias:0                                    (H, 96)
    .../encoder_layer_{i}_attention/attention_output/kernel:0       (H, 96, 96)
    .../encoder_layer_{i}_attention/attention_output/bias:0         (96,)
    .../encoder_layer_{i}_norm{1,2}/{gamma,beta}:0                  (96,)
    .../encoder_layer_{i}_ff1/{kernel (96, 256), bias (256,)}:0
    .../encoder_layer_{i}_ff2/{kernel (256, 96), bias (96,)}:0

Tensors are matched by the path below the top-level group. Any missing tensor, wrong shape,
non-numeric dtype, non-finite value (also after the cast to float32) or extra encoder block is
a InputError naming the file and the tensor; a corrupt or truncated file is one naming the
file (h5py's own errors never escape). Other tensors
(e.g. a decoder or a fine-tuning head in the same file) are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from engines.errors import InputError
from engines.pat.encoder import SIZES, BlockWeights, PATConfig, PATWeights

_BLOCK = re.compile(r"^encoder_layer_(\d+)_")


def expected_tensors(cfg: PATConfig) -> dict[str, tuple[int, ...]]:
    """Name (below the top-level layer group, without ':0') -> shape, for one size."""
    d, h, k, f, p = cfg.embed_dim, cfg.num_heads, cfg.key_dim, cfg.ff_dim, cfg.patch_size
    out: dict[str, tuple[int, ...]] = {"dense/kernel": (p, d), "dense/bias": (d,)}
    for i in range(1, cfg.num_layers + 1):
        a = f"encoder_layer_{i}_attention"
        for part in ("query", "key", "value"):
            out[f"{a}/{part}/kernel"] = (d, h, k)
            out[f"{a}/{part}/bias"] = (h, k)
        out[f"{a}/attention_output/kernel"] = (h, k, d)
        out[f"{a}/attention_output/bias"] = (d,)
        for n in (1, 2):
            out[f"encoder_layer_{i}_norm{n}/gamma"] = (d,)
            out[f"encoder_layer_{i}_norm{n}/beta"] = (d,)
        out[f"encoder_layer_{i}_ff1/kernel"] = (d, f)
        out[f"encoder_layer_{i}_ff1/bias"] = (f,)
        out[f"encoder_layer_{i}_ff2/kernel"] = (f, d)
        out[f"encoder_layer_{i}_ff2/bias"] = (d,)
    return out


def _read_checked(
    path: Path, cfg: PATConfig, expected: dict[str, tuple[int, ...]]
) -> tuple[dict[str, np.ndarray], set[str]]:
    """The expected tensors as float32 (checked name, shape, dtype and finiteness before and
    after reading) and the names of every dataset; a tensor is read only once its declared
    shape matches, so a forged huge dataset is refused without allocating it."""
    fname = path.name
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        if not isinstance(root, h5py.Group):
            raise InputError(f"{fname}: 'model_weights' is not a group of layers")
        found: dict[str, h5py.Dataset] = {}

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                parts = name.split("/")
                key = "/".join(parts[1:]) if len(parts) > 1 else name
                found[key[:-2] if key.endswith(":0") else key] = obj

        root.visititems(visit)
        tensors: dict[str, np.ndarray] = {}
        for name, shape in expected.items():
            ds = found.get(name)
            if ds is None:
                raise InputError(f"{fname}: tensor '{name}' missing for {cfg.name}")
            if ds.shape != shape:
                raise InputError(
                    f"{fname}: tensor '{name}' has shape {ds.shape}, expected {shape} for "
                    f"{cfg.name}"
                )
            if ds.dtype.kind not in "fiu":
                raise InputError(f"{fname}: tensor '{name}' is not numeric ({ds.dtype.str})")
            with np.errstate(over="ignore", invalid="ignore"):
                arr = np.asarray(ds[()]).astype(np.float32)  # float64 beyond float32 -> inf
            if not np.all(np.isfinite(arr)):
                raise InputError(f"{fname}: tensor '{name}' holds NaN or infinite values")
            tensors[name] = arr
        return tensors, set(found)


def load_weights(path: str | Path, size: str) -> PATWeights:
    """Read and validate an encoder weight file for size 'S', 'M' or 'L'."""
    p = Path(path)
    if size not in SIZES:
        raise InputError(f"unknown PAT size {size!r} (expected S, M or L)")
    cfg = SIZES[size]
    expected = expected_tensors(cfg)
    try:
        tensors, names = _read_checked(p, cfg, expected)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
        # h5py reports corruption as any of these; the path is left out (it may hold a name)
        raise InputError(
            f"{p.name}: not a readable HDF5 weight file (corrupt or truncated: "
            f"{type(exc).__name__})"
        ) from None
    for name in names:
        m = _BLOCK.match(name)
        if m and int(m.group(1)) > cfg.num_layers and not name.startswith("decoder"):
            raise InputError(
                f"{p.name}: tensor '{name}' belongs to block {m.group(1)}, but {cfg.name} has "
                f"{cfg.num_layers} (wrong size for this file?)"
            )

    def t(name: str) -> np.ndarray:
        return tensors[name]

    blocks = []
    for i in range(1, cfg.num_layers + 1):
        a = f"encoder_layer_{i}_attention"
        pre = f"encoder_layer_{i}_"
        blocks.append(
            BlockWeights(
                wq=t(f"{a}/query/kernel"),
                bq=t(f"{a}/query/bias"),
                wk=t(f"{a}/key/kernel"),
                bk=t(f"{a}/key/bias"),
                wv=t(f"{a}/value/kernel"),
                bv=t(f"{a}/value/bias"),
                wo=t(f"{a}/attention_output/kernel"),
                bo=t(f"{a}/attention_output/bias"),
                ln1_g=t(pre + "norm1/gamma"),
                ln1_b=t(pre + "norm1/beta"),
                ff1_w=t(pre + "ff1/kernel"),
                ff1_b=t(pre + "ff1/bias"),
                ff2_w=t(pre + "ff2/kernel"),
                ff2_b=t(pre + "ff2/bias"),
                ln2_g=t(pre + "norm2/gamma"),
                ln2_b=t(pre + "norm2/beta"),
            )
        )
    return PATWeights(cfg, t("dense/kernel"), t("dense/bias"), tuple(blocks))


def write_weights(path: str | Path, weights: PATWeights) -> None:
    """Write weights in the Keras 2 H5 layout above (tests, and converting own checkpoints)."""
    cfg = weights.config
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")

        def put(group: str, name: str, arr: np.ndarray) -> None:
            root.create_dataset(f"{group}/{name}:0", data=arr)

        put("dense", "dense/kernel", weights.patch_w)
        put("dense", "dense/bias", weights.patch_b)
        for i, b in enumerate(weights.blocks, start=1):
            g = f"encoder_layer_{i}_transformer"
            a = f"encoder_layer_{i}_attention"
            pre = f"encoder_layer_{i}_"
            for part, (w, bias) in {
                "query": (b.wq, b.bq),
                "key": (b.wk, b.bk),
                "value": (b.wv, b.bv),
                "attention_output": (b.wo, b.bo),
            }.items():
                put(g, f"{a}/{part}/kernel", w)
                put(g, f"{a}/{part}/bias", bias)
            put(g, pre + "norm1/gamma", b.ln1_g)
            put(g, pre + "norm1/beta", b.ln1_b)
            put(g, pre + "ff1/kernel", b.ff1_w)
            put(g, pre + "ff1/bias", b.ff1_b)
            put(g, pre + "ff2/kernel", b.ff2_w)
            put(g, pre + "ff2/bias", b.ff2_b)
            put(g, pre + "norm2/gamma", b.ln2_g)
            put(g, pre + "norm2/beta", b.ln2_b)
        f.attrs["pat_size"] = cfg.name


@dataclass(frozen=True)
class EncoderStatus:
    """Whether PAT weights of a size are installed (the UI shows ``message`` when not)."""

    size: str
    available: bool
    path: Path | None
    message: str


def find_weights(model_dir: str | Path, size: str) -> EncoderStatus:
    """Look for ``PAT-<size>*.h5`` in the model directory IT installs weights into."""
    d = Path(model_dir)
    hits = sorted(d.glob(f"PAT-{size}*.h5")) if d.is_dir() else []
    if not hits:
        return EncoderStatus(
            size,
            False,
            None,
            f"PAT-{size} weights not installed: the embedding is unavailable; "
            "classical sleep and circadian features still work.",
        )
    return EncoderStatus(size, True, hits[0], f"PAT-{size} weights found ({hits[0].name})")


def available(model_dir: str | Path, size: str = "M") -> bool:
    """True when a weight file for ``size`` is installed."""
    return find_weights(model_dir, size).available


def embed_recording_week(
    weights: PATWeights,
    counts: np.ndarray,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> np.ndarray:
    """Embedding of one week of minute counts (the last 10,080 minutes are used)."""
    from engines.pat.encoder import encode, standardise

    n = weights.config.input_size
    c = np.asarray(counts, dtype=np.float64)
    if c.size < n:
        raise InputError(f"PAT needs {n} minutes (one week); recording has {c.size}")
    return encode(weights, standardise(c[-n:], mean, std))
