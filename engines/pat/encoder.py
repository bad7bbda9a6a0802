"""The Pretrained Actigraphy Transformer (PAT) encoder, forward pass in NumPy.

Ruan FY, Zhang A, Oh JY, Jin S, Jacobson NC. "AI Foundation Models for Wearable Movement Data
in Mental Health Research" (arXiv:2411.15240, 2024); code: njacobsonlab/Pretrained-Actigraphy-
Transformer. Architecture (as in the released Keras encoders):

input one week = 10,080 minutes, standardised -> reshape into patches (18 min for S/M, 9 for L)
-> Dense patch embedding to width 96 -> + fixed sin/cos positional encoding (sin half then cos
half, concatenated) -> N post-LayerNorm transformer blocks [x = LN1(x + MHA(x, x));
x = LN2(x + FF2(relu(FF1(x))))], Keras MultiHeadAttention with key_dim = 96 per head, FF 256,
LayerNorm epsilon 1e-6 -> mean over patches = 96-d embedding. Dropout is inactive at inference.

Sizes from the paper's pre-training configs: S = 1 block x 6 heads (patch 18), M = 2 blocks x
12 heads (patch 18), L = 4 blocks x 12 heads (patch 9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEEK_MINUTES = 10_080


@dataclass(frozen=True)
class PATConfig:
    """Hyper-parameters of one PAT encoder size."""

    name: str
    patch_size: int
    num_layers: int
    num_heads: int
    embed_dim: int = 96
    ff_dim: int = 256
    key_dim: int = 96
    input_size: int = WEEK_MINUTES
    eps: float = 1e-6

    @property
    def num_patches(self) -> int:
        """Number of patches (sequence length inside the transformer)."""
        return self.input_size // self.patch_size


SIZES: dict[str, PATConfig] = {
    "S": PATConfig("PAT-S", patch_size=18, num_layers=1, num_heads=6),
    "M": PATConfig("PAT-M", patch_size=18, num_layers=2, num_heads=12),
    "L": PATConfig("PAT-L", patch_size=9, num_layers=4, num_heads=12),
}


@dataclass(frozen=True)
class BlockWeights:
    """One transformer block (shapes as stored by Keras)."""

    wq: np.ndarray  # (D, H, K)
    bq: np.ndarray  # (H, K)
    wk: np.ndarray
    bk: np.ndarray
    wv: np.ndarray
    bv: np.ndarray
    wo: np.ndarray  # (H, K, D)
    bo: np.ndarray  # (D,)
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ff1_w: np.ndarray  # (D, F)
    ff1_b: np.ndarray
    ff2_w: np.ndarray  # (F, D)
    ff2_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


@dataclass(frozen=True)
class PATWeights:
    """All encoder weights of one size."""

    config: PATConfig
    patch_w: np.ndarray  # (P, D)
    patch_b: np.ndarray  # (D,)
    blocks: tuple[BlockWeights, ...]


def positional_encoding(num_patches: int, embed_dim: int) -> np.ndarray:
    """PAT's sin/cos table: [sin(pos * f_i) for i] ++ [cos(pos * f_i) for i]."""
    pos = np.arange(num_patches, dtype=np.float32)[:, None]
    div = np.exp(np.arange(0, embed_dim, 2, dtype=np.float32) * (-np.log(10000.0) / embed_dim))
    return np.concatenate((np.sin(pos * div), np.cos(pos * div)), axis=-1).astype(np.float32)


def standardise(
    minutes: np.ndarray,
    mean: np.ndarray | float | None = None,
    std: np.ndarray | float | None = None,
) -> np.ndarray:
    """Z-score the input (per-recording when mean/std are None); gaps become 0 (the mean)."""
    x = np.asarray(minutes, dtype=np.float64)
    if mean is None or std is None:
        mean = np.nanmean(x, axis=-1, keepdims=True)
        std = np.nanstd(x, axis=-1, keepdims=True)
    std_arr = np.where(np.asarray(std) > 0, std, 1.0)
    z = (x - mean) / std_arr
    return np.nan_to_num(z, nan=0.0).astype(np.float32)


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _softmax(s: np.ndarray) -> np.ndarray:
    s -= s.max(axis=-1, keepdims=True)  # in place: the score tensor is the largest array
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return s


def _block(x: np.ndarray, w: BlockWeights, cfg: PATConfig) -> np.ndarray:
    b, n, d = x.shape
    h, k = cfg.num_heads, cfg.key_dim

    def heads(wm: np.ndarray, bias: np.ndarray) -> np.ndarray:
        # (B, N, D) @ (D, H*K) as one BLAS call, then split heads -> (B, H, N, K)
        y = x @ wm.reshape(d, h * k) + bias.reshape(h * k)
        return y.reshape(b, n, h, k).transpose(0, 2, 1, 3)

    q = heads(w.wq, w.bq) * np.float32(1.0 / np.sqrt(k))
    kk = heads(w.wk, w.bk)
    v = heads(w.wv, w.bv)
    att = _softmax(q @ kk.transpose(0, 1, 3, 2))  # (B, H, N, N)
    ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, h * k)
    mha = ctx @ w.wo.reshape(h * k, d) + w.bo
    x = _layer_norm(x + mha, w.ln1_g, w.ln1_b, cfg.eps)
    ff = np.maximum(x @ w.ff1_w + w.ff1_b, 0.0) @ w.ff2_w + w.ff2_b
    return _layer_norm(x + ff, w.ln2_g, w.ln2_b, cfg.eps)


def encode(weights: PATWeights, standardised: np.ndarray) -> np.ndarray:
    """Embeddings (B, 96) of standardised inputs of shape (input_size,) or (B, input_size)."""
    cfg = weights.config
    x = np.asarray(standardised, dtype=np.float32)
    single = x.ndim == 1
    x = np.atleast_2d(x)
    if x.shape[-1] != cfg.input_size:
        raise ValueError(f"{cfg.name} expects {cfg.input_size} minutes, got {x.shape[-1]}")
    patches = x[:, : cfg.num_patches * cfg.patch_size].reshape(
        x.shape[0], cfg.num_patches, cfg.patch_size
    )
    h = patches @ weights.patch_w + weights.patch_b
    h = h + positional_encoding(cfg.num_patches, cfg.embed_dim)[None]
    for blk in weights.blocks:
        h = _block(h, blk, cfg)
    emb = h.mean(axis=1)
    return emb[0] if single else emb


def random_weights(cfg: PATConfig, seed: int = 0, scale: float = 0.1) -> PATWeights:
    """Random weights of the right shapes (benchmarks and tests; not a trained model)."""
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    d, h, k, f = cfg.embed_dim, cfg.num_heads, cfg.key_dim, cfg.ff_dim
    blocks = tuple(
        BlockWeights(
            wq=r(d, h, k),
            bq=r(h, k),
            wk=r(d, h, k),
            bk=r(h, k),
            wv=r(d, h, k),
            bv=r(h, k),
            wo=r(h, k, d),
            bo=r(d),
            ln1_g=1 + r(d),
            ln1_b=r(d),
            ff1_w=r(d, f),
            ff1_b=r(f),
            ff2_w=r(f, d),
            ff2_b=r(d),
            ln2_g=1 + r(d),
            ln2_b=r(d),
        )
        for _ in range(cfg.num_layers)
    )
    return PATWeights(cfg, r(cfg.patch_size, d), r(d), blocks)
