"""The GPU check's arithmetic: Q4_K_M sizes of the real shapes and the bandwidth bound."""

from __future__ import annotations

import pytest

from tests.bench.gpu_common import bandwidth_from_clock, bandwidth_from_table
from tests.bench.gpu_llm import (
    SHAPES,
    bound_tokens_per_s,
    decode_bytes_per_token,
    tensor_bytes,
    tensor_plan,
)


def test_q4_k_m_plan_matches_the_published_file_sizes() -> None:
    # llama.cpp's llama-2-7b.Q4_K_M.gguf holds 4.08 GB of tensors; LLaMA-33B's 19.6 GB
    sizes = {k: sum(tensor_bytes(t, r, c) for _, t, (r, c) in tensor_plan(s)) for k, s in
             SHAPES.items()}  # fmt: skip
    assert sizes["7b"] == 4_080_263_168
    assert 19.5e9 < sizes["33b"] < 19.7e9


def test_decode_reads_every_weight_but_one_embedding_row_plus_the_kv_cache() -> None:
    s = SHAPES["7b"]
    weights = sum(tensor_bytes(t, r, c) for _, t, (r, c) in tensor_plan(s))
    embd = tensor_bytes("Q4_K", s.n_vocab, s.n_embd)
    at_zero = decode_bytes_per_token(s, 0)
    assert at_zero == weights - embd + embd // s.n_vocab
    # one more position: keys + values of 32 layers x 4096 f16 values
    assert decode_bytes_per_token(s, 1) - at_zero == 32 * 2 * 4096 * 2


def test_bound_is_bandwidth_over_bytes_per_token() -> None:
    assert bound_tokens_per_s(3350.0, 4.1e9) == pytest.approx(817.07, abs=0.01)
    with pytest.raises(ValueError, match="positive"):
        bound_tokens_per_s(3350.0, 0)


def test_bandwidth_from_the_runtime_and_from_the_table() -> None:
    # H100 SXM5: HBM3 at 2,619 MHz on a 5,120-bit bus
    assert bandwidth_from_clock(2_619_000, 5120) == pytest.approx(3352.3, abs=0.1)
    assert bandwidth_from_table("NVIDIA H100 80GB HBM3") == 3350.0
    assert bandwidth_from_table("NVIDIA H100 PCIe") == 2000.0
    assert bandwidth_from_table("NVIDIA H200") == 4800.0
    assert bandwidth_from_table("Some Other GPU") is None
    with pytest.raises(ValueError):
        bandwidth_from_clock(0, 5120)


def test_k_quant_rows_must_fill_whole_blocks() -> None:
    with pytest.raises(ValueError, match="multiple of 256"):
        tensor_bytes("Q4_K", 10, 100)
