"""Actigraphy chunks from a bundle inflate no further than the values they declare."""

from __future__ import annotations

import base64
import zlib

import numpy as np
import pytest

from app.core.errors import ValidationError
from app.core.store import blobs
from sync import merge
from sync.envelope import BundleError


def _chunk(data: bytes, n: int, codec: str = blobs.CODEC) -> list[object]:
    return [0, n, codec, base64.b64encode(zlib.compress(data, 9)).decode()]


def test_a_real_chunk_passes_and_joins() -> None:
    values = np.arange(1440, dtype="<f4")
    merge._validate_chunks("actigraphy_series", [_chunk(values.tobytes(), 1440)])
    (i, n, blob), *_ = blobs.chunk_array(values)
    assert np.array_equal(blobs.join_chunks([(i, n, blobs.CODEC, blob)]), values)


@pytest.mark.parametrize(
    "chunk",
    [
        _chunk(b"\0" * (256 << 20), 1440),  # a 256 MiB bomb declaring one day
        _chunk(b"\0" * 4 * 1441, 1440),  # one value more than declared
        _chunk(b"\0" * 4 * 1440, 1440, codec="lz4"),  # unknown codec
        _chunk(b"\0" * 4 * (blobs.MAX_CHUNK + 1), blobs.MAX_CHUNK + 1),  # too many values
    ],
    ids=["bomb", "longer", "codec", "oversized"],
)
def test_a_bad_chunk_is_refused_without_inflating_it(chunk: list[object]) -> None:
    with pytest.raises(BundleError):
        merge._validate_chunks("actigraphy_series", [chunk])
    if chunk[2] == blobs.CODEC:
        with pytest.raises(ValidationError):
            blobs.join_chunks([(0, int(chunk[1]), blobs.CODEC, base64.b64decode(chunk[3]))])
