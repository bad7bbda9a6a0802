"""The bundle envelope: a clear header, a wrapped data key, an encrypted body, a signature.

Layout (format version 2; all integers big-endian):

    b"NMSB" | u8 format version | u32 header length | header (canonical JSON, UTF-8)
    | u16 wrapped-key length | wrapped data key | 12-byte nonce | AES-256-GCM(body) + 16-byte tag
    | 64-byte Ed25519 signature of the authoring device over every byte before it

The signature is checked against the device registry before anything is decrypted. The
header is not secret but is authenticated twice: by the signature, and as the associated data
of both the data-key wrap and the body encryption. It names the clinic-key version (`kv`)
that wrapped the data key. The body is zlib-compressed JSON, inflated in bounded steps up to
a cap. A fresh random 256-bit data key is made for every bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"NMSB"
FORMAT_VERSION = 2
GENESIS = "0" * 64
MAX_HEADER = 64 * 1024
SIGNATURE_LEN = 64
INFLATE_STEP = 1 << 20
DEFAULT_MAX_INFLATED = 64 * 1024 * 1024


class BundleError(Exception):
    """A bundle failed a check; the message is a short reason without any PHI."""


class KeyWrapper(Protocol):
    """Wraps and unwraps a bundle's data key (the clinic key locally; AWS KMS optionally)."""

    name: str

    def wrap(self, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes: ...


class ClinicKeyWrapper:
    """AES-256-GCM key wrap under a key-encryption key derived from the clinic key."""

    name = "clinic-aesgcm"

    def __init__(self, clinic_key: bytes) -> None:
        if len(clinic_key) != 32:
            raise ValueError("the clinic key must be 32 bytes")
        kek = hashlib.sha256(b"novamind-sync-kek-v1" + clinic_key).digest()
        self._aead = AESGCM(kek)

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        if len(wrapped) != 12 + 32 + 16:
            raise BundleError("wrapped data key has the wrong length")
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], aad)
        except InvalidTag:
            raise BundleError("data key does not unwrap (wrong clinic key or tampered)") from None


class ClinicKeyRing:
    """Every clinic-key version this workstation holds, and the one new bundles use."""

    def __init__(self, versions: dict[int, bytes], current: int) -> None:
        if current not in versions:
            raise ValueError("the current clinic-key version is not held")
        self._wrappers = {v: ClinicKeyWrapper(k) for v, k in versions.items()}
        self.current = current
        self.current_key = versions[current]

    def wrapper(self, version: int) -> ClinicKeyWrapper:
        """The wrapper of one key version; BundleError when this workstation lacks it."""
        try:
            return self._wrappers[version]
        except KeyError:
            raise BundleError(f"clinic-key version {version} is not held here") from None


class KmsKeyWrapper:
    """Optional production wrapper: AWS KMS Encrypt/Decrypt of the data key (boto3 kms client).

    The encryption context binds the wrapped key to the header hash, like the AAD does locally.
    """

    name = "aws-kms"

    def __init__(self, kms_client: Any, key_id: str) -> None:  # noqa: ANN401 — a boto3 client
        self._kms = kms_client
        self._key_id = key_id

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        ctx = {"novamind-header-sha256": hashlib.sha256(aad).hexdigest()}
        out = self._kms.encrypt(KeyId=self._key_id, Plaintext=data_key, EncryptionContext=ctx)
        return bytes(out["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        ctx = {"novamind-header-sha256": hashlib.sha256(aad).hexdigest()}
        try:
            out = self._kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=ctx)
        except Exception:  # noqa: BLE001 — any KMS refusal means: cannot open this bundle
            raise BundleError("KMS refused to unwrap the data key") from None
        return bytes(out["Plaintext"])


@dataclass(frozen=True)
class Header:
    """The authenticated clear header of a bundle."""

    clinic: str
    device: str
    seq: int
    prev: str
    kind: str  # changes | snapshot
    deps: dict[str, int]
    wrap: str
    created: str
    kv: int = 1

    def encode(self) -> bytes:
        body = {
            "v": FORMAT_VERSION,
            "clinic": self.clinic,
            "device": self.device,
            "seq": self.seq,
            "prev": self.prev,
            "kind": self.kind,
            "deps": self.deps,
            "wrap": self.wrap,
            "created": self.created,
            "kv": self.kv,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        try:
            d = json.loads(raw.decode("utf-8"))
            header = cls(
                clinic=str(d["clinic"]),
                device=str(d["device"]),
                seq=int(d["seq"]),
                prev=str(d["prev"]),
                kind=str(d["kind"]),
                deps={str(k): int(v) for k, v in dict(d["deps"]).items()},
                wrap=str(d["wrap"]),
                created=str(d["created"]),
                kv=int(d["kv"]),
            )
            version = int(d["v"])
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
            # read before the signature is checked: anything in it is hostile until then
            raise BundleError("header is not valid") from None
        if version != FORMAT_VERSION:
            raise BundleError(f"unsupported format version {version}")
        if header.kind not in {"changes", "snapshot"} or len(header.prev) != 64 or header.kv < 1:
            raise BundleError("header is not valid")
        return header


def seal(
    header: Header, body: dict[str, Any], wrapper: KeyWrapper, signer: Ed25519PrivateKey
) -> bytes:
    """Encrypt `body` under a fresh data key wrapped by `wrapper`, sign; the object bytes."""
    plain = zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)
    return seal_compressed(header, plain, wrapper, signer)


def seal_compressed(
    header: Header, compressed: bytes, wrapper: KeyWrapper, signer: Ed25519PrivateKey
) -> bytes:
    """`seal` for a body that is already zlib-compressed JSON."""
    raw_header = header.encode()
    aad = MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(raw_header)) + raw_header
    data_key = AESGCM.generate_key(bit_length=256)
    wrapped = wrapper.wrap(data_key, aad)
    nonce = os.urandom(12)
    cipher = AESGCM(data_key).encrypt(nonce, compressed, aad)
    signed = b"".join((aad, struct.pack(">H", len(wrapped)), wrapped, nonce, cipher))
    return signed + signer.sign(signed)


def read_header(blob: bytes) -> tuple[Header, int]:
    """Parse the clear header (not yet authenticated) and return it with the offset after it."""
    if len(blob) < 9 or blob[:4] != MAGIC:
        raise BundleError("not a Novamind bundle (bad magic or truncated)")
    if blob[4] != FORMAT_VERSION:
        raise BundleError(f"unsupported format version {blob[4]}")
    (hlen,) = struct.unpack(">I", blob[5:9])
    if hlen > MAX_HEADER or 9 + hlen + 2 + SIGNATURE_LEN > len(blob):
        raise BundleError("truncated header")
    return Header.decode(blob[9 : 9 + hlen]), 9 + hlen


def signed_part(blob: bytes) -> tuple[bytes, bytes]:
    """(the signed bytes, the device's signature) of a bundle."""
    if len(blob) <= SIGNATURE_LEN:
        raise BundleError("truncated bundle")
    return blob[:-SIGNATURE_LEN], blob[-SIGNATURE_LEN:]


def open_sealed(
    blob: bytes, wrapper: KeyWrapper, max_inflated: int = DEFAULT_MAX_INFLATED
) -> tuple[Header, dict[str, Any]]:
    """Decrypt a bundle whose signature the caller has verified; BundleError for anything bad."""
    header, off = read_header(blob)
    blob, _ = signed_part(blob)
    aad = blob[:off]
    (wlen,) = struct.unpack(">H", blob[off : off + 2])
    off += 2
    if off + wlen + 12 + 16 > len(blob):
        raise BundleError("truncated bundle")
    data_key = wrapper.unwrap(blob[off : off + wlen], aad)
    off += wlen
    nonce, cipher = blob[off : off + 12], blob[off + 12 :]
    try:
        plain = AESGCM(data_key).decrypt(nonce, cipher, aad)
    except InvalidTag:
        raise BundleError("authentication tag does not match (tampered or truncated)") from None
    try:
        body = json.loads(inflate(plain, max_inflated))
    except (zlib.error, ValueError, RecursionError):
        raise BundleError("body does not decode") from None
    if not isinstance(body, dict):
        raise BundleError("body is not an object")
    return header, body


def inflate(data: bytes, cap: int) -> bytes:
    """zlib-decompress in bounded steps; BundleError as soon as the output passes `cap` bytes."""
    d = zlib.decompressobj()
    parts: list[bytes] = []
    total = 0
    pending = data
    while not d.eof:
        chunk = d.decompress(pending, INFLATE_STEP)
        pending = d.unconsumed_tail
        total += len(chunk)
        if total > cap:
            raise BundleError(f"body inflates beyond the cap of {cap // (1 << 20)} MiB")
        parts.append(chunk)
        if not chunk and not pending:
            raise BundleError("body is truncated")
    return b"".join(parts)


def digest(blob: bytes) -> str:
    """The hash that chains a device's bundles (sha256 of the whole object)."""
    return hashlib.sha256(blob).hexdigest()
