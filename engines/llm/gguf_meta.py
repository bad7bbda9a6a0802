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

from app.errors import ValidationError

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


def _parse(buf: mmap.mmap) -> tuple[dict[str, Any], int, int, int]:
    """Return (metadata, parameter count, end of tensor data, tensor count)."""
    import gguf

    cur = _Cursor(buf)
    if cur.unpack("<4s") != b"GGUF":
        raise _CorruptError("bad magic bytes")
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise _CorruptError(f"unsupported GGUF version {version}")
    n_tensors = cur.unpack("<Q")
    n_kv = cur.unpack("<Q")
    if n_kv > _MAX_KV or n_tensors > _MAX_KV:
        raise _CorruptError("implausible header counts")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        meta[key] = cur.value(cur.unpack("<I"))
    infos = []
    for _ in range(n_tensors):
        cur.skip_string()
        n_dims = cur.unpack("<I")
        if n_dims > 8:
            raise _CorruptError("implausible tensor rank")
        dims = [cur.unpack("<Q") for _ in range(n_dims)]
        ttype = cur.unpack("<I")
        offset = cur.unpack("<Q")
        infos.append((dims, ttype, offset))
    align = int(meta.get("general.alignment", 32) or 32)
    data_start = (cur.pos + align - 1) // align * align
    n_params = 0
    end = data_start
    for dims, ttype, offset in infos:
        n = 1
        for d in dims:
            n *= d
        try:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ttype)]
        except (ValueError, KeyError):
            raise _CorruptError(f"unknown tensor type {ttype}") from None
        n_params += n
        end = max(end, data_start + offset + n // block * type_size)
    return meta, n_params, end, n_tensors


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
    """Parse a GGUF file's metadata; ValidationError naming the file if it is not valid.

    Uses the `gguf` package's type tables with a bounds-checked reader that skips the large
    tokenizer arrays, because `gguf.GGUFReader` materialises every vocabulary string and takes
    seconds per model; discovery has to be fast enough for `novamind doctor` and the About box.
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{p}: model file not found")
    size = p.stat().st_size
    if size < 24:
        raise ValidationError(f"{p}: not a GGUF model file (too small)")
    try:
        with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            meta, n_params, end, n_tensors = _parse(buf)
    except _CorruptError as exc:
        raise ValidationError(f"{p}: corrupt or not a GGUF model file ({exc})") from None
    except (OSError, ValueError) as exc:
        raise ValidationError(f"{p}: unreadable GGUF file ({type(exc).__name__})") from None
    if end > size:
        raise ValidationError(f"{p}: truncated GGUF file ({size} bytes, tensors need {end})")
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ValidationError(f"{p}: GGUF metadata lacks general.architecture")
    if n_tensors == 0:
        raise ValidationError(f"{p}: GGUF file holds no tensors")
    tokens = meta.get("tokenizer.ggml.tokens")
    template = meta.get("tokenizer.chat_template")
    return GgufInfo(
        path=p,
        size_bytes=size,
        name=str(meta.get("general.name") or p.stem),
        architecture=arch,
        parameters=n_params,
        file_type=_file_type_name(meta.get("general.file_type")),
        context_length=int(meta.get(f"{arch}.context_length") or 0),
        block_count=int(meta.get(f"{arch}.block_count") or 0),
        embedding_length=int(meta.get(f"{arch}.embedding_length") or 0),
        chat_template=template if isinstance(template, str) else None,
        tokenizer_model=str(meta.get("tokenizer.ggml.model") or ""),
        vocab_size=tokens.count if isinstance(tokens, _ArrayLen) else 0,
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
