"""Sync bundles meet hostile bytes (issue 18, item 2).

Every mutated bundle — random header fields, truncations, bit flips, huge declared lengths,
bad compression, malformed bodies (even correctly encrypted and signed by a real device key,
as a compromised device could) — ends in the envelope's own BundleError, which the engine
turns into a quarantine; never another exception. `open_bundle` runs the checks of
SyncEngine.verify in its order, on the envelope functions directly (fast); one end-to-end
test sends corpus bundles through the moto server and sees them quarantined.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services import sync_service
from sync import audit_share, envelope, merge
from sync.envelope import BundleError, ClinicKeyWrapper, Header
from sync.identity import DeviceKeys, TrustError, verify_raw
from tests.fuzz.conftest import CORPUS

CLINIC_KEY = bytes(range(32))
WRAPPER = ClinicKeyWrapper(CLINIC_KEY)
# a device key from a fixed seed, so the corpus bundles carry signatures that verify
DEVICE = DeviceKeys(
    Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33))),
    X25519PrivateKey.from_private_bytes(bytes(range(2, 34))),
)
BUNDLES = CORPUS / "bundles"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


HEADER_FIELDS = ["v", "clinic", "device", "seq", "prev", "kind", "deps", "wrap", "created", "kv"]


def header(**changes: Any) -> Header:  # noqa: ANN401
    base = {
        "clinic": "c0ffee00-0000-4000-8000-000000000001",
        "device": "d0000000-0000-4000-8000-000000000002",
        "seq": 1,
        "prev": envelope.GENESIS,
        "kind": "changes",
        "deps": {},
        "wrap": WRAPPER.name,
        "created": "2026-01-01T00:00:00+00:00",
        "kv": 1,
    }
    return Header(**{**base, **changes})


def valid_body() -> dict[str, Any]:
    return {"records": [], "audit": []}


def good_blob() -> bytes:
    return envelope.seal(header(), valid_body(), WRAPPER, DEVICE.sign)


good_blob.cached = good_blob()  # type: ignore[attr-defined]


def open_bundle(blob: bytes) -> dict[str, Any]:
    """SyncEngine.verify's checks, in its order: header, signature, decryption, records."""
    envelope.read_header(blob)
    signed, signature = envelope.signed_part(blob)
    try:
        verify_raw(DEVICE.sign_public, signature, signed)
    except TrustError as exc:
        raise BundleError(str(exc)) from None
    _, body = envelope.open_sealed(blob, WRAPPER, 1 << 20)
    merge.validate(body)
    audit_share.validate(body.get("audit"))
    return body


def refused(blob: bytes) -> None:
    with pytest.raises(BundleError):
        open_bundle(blob)


def assemble(raw_header: bytes, compressed: bytes, *, hlen: int | None = None) -> bytes:
    """A bundle around any header bytes and compressed body, encrypted and signed for real."""
    aad = (
        envelope.MAGIC
        + bytes([envelope.FORMAT_VERSION])
        + struct.pack(">I", len(raw_header) if hlen is None else hlen)
        + raw_header
    )
    key = bytes(32)
    wrapped = WRAPPER.wrap(key, aad)
    nonce = bytes(12)
    cipher = AESGCM(key).encrypt(nonce, compressed, aad)
    signed = b"".join((aad, struct.pack(">H", len(wrapped)), wrapped, nonce, cipher))
    return signed + DEVICE.sign.sign(signed)


def test_the_good_bundle_opens() -> None:
    assert open_bundle(good_blob()) == valid_body()


@settings(settings.get_profile("fuzz"), max_examples=300)
@given(data=st.data())
def test_byte_mutations_are_bundle_errors(data: Any) -> None:  # noqa: ANN401
    blob = bytearray(good_blob.cached)
    how = data.draw(st.sampled_from(["truncate", "flip", "insert", "splice"]))
    if how == "truncate":
        blob = blob[: data.draw(st.integers(0, len(blob) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= data.draw(st.integers(1, 255))
    elif how == "insert":
        i = data.draw(st.integers(0, len(blob)))
        blob[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    else:  # a declared length replaced by anything up to 2**32-1
        at = data.draw(st.sampled_from([5, 9 + len(header().encode())]))
        width = 4 if at == 5 else 2
        blob[at : at + width] = data.draw(st.integers(0, 256**width - 1)).to_bytes(width, "big")
    if bytes(blob) != good_blob.cached:  # two flips of one byte can cancel out
        refused(bytes(blob))


@settings(settings.get_profile("fuzz"), max_examples=150)
@given(field=st.sampled_from(HEADER_FIELDS), value=JSON, drop=st.booleans())
def test_signed_bundles_with_bad_header_fields(field: str, value: Any, drop: bool) -> None:  # noqa: ANN401
    """Header fields replaced by any JSON value, under a valid signature and encryption."""
    doc = json.loads(header().encode())
    doc["v"] = envelope.FORMAT_VERSION
    if drop:
        doc.pop(field, None)
    else:
        doc[field] = value
    blob = assemble(json.dumps(doc).encode(), zlib.compress(b'{"records": []}'))
    try:
        parsed = Header.decode(json.dumps(doc).encode())
    except BundleError:
        refused(blob)
        return
    assert isinstance(parsed.seq, int) and isinstance(parsed.kv, int)  # parsed: typed fields


@settings(settings.get_profile("fuzz"), max_examples=150)
@given(body=JSON)
def test_signed_bundles_with_malformed_bodies(body: Any) -> None:  # noqa: ANN401
    """Any decrypted JSON as the body (records and audit of every wrong shape)."""
    if isinstance(body, dict) and isinstance(body.get("records"), list):
        body["records"].append({"t": ["not", "a", "table"], "id": 1})
    refused(envelope.seal(header(), {"records": body} if body else body, WRAPPER, DEVICE.sign))


@settings(settings.get_profile("fuzz"), max_examples=150)
@given(entry=st.dictionaries(st.sampled_from(["t", "id", "v", "c", "chunks"]), JSON, max_size=5))
def test_signed_bundles_with_malformed_record_entries(entry: dict[str, Any]) -> None:
    if entry.get("t") is None:
        entry["t"] = "patients"
    body = {"records": [entry], "audit": []}
    refused(envelope.seal(header(), body, WRAPPER, DEVICE.sign))


@settings(settings.get_profile("fuzz"), max_examples=80)
@given(compressed=st.binary(max_size=200))
def test_bad_compression_is_a_bundle_error(compressed: bytes) -> None:
    blob = assemble(header().encode(), compressed)
    try:
        json.loads(zlib.decompress(compressed))
    except (zlib.error, ValueError, RecursionError):
        refused(blob)


@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in BUNDLES.glob("*.bin")) if BUNDLES.exists() else [],
)
def test_corpus_bundles_are_bundle_errors(name: str) -> None:
    refused((BUNDLES / name).read_bytes())


def corpus_cases() -> dict[str, bytes]:
    """The hand-kept hostile bundles (regenerate: python -m tests.fuzz.test_fuzz_bundles)."""
    good = good_blob()
    deep = b"[" * 100_000 + b"]" * 100_000
    bomb = zlib.compress(b'{"records": [' + b" " * (8 << 20) + b"]}", 9)
    return {
        "empty.bin": b"",
        "magic-only.bin": envelope.MAGIC,
        "truncated-half.bin": good[: len(good) // 2],
        "huge-header-length.bin": good[:5] + b"\xff\xff\xff\xff" + good[9:],
        "huge-wrapped-key-length.bin": assemble(header().encode(), b"x")[:9]
        + good[9 : 9 + len(header().encode())]
        + b"\xff\xff"
        + good[11 + len(header().encode()) :],
        "header-deep-nesting.bin": assemble(b"[" * 30_000 + b"]" * 30_000, b""),
        "header-infinite-seq.bin": assemble(
            header().encode().replace(b'"seq":1', b'"seq":Infinity'), zlib.compress(b"{}")
        ),
        "body-not-zlib.bin": assemble(header().encode(), b"not zlib at all"),
        "body-deep-nesting.bin": assemble(header().encode(), zlib.compress(deep, 9)),
        "body-inflation-bomb.bin": assemble(header().encode(), bomb),
        "body-list.bin": assemble(header().encode(), zlib.compress(b"[1, 2]")),
        "record-table-is-list.bin": assemble(
            header().encode(), zlib.compress(b'{"records": [{"t": ["x"], "id": "1"}]}')
        ),
        "chunk-is-object.bin": envelope.seal(
            header(),
            {"records": [_series_entry([{"a": 1}])], "audit": []},
            WRAPPER,
            DEVICE.sign,
        ),
    }


def _series_entry(chunks: Any) -> dict[str, Any]:  # noqa: ANN401
    from sync import records

    cols = records.columns("actigraphy_series")
    return {
        "t": "actigraphy_series",
        "id": "s1",
        "v": dict.fromkeys(cols),
        "c": {c: ["0000000000001-00000-d", "0000000000000-00000-"] for c in cols},
        "chunks": chunks,
    }


if __name__ == "__main__":
    BUNDLES.mkdir(parents=True, exist_ok=True)
    for fname, data in corpus_cases().items():
        Path(BUNDLES / fname).write_bytes(data)


# ---- a few end to end: planted in the moto bucket, pulled by a real workstation ----------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from tests.support.moto import running_moto

    with running_moto() as url:
        yield url


E2E = {
    # read before any signature check: anyone who can write to the bucket can plant it
    "unsigned-header-infinite-seq": None,
    # signed and encrypted by a certified device (stolen keys, or a buggy build)
    "signed-body-deep-nesting": b"[" * 100_000 + b"]" * 100_000,
    "signed-record-table-is-list": b'{"records": [{"t": ["x"], "id": "1"}], "audit": []}',
}


@pytest.mark.parametrize("case", sorted(E2E))
def test_planted_bundles_are_quarantined_end_to_end(
    case: str, moto_url: str, tmp_path: Path
) -> None:
    from sync.transport import bundle_key
    from tests.integration.sync.forge import announce_bundle, engine_of, forge, next_position
    from tests.integration.sync.helpers import add_patients, dump, make_bucket, open_workstation

    bucket = make_bucket(moto_url, tmp_path)
    a, b = (open_workstation(tmp_path, n, bucket) for n in ("ws-a", "ws-b"))
    try:
        add_patients(a, 1, "E")
        a.sync(), b.sync()
        eng = engine_of(a)
        clinic, device = eng.id.clinic_id, eng.id.device_id
        if E2E[case] is None:
            seq, prev = next_position(bucket, clinic, device)
            raw = header(clinic=clinic, device=device, seq=seq, prev=prev).encode()
            raw = raw.replace(f'"seq":{seq}'.encode(), b'"seq":Infinity')
            blob = assemble(raw, zlib.compress(b"{}"))
            bucket.s3().put_object(
                Bucket=bucket.name, Key=bundle_key(clinic, device, seq), Body=blob
            )
            announce_bundle(bucket, clinic, device, seq)
        else:
            forge(bucket, a, [], compressed=zlib.compress(E2E[case], 9))
        before = dump(b)
        report = b.sync()  # no exception: the bundle is refused and quarantined
        assert report.quarantined and dump(b) == before
        assert sync_service.sync_status(b.ctx).quarantined == 1
    finally:
        a.close(), b.close()
