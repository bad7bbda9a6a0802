"""PAT forward pass vs a straightforward loop implementation; H5 loader checks."""

import dataclasses
import math

import h5py
import numpy as np
import pytest

from engines.errors import InputError
from engines.pat.encoder import SIZES, encode, random_weights, standardise
from engines.pat.weights import (
    available,
    embed_recording_week,
    expected_tensors,
    find_weights,
    load_weights,
    write_weights,
)


def _reference(w, x):
    """Loop-based PAT encoder written from the paper's description (no einsum, no batching)."""
    cfg = w.config
    P, D = cfg.patch_size, cfg.embed_dim
    n = cfg.input_size // P
    seq = []
    for i in range(n):
        patch = x[i * P : (i + 1) * P]
        e = [sum(patch[p] * w.patch_w[p, d] for p in range(P)) + w.patch_b[d] for d in range(D)]
        pe = []
        for j in range(0, D, 2):
            pe.append(math.sin(i * math.exp(j * -math.log(10000.0) / D)))
        for j in range(0, D, 2):
            pe.append(math.cos(i * math.exp(j * -math.log(10000.0) / D)))
        seq.append(np.array(e) + np.array(pe))
    X = np.array(seq)

    def ln(v, g, b):
        mu = sum(v) / len(v)
        var = sum((a - mu) ** 2 for a in v) / len(v)
        return np.array([(a - mu) / math.sqrt(var + 1e-6) for a in v]) * g + b

    for b in w.blocks:
        out = np.zeros_like(X)
        for h in range(cfg.num_heads):
            Q = X @ b.wq[:, h, :] + b.bq[h]
            K = X @ b.wk[:, h, :] + b.bk[h]
            V = X @ b.wv[:, h, :] + b.bv[h]
            for q in range(n):
                scores = [float(Q[q] @ K[k]) / math.sqrt(cfg.key_dim) for k in range(n)]
                mx = max(scores)
                ex = [math.exp(s - mx) for s in scores]
                tot = sum(ex)
                ctx = sum((ex[k] / tot) * V[k] for k in range(n))
                out[q] += ctx @ b.wo[h]
        out += b.bo
        X1 = np.array([ln(X[i] + out[i], b.ln1_g, b.ln1_b) for i in range(n)])
        ff = np.maximum(X1 @ b.ff1_w + b.ff1_b, 0) @ b.ff2_w + b.ff2_b
        X = np.array([ln(X1[i] + ff[i], b.ln2_g, b.ln2_b) for i in range(n)])
    return X.mean(axis=0)


@pytest.mark.parametrize("size", ["S", "M", "L"])
def test_forward_matches_loop_reference(tmp_path, size):
    cfg = dataclasses.replace(SIZES[size], input_size=SIZES[size].patch_size * 12)
    w = random_weights(cfg, seed=3)
    path = tmp_path / f"PAT-{size}.h5"
    write_weights(path, w)
    loaded = dataclasses.replace(load_weights(path, size), config=cfg)
    x = standardise(np.random.default_rng(1).poisson(40, cfg.input_size).astype(float))
    got = encode(loaded, x)
    ref = _reference(w, x.astype(np.float64))
    assert got.shape == (96,)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4)


def test_full_week_shapes_and_batch():
    w = random_weights(SIZES["S"], seed=0)
    x = np.random.default_rng(0).poisson(50, (2, 10080)).astype(float)
    emb = encode(w, standardise(x))
    assert emb.shape == (2, 96) and np.all(np.isfinite(emb))
    np.testing.assert_allclose(emb[1], encode(w, standardise(x[1])), rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="one week"):
        embed_recording_week(w, x[0, :5000])


def test_shape_mismatch_names_the_tensor(tmp_path):
    path = tmp_path / "PAT-M.h5"
    write_weights(path, random_weights(SIZES["M"], seed=0))
    with h5py.File(path, "a") as f:
        name = "model_weights/encoder_layer_2_transformer/encoder_layer_2_ff1/kernel:0"
        del f[name]
        f.create_dataset(name, data=np.zeros((96, 128), np.float32))
    with pytest.raises(InputError) as ei:
        load_weights(path, "M")
    msg = str(ei.value)
    assert "PAT-M.h5" in msg and "encoder_layer_2_ff1/kernel" in msg and "(96, 128)" in msg


def test_wrong_size_and_missing_tensor(tmp_path):
    path = tmp_path / "PAT-S.h5"
    write_weights(path, random_weights(SIZES["S"], seed=0))
    with pytest.raises(InputError, match="query/kernel' has shape .96, 6, 96., expected"):
        load_weights(path, "M")  # 6 heads in the file, 12 expected
    with h5py.File(path, "a") as f:
        del f["model_weights/encoder_layer_1_transformer/encoder_layer_1_norm2/beta:0"]
    with pytest.raises(InputError, match="'encoder_layer_1_norm2/beta' missing"):
        load_weights(path, "S")
    pm = tmp_path / "PAT-M.h5"
    write_weights(pm, random_weights(SIZES["M"], seed=0))
    with pytest.raises(InputError, match="query/kernel' has shape"):
        load_weights(pm, "S")  # 12 heads in the file, 6 expected
    cfg_ok = random_weights(SIZES["S"], seed=0)
    extra = tmp_path / "PAT-S-extra.h5"
    write_weights(extra, cfg_ok)
    with h5py.File(extra, "a") as f:
        f.create_dataset(
            "model_weights/encoder_layer_2_transformer/encoder_layer_2_ff1/bias:0",
            data=np.zeros(256, np.float32),
        )
    with pytest.raises(InputError, match="belongs to block 2"):
        load_weights(extra, "S")
    bad = tmp_path / "PAT-L.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(InputError, match="not a readable HDF5"):
        load_weights(bad, "L")


def test_expected_tensor_count_matches_parameter_count():
    # PAT paper sizes: ~285K (S), ~1.00M (M), ~1.99M (L) parameters incl. positional table
    counts = {s: sum(int(np.prod(v)) for v in expected_tensors(SIZES[s]).values()) for s in "SML"}
    assert 270_000 < counts["S"] < 290_000
    assert 0.95e6 < counts["M"] < 1.01e6
    assert 1.95e6 < counts["L"] < 2.0e6


def test_availability_status(tmp_path):
    st = find_weights(tmp_path, "M")
    assert not st.available and "unavailable" in st.message
    assert not available(tmp_path / "missing-dir", "M")
    write_weights(tmp_path / "PAT-M_29k_weights.h5", random_weights(SIZES["M"]))
    assert available(tmp_path, "M") and find_weights(tmp_path, "M").path.name.startswith("PAT-M")
