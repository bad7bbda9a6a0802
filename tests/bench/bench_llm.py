"""Benchmark the LLM engine against bare llama-cpp-python, side by side in one run.

python -m tests.bench.bench_llm   (installs the SmolLM2 demo model into ~/.cache/novamind/models)

Same model file, threads, prompt and greedy decoding on both sides, so both generate the same
tokens. Runs alternate engine/bare and report the median of the repetitions.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from engines.llm.deid_corpus import generate_corpus, measure
from engines.llm.demo_model import default_cache_dir, install_demo_model
from engines.llm.hardware import physical_cores
from engines.llm.results import GenerationResult, GenParams, LoadParams, TokenChunk
from engines.llm.worker import LlmWorker, new_task

MAX_TOKENS = 128
REPS = 5
PROMPT = (
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    "Write a detailed essay about the history of lighthouses and the people who kept them."
    "<|im_end|>\n<|im_start|>assistant\n"
)


def bare_run(llm: object, threads: int) -> tuple[int, float, float]:
    """Plain llama-cpp-python loop: generate, detokenize each token; (n, ttft, decode tok/s)."""
    import llama_cpp

    t0 = time.perf_counter()
    tokens = llm.tokenize(PROMPT.encode(), add_bos=True, special=True)
    n, ttft, t_first = 0, 0.0, 0.0
    for tok in llm.generate(tokens, top_k=40, top_p=1.0, min_p=0.0, temp=0.0):
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            break
        llm.detokenize([tok])
        n += 1
        if n == 1:
            t_first = time.perf_counter()
            ttft = t_first - t0
        if n >= MAX_TOKENS:
            break
    dt = time.perf_counter() - t_first
    return n, ttft, (n - 1) / dt if dt > 0 else 0.0


def bare_stream_completion(llm: object) -> float:
    """llama-cpp-python's own create_completion(stream=True), for reference (decode tok/s)."""
    n, t_first = 0, 0.0
    for _chunk in llm.create_completion(
        PROMPT, max_tokens=MAX_TOKENS, temperature=0.0, stream=True
    ):
        n += 1
        if n == 1:
            t_first = time.perf_counter()
    dt = time.perf_counter() - t_first
    return (n - 1) / dt if dt > 0 else 0.0


def engine_run(worker: LlmWorker, tick: bool = False) -> tuple[int, float, float, float]:
    """Through the child process with streaming; also the worst stall of a 5 ms ticker thread."""
    stall = [0.0]
    stop = threading.Event()

    def ticker() -> None:  # stands in for the UI event loop in the same process
        last = time.perf_counter()
        while not stop.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            stall[0] = max(stall[0], now - last - 0.005)
            last = now

    th = threading.Thread(target=ticker, daemon=True)
    if tick:
        th.start()
    task = new_task(prompt=PROMPT, params=GenParams(max_tokens=MAX_TOKENS, temperature=0.0))
    t0 = time.perf_counter()
    n, ttft, t_first, final = 0, 0.0, 0.0, None
    for item in worker.submit(task):
        if isinstance(item, TokenChunk):
            n += 1
            if n == 1:
                t_first = time.perf_counter()
                ttft = t_first - t0
        else:
            final = item
    t_end = time.perf_counter()
    stop.set()
    if tick:
        th.join()
    assert isinstance(final, GenerationResult)
    n_tok = final.n_tokens
    return n_tok, ttft, (n_tok - 1) / (t_end - t_first), stall[0]


def main() -> None:
    """Print a markdown table of engine vs bare throughput, TTFT, stall and de-id figures."""
    from llama_cpp import Llama

    model = install_demo_model(default_cache_dir() / "demo")
    threads = physical_cores()
    load = LoadParams(n_ctx=2048, n_threads=threads, n_gpu_layers=0)
    worker = LlmWorker.start(model, load)
    llm = Llama(
        str(model),
        n_ctx=2048,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=0,
        verbose=False,
    )
    eng, bare = [], []
    try:
        engine_run(worker)  # warm-up both
        bare_run(llm, threads)
        for _ in range(REPS):
            eng.append(engine_run(worker))
            bare.append(bare_run(llm, threads))
        stream_ref = bare_stream_completion(llm)
        stall = engine_run(worker, tick=True)[3]
    finally:
        worker.close()
    e_tps = statistics.median(r[2] for r in eng)
    b_tps = statistics.median(r[2] for r in bare)
    e_ttft = statistics.median(r[1] for r in eng)
    b_ttft = statistics.median(r[1] for r in bare)
    t0 = time.perf_counter()
    corpus = generate_corpus(500, seed=2026)
    score = measure(corpus)
    deid_s = time.perf_counter() - t0

    print(
        f"model: {Path(model).name}, threads={threads}, greedy, {MAX_TOKENS} new tokens, "
        f"median of {REPS}\n"
    )
    print("| what | engine (child process, streamed) | bare llama-cpp-python | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| decode tokens/s | {e_tps:.1f} | {b_tps:.1f} | {e_tps / b_tps:.1%} |")
    print(
        f"| time to first token | {e_ttft * 1e3:.0f} ms | {b_ttft * 1e3:.0f} ms | "
        f"{e_ttft / b_ttft:.2f}x |"
    )
    print(f"| tokens generated | {eng[0][0]} | {bare[0][0]} | |")
    print(f"| create_completion(stream=True) tokens/s | | {stream_ref:.1f} | |")
    print(f"| worst stall of a 5 ms ticker thread in the parent | {stall * 1e3:.1f} ms | | |")
    print()
    print("| de-identification (500 synthetic notes) | value |")
    print("| --- | --- |")
    print(f"| identifiers | {score.n_phi} |")
    print(f"| recall | {score.recall:.4f} |")
    print(f"| precision (spans) | {score.precision:.4f} |")
    print(f"| time (generate + scrub + score) | {deid_s:.2f} s |")


if __name__ == "__main__":
    main()
