"""Envelope crypto and hybrid logical clocks, without a bucket."""

from __future__ import annotations

import os

import pytest

from sync.envelope import GENESIS, BundleError, ClinicKeyWrapper, Header, open_sealed, seal
from sync.hlc import HybridClock


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


def test_round_trip_and_every_byte_is_authenticated() -> None:
    w = ClinicKeyWrapper(os.urandom(32))
    blob = seal(_header(), {"records": [{"x": 1}]}, w)
    header, body = open_sealed(blob, w)
    assert header.seq == 1 and body == {"records": [{"x": 1}]}
    for i in range(0, len(blob), max(1, len(blob) // 40)):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(BundleError):
            open_sealed(bytes(bad), w)
    with pytest.raises(BundleError):
        open_sealed(blob[:-1], w)
    with pytest.raises(BundleError):
        open_sealed(blob, ClinicKeyWrapper(os.urandom(32)))


def test_fresh_data_key_per_bundle() -> None:
    w = ClinicKeyWrapper(os.urandom(32))
    assert seal(_header(), {"a": 1}, w) != seal(_header(), {"a": 1}, w)


def test_hlc_is_monotonic_and_jumps_past_observed() -> None:
    wall = [1000]
    c = HybridClock("dev", now_ms=lambda: wall[0])
    a, b = c.now(), c.now()
    assert a < b
    c.observe("0000000009999-00003-other")
    assert c.now() > "0000000009999-00003-other"
    wall[0] = 500  # the wall clock going back does not move the HLC back
    assert c.now() > b
