"""The GGUF corpus as generator code (a model file is binary and grows with the vocabulary).

Each case builds a hostile file from the valid tiny llama of engines.llm.synthetic_gguf, either
through the writer's own options or by patching one header field in the bytes, and names the
words the loader's refusal must contain. tests/fuzz/test_fuzz_gguf.py runs every case.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from engines.llm.synthetic_gguf import TinyShape, write_tiny_llama

SHAPE = TinyShape(n_embd=32, n_ff=64, n_layer=1, n_head=2, n_head_kv=1, n_ctx=2048)
FIRST_TENSOR = b"token_embd.weight"


def valid(path: Path, **kw: object) -> Path:
    """The valid tiny model (options: the writer's shape / bos_token_id / poison_first_tensor)."""
    shape = kw.pop("shape", SHAPE)
    return write_tiny_llama(path, shape, **kw)  # type: ignore[arg-type]


def _kv_u32(data: bytes, key: str, value: int) -> bytes:
    """Set a uint32 metadata value (the writer stores ids and lengths as uint32)."""
    k = key.encode()
    i = data.index(struct.pack("<Q", len(k)) + k) + 8 + len(k)
    assert struct.unpack_from("<I", data, i)[0] == 4, "not a uint32 field"
    return data[: i + 4] + struct.pack("<I", value) + data[i + 8 :]


def _tensor_field(data: bytes, field: str, value: int) -> bytes:
    """Patch the first tensor's rank, first dimension, type or offset."""
    pos = data.index(struct.pack("<Q", len(FIRST_TENSOR)) + FIRST_TENSOR) + 8 + len(FIRST_TENSOR)
    n_dims = struct.unpack_from("<I", data, pos)[0]
    at = {
        "rank": (pos, "<I"),
        "dim0": (pos + 4, "<Q"),
        "type": (pos + 4 + 8 * n_dims, "<I"),
        "offset": (pos + 8 + 8 * n_dims, "<Q"),
    }[field]
    size = struct.calcsize(at[1])
    return data[: at[0]] + struct.pack(at[1], value) + data[at[0] + size :]


def _bytes(fn: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        valid(path)
        path.write_bytes(fn(path.read_bytes()))
        return path

    return build


# name -> (builder, words the ValidationError must contain)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "ctx_2_pow_31": (
        lambda p: valid(p, shape=TinyShape(**{**SHAPE.__dict__, "n_ctx": 2**31})),
        "implausible context length 2147483648",
    ),
    "ctx_zero": (_bytes(lambda d: _kv_u32(d, "llama.context_length", 0)), "context length 0"),
    "bos_10_pow_9": (lambda p: valid(p, bos_token_id=10**9), "bos_token_id 1000000000"),
    "eos_past_vocab": (
        _bytes(lambda d: _kv_u32(d, "tokenizer.ggml.eos_token_id", 418)),
        "eos_token_id 418 is outside the vocabulary",
    ),
    "nan_first_tensor": (lambda p: valid(p, poison_first_tensor=float("nan")), "NaN or infinite"),
    "inf_first_tensor": (lambda p: valid(p, poison_first_tensor=float("-inf")), "NaN or infinite"),
    "truncated_half": (_bytes(lambda d: d[: len(d) // 2]), "truncated"),
    "truncated_header": (_bytes(lambda d: d[:100]), "corrupt"),
    "bad_magic": (_bytes(lambda d: b"GGUX" + d[4:]), "bad magic"),
    "version_99": (_bytes(lambda d: d[:4] + struct.pack("<I", 99) + d[8:]), "version 99"),
    "tensor_count_2_pow_63": (
        _bytes(lambda d: d[:8] + struct.pack("<Q", 2**63) + d[16:]),
        "implausible header counts",
    ),
    "kv_count_huge": (
        _bytes(lambda d: d[:16] + struct.pack("<Q", 2**40) + d[24:]),
        "implausible header counts",
    ),
    "tensor_zero_dim": (_bytes(lambda d: _tensor_field(d, "dim0", 0)), "zero dimension"),
    "tensor_rank_9": (_bytes(lambda d: _tensor_field(d, "rank", 9)), "rank"),
    "tensor_huge_dim": (_bytes(lambda d: _tensor_field(d, "dim0", 2**62)), "implausible size"),
    "tensor_type_unknown": (_bytes(lambda d: _tensor_field(d, "type", 9999)), "tensor type"),
    "tensor_offset_far": (_bytes(lambda d: _tensor_field(d, "offset", 2**60)), "truncated"),
    "tensor_misaligned": (_bytes(lambda d: _tensor_field(d, "offset", 1)), "not aligned"),
    "empty_file": (_bytes(lambda d: b""), "too small"),
}
