"""Large arrays (minute actigraphy) as compressed fixed-size chunks, not a row per minute."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

import numpy as np

from app.core.errors import ValidationError

CODEC = "zlib-f32le"
DEFAULT_CHUNK = 1440  # one day of minutes
MAX_CHUNK = 10 * DEFAULT_CHUNK  # the most values one chunk may declare (inflation is capped by it)


def chunk_array(values: np.ndarray, chunk: int = DEFAULT_CHUNK) -> Iterator[tuple[int, int, bytes]]:
    """Yield (index, n, compressed bytes) for consecutive chunks of a 1-D float array."""
    data = np.ascontiguousarray(values, dtype="<f4")
    for i, start in enumerate(range(0, len(data), chunk)):
        part = data[start : start + chunk]
        yield i, len(part), zlib.compress(part.tobytes(), level=6)


def join_chunks(chunks: list[tuple[int, int, str, bytes]]) -> np.ndarray:
    """Inverse of chunk_array; rejects gaps, unknown codecs and size mismatches."""
    parts = []
    for expected, (index, n, codec, blob) in enumerate(sorted(chunks)):
        if index != expected:
            raise ValidationError(f"actigraphy chunk {expected} is missing")
        if codec != CODEC:
            raise ValidationError(f"actigraphy chunk {index}: unknown codec '{codec}'")
        parts.append(np.frombuffer(inflate_chunk(index, n, blob), dtype="<f4"))
    return np.concatenate(parts) if parts else np.zeros(0, dtype="<f4")


def inflate_chunk(index: int, n: int, blob: bytes) -> bytes:
    """A chunk's bytes, inflated no further than the `n` values it declares (4 bytes each)."""
    if not 0 < n <= MAX_CHUNK:
        raise ValidationError(f"actigraphy chunk {index}: declares {n} values (1-{MAX_CHUNK})")
    d = zlib.decompressobj()
    try:
        out = d.decompress(blob, 4 * n + 1)
    except zlib.error:
        raise ValidationError(f"actigraphy chunk {index}: does not decompress") from None
    if len(out) != 4 * n or d.unconsumed_tail or not d.eof:
        raise ValidationError(f"actigraphy chunk {index}: does not hold exactly {n} values")
    return out


def content_sha256(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f4").tobytes()).hexdigest()
