"""GGUF model-file fuzzing: the loader refuses every broken file before llama.cpp sees it.

engines.llm.gguf_meta.read_gguf_info is what discovery, `novamind doctor` and LlmWorker.start
run first. Every mutated file must either describe itself (GgufInfo) or be refused with a
ValidationError naming the file; never another exception, and LlmWorker.start must refuse the
hostile corpus without spawning the native child (so the parent process cannot be crashed).
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import struct
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from engines.errors import InputError as ValidationError
from engines.llm.gguf_meta import GgufInfo, read_gguf_info
from engines.llm.results import LoadParams
from engines.llm.worker import LlmWorker
from tests.fuzz.conftest import CORPUS

FUZZ = settings.get_profile("fuzz")


def _cases() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gguf_cases", CORPUS / "gguf" / "cases.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CASES = _cases()


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = CASES.valid(tmp_path_factory.mktemp("gguf") / "valid.gguf")
    read_gguf_info(path)  # the base file is accepted
    return path.read_bytes()


def _outcome(path: Path) -> str:
    try:
        info = read_gguf_info(path)
    except ValidationError as exc:
        assert str(path) in str(exc)
        return "refused"
    assert isinstance(info, GgufInfo)
    return "accepted"


EXTREMES = (0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1, 10**9)


@st.composite
def mutations(draw: st.DrawFn, size: int, header_end: int) -> list[tuple[str, int, int]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("u64", "u32", "byte", "truncate")))
        at = draw(st.integers(0, header_end if kind != "truncate" else size - 1))
        out.append((kind, at, draw(st.sampled_from(EXTREMES)) if kind != "byte" else 0))
    return out


def _apply(data: bytes, muts: list[tuple[str, int, int]], rnd: int) -> bytes:
    buf = bytearray(data)
    for kind, at, value in muts:
        if kind == "truncate":
            del buf[at:]
        elif kind == "byte" and at < len(buf):
            buf[at] = rnd & 0xFF
        elif kind == "u32" and at + 4 <= len(buf):
            buf[at : at + 4] = struct.pack("<I", value & 0xFFFFFFFF)
        elif kind == "u64" and at + 8 <= len(buf):
            buf[at : at + 8] = struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF)
    return bytes(buf)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_mutated_headers_are_described_or_refused(
    valid_bytes: bytes, tmp_path: Path, data: st.DataObject
) -> None:
    header_end = valid_bytes.index(b"token_embd.weight") + 200  # metadata + tensor table
    muts = data.draw(mutations(len(valid_bytes), header_end))
    path = tmp_path / "mutated.gguf"
    path.write_bytes(_apply(valid_bytes, muts, data.draw(st.integers(0, 255))))
    event(_outcome(path))


@pytest.fixture(scope="module")
def first_tensor(valid_bytes: bytes, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int]:
    """(byte offset, number of float32 values) of the first tensor, per the gguf reader."""
    import gguf

    path = tmp_path_factory.mktemp("gguf-reader") / "valid.gguf"
    path.write_bytes(valid_bytes)
    t = gguf.GGUFReader(path).tensors[0]
    return int(t.data_offset), int(t.n_elements)


@settings(FUZZ, max_examples=20)
@given(value=st.sampled_from((float("nan"), float("inf"), float("-inf"))), frac=st.floats(0, 1))
def test_non_finite_weights_in_the_first_tensor_are_refused(
    valid_bytes: bytes, first_tensor: tuple[int, int], tmp_path: Path, value: float, frac: float
) -> None:
    offset, count = first_tensor
    data = bytearray(valid_bytes)
    struct.pack_into("<f", data, offset + 4 * min(int(frac * count), count - 1), value)
    path = tmp_path / "poisoned.gguf"
    path.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="NaN or infinite") as exc:
        read_gguf_info(path)
    assert str(path) in str(exc.value)


@pytest.mark.parametrize("name", sorted(CASES.CASES))
def test_every_corpus_case_is_refused_by_the_loader(tmp_path: Path, name: str) -> None:
    build, words = CASES.CASES[name]
    path = build(tmp_path / f"{name}.gguf")
    with pytest.raises(ValidationError) as exc:
        read_gguf_info(path)
    assert str(path) in str(exc.value) and words in str(exc.value)


@pytest.mark.parametrize("name", ["ctx_2_pow_31", "bos_10_pow_9", "nan_first_tensor"])
def test_worker_refuses_before_spawning_llama_cpp(tmp_path: Path, name: str) -> None:
    build, words = CASES.CASES[name]
    path = build(tmp_path / f"{name}.gguf")
    before = set(multiprocessing.active_children())
    with pytest.raises(ValidationError, match=words):
        LlmWorker.start(path, LoadParams(n_ctx=512, n_threads=1), load_timeout_s=5)
    assert set(multiprocessing.active_children()) == before  # no native child was started
