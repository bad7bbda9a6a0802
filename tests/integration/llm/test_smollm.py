"""The real demo model (SmolLM2-135M-Instruct Q4_1) end to end through the engine."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from engines.errors import InputError
from engines.llm.evaluate import evaluate_imhi
from engines.llm.manager import DEMO_LABEL, ModelManager
from engines.llm.notes import NOTE_SCHEMA, note_task, parse_note_analysis
from engines.llm.results import GenerationResult, GenParams, TokenChunk
from engines.llm.worker import LlmWorker, new_task

NOTE = (
    "Patient reports low mood for three months and poor sleep. She has thought about ending "
    "her life but has no plan. Her sister visits daily and she enjoys painting."
)
IMHI = Path(__file__).resolve().parents[4] / "shared" / "data" / "imhi"
if not IMHI.is_dir():
    IMHI = Path("/work/shared/data/imhi")


@pytest.fixture(scope="module")
def setup(demo_model_dir):
    mm = ModelManager([demo_model_dir])
    (entry,) = mm.discover()
    assert entry.usable and entry.label == DEMO_LABEL and entry.info.architecture == "llama"
    worker = LlmWorker.start(entry.path, mm.load_params(entry.info, n_ctx=2048))
    yield mm, entry, worker
    worker.close()


def test_schema_valid_json_every_time_and_quotes_checked(setup):
    mm, entry, worker = setup
    prov = mm.provenance(entry.path)
    for seed, temp in ((0, 0.0), (1, 0.7)):
        task = note_task(NOTE, GenParams(max_tokens=1024, temperature=temp, seed=seed))
        items = list(worker.submit(task))
        final = items[-1]
        assert isinstance(final, GenerationResult) and final.stop_reason == "stop"
        assert "".join(i.text for i in items[:-1] if isinstance(i, TokenChunk)) == final.text
        data = json.loads(final.text)
        jsonschema.validate(data, NOTE_SCHEMA)
        analysis = parse_note_analysis("note-1", NOTE, final, prov)
        for f in analysis.findings:
            for e in f.evidence:
                assert e.verified == (" ".join(e.quote.lower().split()) in NOTE.lower()) or (
                    not e.verified
                )
                if e.verified:
                    assert NOTE[e.start : e.end].lower() == e.quote.strip().strip('".').lower()
        # plant a fabricated quote and a real one in the model's own output
        data["conditions"] = [
            {"name": "psychosis", "confidence": "high", "evidence": ["hears voices every night"]},
            {
                "name": "depression",
                "confidence": "moderate",
                "evidence": ["low mood for three months"],
            },
        ]
        planted = GenerationResult(
            final.task_id, json.dumps(data), 0, 0, 0, 0, "stop", final.load, final.params
        )
        a = parse_note_analysis("note-1", NOTE, planted, prov)
        by = {f.label: f for f in a.findings if f.kind == "condition"}
        assert not by["psychosis"].verified and "hears voices every night" in a.rejected_quotes
        assert by["depression"].verified
        assert a.model.label == DEMO_LABEL and a.model.sha256 == prov.sha256


def test_cancel_within_200ms(setup):
    _mm, _entry, worker = setup
    task = new_task(
        [("user", "Write a long story about a lighthouse.")],
        params=GenParams(max_tokens=1500, temperature=0.8),
    )
    it = worker.submit(task)
    for i, _item in enumerate(it):
        if i == 5:
            break
    t0 = time.perf_counter()
    worker.cancel()
    rest = list(it)
    assert time.perf_counter() - t0 < 0.2
    assert rest[-1].stop_reason == "cancelled"
    # cancel during a long prompt evaluation (hard stop of the child), then recover
    long_task = new_task([("user", "Summarise: " + NOTE * 25)], params=GenParams(max_tokens=20))
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("items", list(worker.submit(long_task))))
    th.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    worker.cancel()
    th.join(10)
    assert time.perf_counter() - t0 < 0.2
    assert out["items"][-1].stop_reason == "cancelled"
    final = list(worker.submit(new_task([("user", "Hi")], params=GenParams(max_tokens=4))))[-1]
    assert final.n_tokens >= 1


def test_corrupt_copy_of_real_model_fails_cleanly(setup, tmp_path):
    _mm, entry, _worker = setup
    bad = tmp_path / "SmolLM2-truncated.gguf"
    with entry.path.open("rb") as src, bad.open("wb") as dst:
        dst.write(src.read(entry.path.stat().st_size // 3))
    with pytest.raises(InputError, match="SmolLM2-truncated.gguf: truncated"):
        LlmWorker.start(bad)
    flipped = tmp_path / "SmolLM2-flipped.gguf"
    shutil.copy(entry.path, flipped)
    with flipped.open("r+b") as fh:
        fh.seek(8)
        fh.write(b"\xff" * 16)  # tensor/kv counts destroyed
    with pytest.raises(InputError, match="SmolLM2-flipped.gguf"):
        LlmWorker.start(flipped)


def test_imhi_harness_runs_on_real_data(setup):
    mm, entry, worker = setup
    ev = evaluate_imhi(worker, IMHI, "DR", limit=3, model=mm.provenance(entry.path))
    assert ev.n == 3 and 0.0 <= ev.weighted_f1 <= 1.0
    assert ev.model.label == DEMO_LABEL
