from __future__ import annotations

import pytest

from engines.llm.results import LoadParams
from engines.llm.synthetic_gguf import write_tiny_llama
from engines.llm.worker import LlmWorker


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    """A real llama-architecture GGUF with random weights and a real SPM vocabulary."""
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-random.gguf")


@pytest.fixture(scope="module")
def tiny_worker(tiny_gguf):
    w = LlmWorker.start(tiny_gguf, LoadParams(n_ctx=4096, n_threads=1))
    yield w
    w.close()
