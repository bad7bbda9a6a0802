from __future__ import annotations

import os
import signal
import threading
import time

import gguf
import jsonschema
import numpy as np
import pytest

from engines.errors import EngineError, InputError
from engines.llm.notes import NOTE_SCHEMA, NOTE_SCHEMA_JSON
from engines.llm.results import GenerationResult, GenParams, LoadParams, TokenChunk
from engines.llm.synthetic_gguf import TinyShape, write_tiny_llama
from engines.llm.worker import LlmWorker, ModelProcessError, new_task


def _run(worker, task):
    chunks, final = [], None
    for item in worker.submit(task):
        if isinstance(item, TokenChunk):
            assert final is None
            chunks.append(item)
        else:
            final = item
    return chunks, final


def test_streams_tokens_and_reports_stats(tiny_worker):
    task = new_task([("user", "Hello there")], params=GenParams(max_tokens=64, temperature=0.8))
    chunks, final = _run(tiny_worker, task)
    assert isinstance(final, GenerationResult)
    assert final.stop_reason == "length" and final.n_tokens == 64
    assert "".join(c.text for c in chunks) == final.text
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert final.n_prompt_tokens > 5 and 0 < final.ttft_s <= final.elapsed_s
    assert final.load.n_threads == 1


def test_grammar_forces_schema_valid_json_even_from_random_weights(tiny_worker):
    for seed in range(3):
        task = new_task(
            [("user", "note")],
            json_schema=NOTE_SCHEMA_JSON,
            params=GenParams(max_tokens=3000, temperature=1.0, seed=seed),
        )
        _chunks, final = _run(tiny_worker, task)
        assert final.stop_reason == "stop"
        import json

        jsonschema.validate(json.loads(final.text), NOTE_SCHEMA)


def test_cancel_stops_generation_within_200ms(tiny_worker):
    task = new_task([("user", "go")], params=GenParams(max_tokens=4000, temperature=0.8))
    it = tiny_worker.submit(task)
    for i, _item in enumerate(it):
        if i == 20:
            break
    t0 = time.perf_counter()
    tiny_worker.cancel()
    rest = list(it)
    latency = time.perf_counter() - t0
    assert isinstance(rest[-1], GenerationResult)
    assert rest[-1].stop_reason == "cancelled" and rest[-1].n_tokens < 4000
    assert latency < 0.2
    # the worker is usable straight after a cancel
    _c, final = _run(tiny_worker, new_task([("user", "x")], params=GenParams(max_tokens=5)))
    assert final.n_tokens == 5


def test_cancel_during_long_prompt_kills_child_and_recovers(tmp_path):
    path = write_tiny_llama(tmp_path / "wide.gguf", TinyShape(n_embd=256, n_ff=1024, n_layer=6))
    w = LlmWorker.start(path, LoadParams(n_ctx=4096, n_threads=1), cancel_grace_s=0.1)
    try:
        old_pid = w.pid
        long_prompt = "the and of to " * 450  # thousands of tokens of prefill
        task = new_task(prompt=long_prompt, params=GenParams(max_tokens=50))
        result = {}

        def consume():
            result["items"] = list(w.submit(task))

        th = threading.Thread(target=consume)
        th.start()
        time.sleep(0.15)
        t0 = time.perf_counter()
        w.cancel()
        th.join(5)
        latency = time.perf_counter() - t0
        assert result["items"][-1].stop_reason == "cancelled"
        assert latency < 0.2
        _c, final = _run(w, new_task([("user", "again")], params=GenParams(max_tokens=3)))
        assert final.n_tokens == 3 and w.pid != old_pid  # restarted child
    finally:
        w.close()


def test_crashing_child_gives_clear_error_and_restarts(tiny_gguf):
    w = LlmWorker.start(tiny_gguf, LoadParams(n_ctx=4096, n_threads=1))
    try:
        it = w.submit(new_task([("user", "x")], params=GenParams(max_tokens=4000, temperature=0.8)))
        next(it)
        os.kill(w.pid, signal.SIGKILL)  # what the OOM killer does
        with pytest.raises(ModelProcessError, match=r"tiny-random.gguf: model process crashed"):
            list(it)
        _c, final = _run(w, new_task([("user", "x")], params=GenParams(max_tokens=3)))
        assert final.n_tokens == 3
    finally:
        w.close()


def test_structurally_broken_gguf_fails_cleanly(tmp_path):
    bad = tmp_path / "missing-tensors.gguf"
    wr = gguf.GGUFWriter(str(bad), "llama")
    wr.add_block_count(2)
    wr.add_embedding_length(8)
    wr.add_context_length(64)
    wr.add_token_list(["a", "b", "c", "d"])  # passes the loader's own sanity checks
    wr.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()
    with pytest.raises(InputError, match="missing-tensors.gguf: llama.cpp could not load"):
        LlmWorker.start(bad, LoadParams(n_ctx=64, n_threads=1))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(InputError, match="junk.gguf"):
        LlmWorker.start(junk)


def test_busy_and_failed_requests(tiny_worker):
    it = tiny_worker.submit(new_task([("user", "x")], params=GenParams(max_tokens=2000)))
    next(it)
    with pytest.raises(EngineError, match="busy"):
        next(tiny_worker.submit(new_task([("user", "y")])))
    tiny_worker.cancel()
    list(it)
    too_long = new_task(prompt="a " * 5000, params=GenParams(max_tokens=4))
    with pytest.raises(InputError, match="context holds 4096"):
        list(tiny_worker.submit(too_long))
