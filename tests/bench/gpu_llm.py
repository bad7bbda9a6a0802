"""GPU check: decode tokens/s of MentaLLaMA-7B- and -33B-shaped GGUFs, engine vs bare, vs bound.

`python -m tests.bench.gpu_llm [--dry-run] [--shapes 7b,33b]` (normally run by gpu.sh).

The models are random-weight llama GGUFs with the real shapes (LLaMA-2-7B under MentaLLaMA-7B,
LLaMA-33B/Vicuna-33B under MentaLLaMA-33B) and llama.cpp's Q4_K_M recipe: Q4_K everywhere,
Q6_K for `output` and for `attn_v` / `ffn_down` in the layers llama.cpp gives more bits. gguf-py
has no Q4_K/Q6_K quantizer, so the blocks are written directly: random quants and scales with
small fixed fp16 block scales (finite output; the speed of a decode does not depend on the
values). The vocabulary is engines/llm/synthetic_gguf's, padded to 32,000 tokens.

Both sides load the same file with the offload the engine's ModelManager chooses (all layers
when the build has CUDA and the model fits) and decode greedily the same prompt with
tests/bench/bench_llm's loops: the engine through its child process and stream, bare
llama-cpp-python in this process; runs alternate, medians reported. The bound is the GPU's
peak memory bandwidth over the bytes one decoded token must read: every weight except the
token embedding (one row of it), plus the KV cache up to the mean position of the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.gpu_common import dry_run, probe_gpu, table, write_result

REPS = 5
Q4_K, Q6_K, F32 = "Q4_K", "Q6_K", "F32"
BLOCK = 256  # elements per K-quant block
TYPE_BYTES = {Q4_K: 144, Q6_K: 210}  # bytes per 256-element block


@dataclass(frozen=True)
class LlamaShape:
    """The dimensions that decide a llama model's size and decode cost."""

    label: str
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx: int


SHAPES = {
    "7b": LlamaShape("MentaLLaMA-7B shape (LLaMA-2-7B)", 4096, 11008, 32, 32, 32, 32000, 4096),
    "33b": LlamaShape("MentaLLaMA-33B shape (LLaMA-33B)", 6656, 17920, 60, 52, 52, 32000, 2048),
}
DRY_SHAPES = {
    "tiny": LlamaShape("dry run (tiny llama)", 256, 512, 2, 4, 4, 512, 512),
}


def more_bits(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the layers whose attn_v / ffn_down Q4_K_M keeps in Q6_K."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_plan(s: LlamaShape) -> list[tuple[str, str, tuple[int, int]]]:
    """(name, type, (rows, cols)) of every tensor, in file order, with Q4_K_M's types."""
    kv = s.n_embd // s.n_head * s.n_head_kv
    plan = [
        ("token_embd.weight", Q4_K, (s.n_vocab, s.n_embd)),
        ("output_norm.weight", F32, (1, s.n_embd)),
        ("output.weight", Q6_K, (s.n_vocab, s.n_embd)),
    ]
    for i in range(s.n_layer):
        hi = Q6_K if more_bits(i, s.n_layer) else Q4_K
        plan += [
            (f"blk.{i}.attn_norm.weight", F32, (1, s.n_embd)),
            (f"blk.{i}.attn_q.weight", Q4_K, (s.n_embd, s.n_embd)),
            (f"blk.{i}.attn_k.weight", Q4_K, (kv, s.n_embd)),
            (f"blk.{i}.attn_v.weight", hi, (kv, s.n_embd)),
            (f"blk.{i}.attn_output.weight", Q4_K, (s.n_embd, s.n_embd)),
            (f"blk.{i}.ffn_norm.weight", F32, (1, s.n_embd)),
            (f"blk.{i}.ffn_gate.weight", Q4_K, (s.n_ff, s.n_embd)),
            (f"blk.{i}.ffn_up.weight", Q4_K, (s.n_ff, s.n_embd)),
            (f"blk.{i}.ffn_down.weight", hi, (s.n_embd, s.n_ff)),
        ]
    return plan


def tensor_bytes(qtype: str, rows: int, cols: int) -> int:
    """Bytes of one tensor of `rows` x `cols` elements in `qtype`."""
    if qtype == F32:
        return rows * cols * 4
    if cols % BLOCK:
        raise ValueError(f"a {qtype} row must be a multiple of {BLOCK} elements, not {cols}")
    return rows * cols // BLOCK * TYPE_BYTES[qtype]


def decode_bytes_per_token(s: LlamaShape, position: float, kv_bytes_per_value: int = 2) -> float:
    """Bytes one decoded token reads: all weights but one embedding row, plus the KV cache
    (keys and values of every layer up to `position`, f16 by default)."""
    plan = tensor_plan(s)
    weights = sum(tensor_bytes(t, r, c) for _, t, (r, c) in plan)
    embd = tensor_bytes(Q4_K, s.n_vocab, s.n_embd)
    weights += embd // s.n_vocab - embd
    kv = s.n_embd // s.n_head * s.n_head_kv
    return weights + position * s.n_layer * 2 * kv * kv_bytes_per_value


def bound_tokens_per_s(bandwidth_gbs: float, bytes_per_token: float) -> float:
    """The memory-bandwidth bound of decoding: peak bytes/s over bytes read per token."""
    if bytes_per_token <= 0:
        raise ValueError("bytes per token must be positive")
    return bandwidth_gbs * 1e9 / bytes_per_token


def _blocks(rng: np.random.Generator, qtype: str, rows: int, cols: int) -> np.ndarray:
    """Random but finite K-quant blocks: random quants/scales, small fixed fp16 block scales."""
    nb = rows * cols // BLOCK
    buf = rng.integers(0, 256, size=(nb, TYPE_BYTES[qtype]), dtype=np.uint8)
    if qtype == Q4_K:  # d, dmin (fp16) lead the block
        buf[:, 0:2] = np.frombuffer(np.float16(2e-3).tobytes(), np.uint8)
        buf[:, 2:4] = np.frombuffer(np.float16(1e-3).tobytes(), np.uint8)
    else:  # Q6_K: d (fp16) ends the block
        buf[:, 208:210] = np.frombuffer(np.float16(1e-4).tobytes(), np.uint8)
    return buf.reshape(rows, cols // BLOCK * TYPE_BYTES[qtype])


def write_q4_k_m(path: Path, s: LlamaShape, seed: int = 0) -> int:
    """Write the synthetic Q4_K_M GGUF, streaming tensor by tensor; returns the file size."""
    import gguf

    from engines.llm.synthetic_gguf import CHATML_TEMPLATE, _vocab

    tokens, scores, types = _vocab()
    if s.n_vocab < len(tokens):
        raise ValueError(f"n_vocab must be at least {len(tokens)}")
    extra = s.n_vocab - len(tokens)
    tokens += [f"▁w{i}" for i in range(extra)]
    scores += [-float(len(scores) + i) for i in range(extra)]
    types += [int(gguf.TokenType.NORMAL)] * extra
    head_dim = s.n_embd // s.n_head
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("novamind-synthetic-llama-q4_k_m")
    w.add_description("Random weights with a real model's shape; output is noise.")
    w.add_context_length(s.n_ctx)
    w.add_embedding_length(s.n_embd)
    w.add_block_count(s.n_layer)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_head)
    w.add_head_count_kv(s.n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s.n_vocab)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(4)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)
    plan = tensor_plan(s)
    qt = {Q4_K: gguf.GGMLQuantizationType.Q4_K, Q6_K: gguf.GGMLQuantizationType.Q6_K}
    for name, t, (r, c) in plan:
        if t == F32:
            w.add_tensor_info(name, (c,), np.dtype(np.float32), c * 4)
        else:
            nbytes = tensor_bytes(t, r, c)
            w.add_tensor_info(name, (r, nbytes // r), np.dtype(np.uint8), nbytes, qt[t])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    cache: dict[tuple[str, int, int], np.ndarray] = {}  # one random tensor per kind, reused
    for name, t, (r, c) in plan:
        if t == F32:
            w.write_tensor_data(np.ones(c, dtype=np.float32))
            continue
        if name == "output.weight":  # zero logits for specials and byte tokens, so greedy
            # decoding picks text pieces, streamed one by one (bytes may be partial UTF-8)
            out = _blocks(rng, t, r, c).reshape(r, c // BLOCK, TYPE_BYTES[t])
            out[: 5 + 256, :, 208:210] = 0
            w.write_tensor_data(out.reshape(r, -1))
            continue
        key = (t, r, c)
        if key not in cache:
            cache[key] = _blocks(rng, t, r, c)
        w.write_tensor_data(cache[key])
    w.close()
    return path.stat().st_size


def _measure(path: Path, s: LlamaShape, reps: int, need_gpu: bool) -> dict[str, Any]:
    from llama_cpp import Llama

    from engines.llm.gguf_meta import read_gguf_info
    from engines.llm.manager import ModelManager
    from engines.llm.worker import LlmWorker
    from tests.bench import bench_llm

    params = ModelManager([path.parent]).load_params(read_gguf_info(path), n_ctx=s.n_ctx)
    if not need_gpu:  # dry run: one thread each, or a busy 2-core machine's spin-waits decide
        params = replace(params, n_threads=1)
    if need_gpu and not params.n_gpu_layers:
        raise RuntimeError(
            "the engine chose the CPU: this llama-cpp-python has no GPU offload, or the model "
            "does not fit the free VRAM (see engines/llm/manager.offload_fits)"
        )
    t0 = time.perf_counter()
    worker = LlmWorker.start(path, params, load_timeout_s=1200)
    t_engine_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    llm = Llama(
        str(path),
        n_ctx=params.n_ctx,
        n_threads=params.n_threads,
        n_threads_batch=params.n_threads,
        n_gpu_layers=params.n_gpu_layers or 0,
        n_batch=params.n_batch,
        seed=params.seed,
        verbose=False,
    )
    t_bare_load = time.perf_counter() - t0
    n_prompt = len(llm.tokenize(bench_llm.PROMPT.encode(), add_bos=True, special=True))
    eng, bare = [], []
    try:
        bench_llm.engine_run(worker)  # warm-up both
        bench_llm.bare_run(llm, params.n_threads or 1)
        for i in range(reps):
            pair = [
                lambda: eng.append(bench_llm.engine_run(worker)),
                lambda: bare.append(bench_llm.bare_run(llm, params.n_threads or 1)),
            ]
            for f in pair if i % 2 == 0 else pair[::-1]:
                f()
    finally:
        worker.close()
        llm.close()
    if min(r[1] for r in eng) <= 0 or min(r[0] for r in bare) < bench_llm.MAX_TOKENS:
        raise RuntimeError("a run streamed no text or stopped early: the figures would be wrong")
    return {
        "n_gpu_layers": params.n_gpu_layers,
        "n_threads": params.n_threads,
        "n_ctx": params.n_ctx,
        "prompt_tokens": n_prompt,
        "new_tokens": bench_llm.MAX_TOKENS,
        "tokens_engine": eng[0][0],
        "tokens_bare": bare[0][0],
        "engine_tps": statistics.median(r[2] for r in eng),
        "bare_tps": statistics.median(r[2] for r in bare),
        "engine_ttft_s": statistics.median(r[1] for r in eng),
        "bare_ttft_s": statistics.median(r[1] for r in bare),
        "engine_load_s": t_engine_load,
        "bare_load_s": t_bare_load,
    }


def main(argv: list[str] | None = None) -> int:
    """Write, load and time each shape; print the table; write gpu_llm.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny model on the CPU")
    ap.add_argument("--shapes", default="7b,33b", help="comma list of: " + ",".join(SHAPES))
    ap.add_argument("--reps", type=int, default=REPS)
    ap.add_argument("--dir", type=Path, help="where the GGUFs go (default: a temp dir)")
    args = ap.parse_args(argv)
    dry = args.dry_run or dry_run([])
    shapes = DRY_SHAPES if dry else {k: SHAPES[k] for k in args.shapes.split(",") if k}
    gpu = probe_gpu()
    if not dry and gpu is None:
        print("gpu_llm: no NVIDIA GPU (nvidia-smi) here; use --dry-run for the CPU plumbing")
        return 2
    bandwidth = gpu.bandwidth_gbs if gpu and gpu.bandwidth_gbs else 0.0
    work = Path(args.dir or tempfile.mkdtemp(prefix="novamind-gguf-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for key, s in shapes.items():
            path = work / f"synthetic-{key}-q4_k_m.gguf"
            t0 = time.perf_counter()
            size = write_q4_k_m(path, s, seed=1)
            t_write = time.perf_counter() - t0
            print(f"{s.label}: wrote {size / 2**30:.2f} GiB in {t_write:.0f} s", flush=True)
            fig = _measure(path, s, max(1, args.reps if not dry else 2), need_gpu=not dry)
            pos = fig["prompt_tokens"] + fig["new_tokens"] / 2
            per_token = decode_bytes_per_token(s, pos)
            bound = bound_tokens_per_s(bandwidth, per_token) if bandwidth else float("nan")
            fig |= {
                "shape": key,
                "label": s.label,
                "dims": asdict(s),
                "file_bytes": size,
                "write_s": t_write,
                "bytes_per_token": per_token,
                "bandwidth_gbs": bandwidth,
                "bound_tps": bound,
                "engine_vs_bare": fig["engine_tps"] / fig["bare_tps"],
                "bare_vs_bound": fig["bare_tps"] / bound if bandwidth else None,
                "engine_vs_bound": fig["engine_tps"] / bound if bandwidth else None,
            }
            results.append(fig)
            path.unlink()
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    rows = [
        [
            r["label"],
            f"{r['file_bytes'] / 2**30:.2f} GiB",
            f"{r['n_gpu_layers']}",
            round(r["engine_tps"], 1),
            round(r["bare_tps"], 1),
            f"{r['engine_vs_bare']:.1%}",
            round(r["bound_tps"], 1) if bandwidth else "n/a",
            f"{r['engine_vs_bound']:.1%}" if bandwidth else "n/a",
        ]
        for r in results
    ]
    print(
        table(
            [
                "model (Q4_K_M, random weights)",
                "file",
                "GPU layers",
                "engine tok/s",
                "bare tok/s",
                "engine / bare (≥ 97 %)",
                "bound tok/s",
                "engine / bound (≥ 60 %)",
            ],
            rows,
        )
    )
    if gpu:
        print(f"\nGPU: {gpu.name}, {gpu.bandwidth_gbs:.0f} GB/s ({gpu.bandwidth_source})")
    mode = "dry run (CPU, tiny shape: plumbing only, its ratios are noise)" if dry else "GPU"
    print(f"mode: {mode}; median of reps, greedy")
    out = write_result("llm", {"dry_run": dry, "results": results})
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
