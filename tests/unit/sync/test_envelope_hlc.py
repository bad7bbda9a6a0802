"""Envelope crypto and hybrid logical clocks, without a bucket."""

from __future__ import annotations

import os
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.envelope import (
    GENESIS,
    BundleError,
    ClinicKeyWrapper,
    Header,
    inflate,
    open_sealed,
    seal,
    signed_part,
)
from sync.hlc import HybridClock
from sync.identity import TrustError, raw_public, verify_raw

SIGNER = Ed25519PrivateKey.generate()


def _header(**kw: object) -> Header:
    base = dict(
        clinic="c",
        device="d",
        seq=1,
        prev=GENESIS,
        kind="changes",
        deps={},
        wrap="clinic-aesgcm",
        created="2026-11-25T00:00:00+00:00",
    )
    base.update(kw)
    return Header(**base)  # type: ignore[arg-type]


def _verify(blob: bytes) -> None:
    signed, signature = signed_part(blob)
    verify_raw(raw_public(SIGNER), signature, signed)


def test_round_trip_and_every_byte_is_authenticated() -> None:
    w = ClinicKeyWrapper(os.urandom(32))
    blob = seal(_header(kv=3), {"records": [{"x": 1}]}, w, SIGNER)
    _verify(blob)
    header, body = open_sealed(blob, w)
    assert header.seq == 1 and header.kv == 3 and body == {"records": [{"x": 1}]}
    for i in range(0, len(blob), max(1, len(blob) // 40)):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(TrustError):  # the device signature covers every byte
            _verify(bytes(bad))
        if i < len(blob) - 64:
            with pytest.raises(BundleError):  # and the AEAD every byte before it
                open_sealed(bytes(bad), w)
    with pytest.raises(BundleError):
        open_sealed(blob[:-65], w)
    with pytest.raises(BundleError):
        open_sealed(blob, ClinicKeyWrapper(os.urandom(32)))


def test_fresh_data_key_per_bundle() -> None:
    w = ClinicKeyWrapper(os.urandom(32))
    assert seal(_header(), {"a": 1}, w, SIGNER) != seal(_header(), {"a": 1}, w, SIGNER)


def test_inflate_stops_at_the_cap() -> None:
    bomb = zlib.compress(b"\0" * (50 << 20), 9)  # 50 MiB of zeros in ~50 KB
    assert inflate(zlib.compress(b"x" * 1000), 1 << 20) == b"x" * 1000
    with pytest.raises(BundleError, match="cap"):
        inflate(bomb, 8 << 20)
    with pytest.raises(BundleError, match="truncated"):
        inflate(zlib.compress(b"y" * 100_000)[:-10], 1 << 20)


def test_hlc_is_monotonic_and_jumps_past_observed() -> None:
    wall = [1000]
    c = HybridClock("dev", now_ms=lambda: wall[0])
    a, b = c.now(), c.now()
    assert a < b
    c.observe("0000000009999-00003-other")
    assert c.now() > "0000000009999-00003-other"
    wall[0] = 500  # the wall clock going back does not move the HLC back
    assert c.now() > b
