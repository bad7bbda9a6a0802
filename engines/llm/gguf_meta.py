"""Read a GGUF file's metadata without loading its weights.

The `gguf` reader memory-maps the file and parses only the header, key/value metadata and the
tensor table, so a multi-gigabyte model is described in milliseconds. A file that is not a
valid, complete GGUF is rejected here with a message naming the file, before any native code
(llama.cpp) ever touches it.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import InputError

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


@dataclass(frozen=True)
class GgufInfo:
    """What a GGUF file says about itself (no weights loaded)."""

    path: Path
    size_bytes: int
    name: str
    architecture: str
    parameters: int
    file_type: str
    context_length: int
    block_count: int
    embedding_length: int
    chat_template: str | None
    tokenizer_model: str
    vocab_size: int
    size_label: str


_SCALAR = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAX_KV = 1 << 20


class _CorruptError(Exception):
    pass


class _Cursor:
    """Bounds-checked reader over the memory-mapped file (a corrupt length cannot run away)."""

    def __init__(self, buf: mmap.mmap) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> Any:  # noqa: ANN401
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise _CorruptError("unexpected end of file")
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise _CorruptError("string runs past end of file")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        n = self.unpack("<Q")
        if self.pos + n > len(self.buf):
            raise _CorruptError("string runs past end of file")
        self.pos += n

    def value(self, vtype: int) -> Any:  # noqa: ANN401
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype = self.unpack("<I")
            count = self.unpack("<Q")
            if etype in _SCALAR:
                size = struct.calcsize(_SCALAR[etype]) * count
                if self.pos + size > len(self.buf):
                    raise _CorruptError("array runs past end of file")
                self.pos += size
            elif etype == _STRING:
                for _ in range(count):
                    self.skip_string()
            else:
                raise _CorruptError(f"unsupported array element type {etype}")
            return _ArrayLen(count)
        raise _CorruptError(f"unknown value type {vtype}")


@dataclass(frozen=True)
class _ArrayLen:
    count: int


@dataclass(frozen=True)
class _Tensor:
    name: str
    dims: tuple[int, ...]
    ttype: int
    offset: int  # from the start of the data section


@dataclass(frozen=True)
class GgufLimits:
    """What a GGUF llama.cpp is handed may claim: the one place the loader's sanity bounds live.

    Values past these are corrupt or hostile files (a context of 2^31 makes llama.cpp try to
    allocate a KV cache of terabytes; a BOS id past the vocabulary indexes out of bounds).
    """

    max_context: int = 1_048_576
    max_vocab: int = 4_000_000
    max_tensors: int = 65_536
    max_dims: int = 4  # GGML_MAX_DIMS
    max_elements: int = 1 << 40  # per tensor
    max_alignment: int = 1 << 16
    max_block_count: int = 4_096
    max_embedding: int = 1 << 20
    probe_first: int = 65_536  # values read from the first float tensor
    probe_each: int = 256  # values read from the start of every other float tensor


GGUF_LIMITS = GgufLimits()
_SPECIAL_TOKENS = ("bos", "eos", "unknown", "separator", "padding", "cls", "mask", "eot", "eom")


def _parse(buf: mmap.mmap) -> tuple[dict[str, Any], list[_Tensor], int]:
    """Return (metadata, tensor table, start of the tensor data section)."""
    lim = GGUF_LIMITS
    cur = _Cursor(buf)
    if cur.unpack("<4s") != b"GGUF":
        raise _CorruptError("bad magic bytes")
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise _CorruptError(f"unsupported GGUF version {version}")
    n_tensors = cur.unpack("<Q")
    n_kv = cur.unpack("<Q")
    if n_kv > _MAX_KV or n_tensors > min(_MAX_KV, lim.max_tensors):
        raise _CorruptError("implausible header counts")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        if key in meta:
            raise _CorruptError("a metadata key appears twice")
        meta[key] = cur.value(cur.unpack("<I"))
    tensors: list[_Tensor] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = cur.string()
        if name in names:
            raise _CorruptError(f"tensor {_short(name)!r} appears twice")
        names.add(name)
        n_dims = cur.unpack("<I")
        if not 1 <= n_dims <= lim.max_dims:
            raise _CorruptError(f"implausible tensor rank {n_dims}")
        dims = tuple(cur.unpack("<Q") for _ in range(n_dims))
        tensors.append(_Tensor(name, dims, cur.unpack("<I"), cur.unpack("<Q")))
    align = _int_meta(meta, "general.alignment", 32)
    if not 1 <= align <= lim.max_alignment or align & (align - 1):
        raise _CorruptError(f"implausible alignment {align}")
    data_start = (cur.pos + align - 1) // align * align
    return meta, tensors, data_start


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _int_meta(meta: dict[str, Any], key: str, default: int) -> int:
    """An integer metadata value; _CorruptError if it is there with another type."""
    value = meta.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _CorruptError(f"{key} is not an integer")
    return value


def _tensor_extent(tensors: list[_Tensor], data_start: int, align: int) -> tuple[int, int]:
    """(parameter count, end of tensor data); _CorruptError on an impossible shape or type."""
    import gguf

    n_params = 0
    end = data_start
    for t in tensors:
        n = 1
        for d in t.dims:
            if d == 0:
                raise _CorruptError(f"tensor {_short(t.name)!r} has a zero dimension")
            n *= d
        if n > GGUF_LIMITS.max_elements:
            raise _CorruptError(f"tensor {_short(t.name)!r} has an implausible size")
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(t.ttype)]
        except (ValueError, KeyError):
            raise _CorruptError(f"unknown tensor type {t.ttype}") from None
        if t.dims[0] % block:
            raise _CorruptError(f"tensor {_short(t.name)!r} rows do not fill whole blocks")
        if t.offset % align:
            raise _CorruptError(f"tensor {_short(t.name)!r} is not aligned")
        n_params += n
        end = max(end, data_start + t.offset + n // block * type_size)
    return n_params, end


_FLOAT_TYPES = {0: "<f4", 1: "<f2"}  # GGML F32, F16 (BF16 has no numpy dtype; not probed)


def _probe_finite(buf: mmap.mmap, tensors: list[_Tensor], data_start: int) -> str | None:
    """Name of a float tensor holding NaN or infinity among the values probed, else None.

    Reads a bounded number of values (the first float tensor's first GGUF_LIMITS.probe_first,
    then probe_each of every other float tensor): never the whole model.
    """
    import numpy as np

    budget = GGUF_LIMITS.probe_first
    for t in tensors:
        dtype = _FLOAT_TYPES.get(t.ttype)
        if dtype is None:
            continue
        n = 1
        for d in t.dims:
            n *= d
        count = min(n, budget)
        start = data_start + t.offset
        values = np.frombuffer(buf, dtype=dtype, count=count, offset=start)
        if not np.isfinite(values).all():
            return t.name
        budget = GGUF_LIMITS.probe_each
    return None


def _check_sane(p: Path, meta: dict[str, Any], arch: str, vocab: int) -> None:
    """Header values llama.cpp trusts: bounded context, special token ids inside the vocab."""
    lim = GGUF_LIMITS
    try:
        ctx = _int_meta(meta, f"{arch}.context_length", 0)
        blocks = _int_meta(meta, f"{arch}.block_count", 0)
        embd = _int_meta(meta, f"{arch}.embedding_length", 0)
    except _CorruptError as exc:
        raise InputError(f"{p}: implausible GGUF metadata ({exc})") from None
    if not 1 <= ctx <= lim.max_context:
        raise InputError(f"{p}: implausible context length {ctx} (must be 1..{lim.max_context:,})")
    if not 0 <= blocks <= lim.max_block_count or not 0 <= embd <= lim.max_embedding:
        raise InputError(f"{p}: implausible block count or embedding length")
    if not 1 <= vocab <= lim.max_vocab:
        raise InputError(f"{p}: implausible vocabulary size {vocab}")
    for kind in _SPECIAL_TOKENS:
        key = f"tokenizer.ggml.{kind}_token_id"
        if key not in meta:
            continue
        tid = meta[key]
        if isinstance(tid, bool) or not isinstance(tid, int):
            raise InputError(f"{p}: {key} is not an integer")
        if not 0 <= tid < vocab and not (tid == -1 or tid == 0xFFFFFFFF):
            raise InputError(f"{p}: {key} {tid} is outside the vocabulary of {vocab} tokens")


def _file_type_name(value: Any) -> str:  # noqa: ANN401
    import gguf

    if value is None:
        return "unknown"
    try:
        name = gguf.LlamaFileType(int(value)).name
    except ValueError:
        return f"type {value}"
    return name.removeprefix("MOSTLY_")


def read_gguf_info(path: Path | str) -> GgufInfo:
    """Parse a GGUF file's metadata; InputError naming the file if it is not valid.

    Uses the `gguf` package's type tables with a bounds-checked reader that skips the large
    tokenizer arrays, because `gguf.GGUFReader` materialises every vocabulary string and takes
    seconds per model; discovery has to be fast enough for `novamind doctor` and the About box.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: model file not found")
    size = p.stat().st_size
    if size < 24:
        raise InputError(f"{p}: not a GGUF model file (too small)")
    try:
        with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            meta, tensors, data_start = _parse(buf)
            n_params, end = _tensor_extent(
                tensors, data_start, _int_meta(meta, "general.alignment", 32)
            )
            if end > size:
                raise InputError(f"{p}: truncated GGUF file ({size} bytes, tensors need {end})")
            bad = _probe_finite(buf, tensors, data_start)
    except _CorruptError as exc:
        raise InputError(f"{p}: corrupt or not a GGUF model file ({exc})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: unreadable GGUF file ({type(exc).__name__})") from None
    if bad is not None:
        raise InputError(f"{p}: tensor {_short(bad)!r} holds NaN or infinite weights")
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise InputError(f"{p}: GGUF metadata lacks general.architecture")
    if not tensors:
        raise InputError(f"{p}: GGUF file holds no tensors")
    tokens = meta.get("tokenizer.ggml.tokens")
    vocab = tokens.count if isinstance(tokens, _ArrayLen) else 0
    _check_sane(p, meta, arch, vocab)
    template = meta.get("tokenizer.chat_template")
    return GgufInfo(
        path=p,
        size_bytes=size,
        name=str(meta.get("general.name") or p.stem),
        architecture=arch,
        parameters=n_params,
        file_type=_file_type_name(meta.get("general.file_type")),
        context_length=meta[f"{arch}.context_length"],
        block_count=int(meta.get(f"{arch}.block_count") or 0),
        embedding_length=int(meta.get(f"{arch}.embedding_length") or 0),
        chat_template=template if isinstance(template, str) else None,
        tokenizer_model=str(meta.get("tokenizer.ggml.model") or ""),
        vocab_size=vocab,
        size_label=str(meta.get("general.size_label") or ""),
    )


def sha256_file(path: Path | str) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) so a big model is hashed once."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest
