"""Large arrays (minute actigraphy) as compressed fixed-size chunks, not a row per minute."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

import numpy as np

from app.errors import ValidationError

CODEC = "zlib-f32le"
DEFAULT_CHUNK = 1440  # one day of minutes


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
        part = np.frombuffer(zlib.decompress(blob), dtype="<f4")
        if len(part) != n:
            raise ValidationError(f"actigraphy chunk {index}: holds {len(part)} values, not {n}")
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, dtype="<f4")


def content_sha256(values: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<f4").tobytes()).hexdigest()
