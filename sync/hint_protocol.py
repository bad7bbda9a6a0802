"""The workstation hint protocol (gateway /ws/hints): message shapes, the signed hello, checks.

Shared by the gateway (gateway/hints.py) and the desktop client (app/services/instant_sync.py)
so both sides agree byte for byte. Every frame is a small JSON object of ids and counters,
never chart content: a hint only means "sync now".

    server → client  {"type":"challenge","nonce":B64,"audience":GATEWAY_DEVICE_ID}
    client → server  {"type":"hello","device":DEVICE_ID,"ts":UNIX_MS,"sig":B64}
    server → client  {"type":"ready"}
    server → client  {"type":"hint","kind":"bundle"|"alert","seq":N,"origin":DEVICE_ID|""}
    client → server  {"type":"pushed"}

The hello signs (purpose, clinic, device, nonce, audience, ts) with the device's Ed25519 key
(sync.identity); the gateway checks it against the clinic registry it verified from IT's key,
so a claimed device id alone proves nothing. The nonce is fresh per connection (a captured
hello does not open another connection), the audience binds it to one gateway node, and the
timestamp bounds how long a hello is good for.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.identity import TrustError, b64, canonical, unb64, verify_raw
from sync.registry import Registry

PATH = "/ws/hints"
PURPOSE = "novamind-gateway-hints/1"
NONCE_BYTES = 32
MAX_FRAME = 1024  # bytes: the largest frame either side accepts (a hello is ~250)
MAX_SKEW_MS = 60_000  # a hello's timestamp may be this far from the gateway's clock
HELLO_TIMEOUT_S = 5.0  # the gateway waits this long for the hello, then closes
# close codes (RFC 6455 private range, mirroring HTTP)
CLOSE_MALFORMED = 4400  # not a protocol message (or too large)
CLOSE_UNAUTHENTICATED = 4401  # no hello, bad signature, unknown device, stale timestamp
CLOSE_FORBIDDEN = 4403  # a revoked device
CLOSE_SLOW = 4408  # the client did not take its hints in time
CLOSE_TOO_BIG = 1009  # RFC 6455: message too big


class ProtocolError(ValueError):
    """A frame that is not a protocol message (short reason, no content echoed)."""


@dataclass(frozen=True)
class Challenge:
    nonce: bytes
    audience: str


@dataclass(frozen=True)
class Hello:
    device: str
    ts: int
    sig: bytes


@dataclass(frozen=True)
class HintMessage:
    kind: str
    seq: int
    origin: str


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def signing_payload(clinic: str, device: str, nonce: bytes, audience: str, ts: int) -> bytes:
    """The exact bytes a hello signs (canonical JSON with a purpose tag: no other signed
    document of the clinic can be passed off as a hello, nor a hello as one of them)."""
    return canonical(
        {
            "purpose": PURPOSE,
            "clinic": clinic,
            "device": device,
            "nonce": b64(nonce),
            "audience": audience,
            "ts": ts,
        }
    )


def encode(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def challenge(nonce: bytes, audience: str) -> str:
    return encode({"type": "challenge", "nonce": b64(nonce), "audience": audience})


def hello(
    key: Ed25519PrivateKey, clinic: str, device: str, ch: Challenge, ts: int
) -> str:  # the client's answer to a challenge
    sig = key.sign(signing_payload(clinic, device, ch.nonce, ch.audience, ts))
    return encode({"type": "hello", "device": device, "ts": ts, "sig": b64(sig)})


READY = encode({"type": "ready"})
PUSHED = encode({"type": "pushed"})


def hint(kind: str, seq: int, origin: str) -> str:
    return encode({"type": "hint", "kind": kind, "seq": seq, "origin": origin})


def _object(frame: str | bytes, want: str, fields: dict[str, type]) -> dict[str, Any]:
    """The frame as a JSON object of exactly ``fields`` (plus "type" == want)."""
    if len(frame) > MAX_FRAME:
        raise ProtocolError("frame too large")
    try:
        doc = json.loads(frame)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise ProtocolError("frame is not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != want:
        raise ProtocolError(f"expected a {want} message")
    if set(doc) != {"type", *fields}:
        raise ProtocolError(f"{want} message has unexpected or missing fields")
    for name, typ in fields.items():
        value = doc[name]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise ProtocolError(f"{want} field {name} has the wrong type")
        if isinstance(value, str) and len(value) > 200:
            raise ProtocolError(f"{want} field {name} is too long")
    return doc


def parse_challenge(frame: str | bytes) -> Challenge:
    doc = _object(frame, "challenge", {"nonce": str, "audience": str})
    try:
        nonce = unb64(doc["nonce"], "nonce", NONCE_BYTES)
    except TrustError:
        raise ProtocolError("challenge nonce is malformed") from None
    return Challenge(nonce, doc["audience"])


def parse_hello(frame: str | bytes) -> Hello:
    doc = _object(frame, "hello", {"device": str, "ts": int, "sig": str})
    try:
        sig = unb64(doc["sig"], "signature", 64)
    except TrustError:
        raise ProtocolError("hello signature is malformed") from None
    return Hello(doc["device"], doc["ts"], sig)


def parse_pushed(frame: str | bytes) -> None:
    _object(frame, "pushed", {})


def parse_ready(frame: str | bytes) -> None:
    _object(frame, "ready", {})


def parse_hint(frame: str | bytes) -> HintMessage:
    doc = _object(frame, "hint", {"kind": str, "seq": int, "origin": str})
    return HintMessage(doc["kind"], doc["seq"], doc["origin"])


class RevokedError(TrustError):
    """The device is enrolled but IT revoked it."""


def verify_hello(
    reg: Registry, h: Hello, nonce: bytes, audience: str, now_ms: int
) -> None:  # raises TrustError (RevokedError for a revoked device); returns when it verifies
    """Check a hello against the clinic registry the gateway verified from IT's key: a
    certified device, not revoked, its signature over this connection's nonce and this
    gateway, a timestamp within MAX_SKEW_MS."""
    if h.device in reg.revoked:
        raise RevokedError("device is revoked")
    cert = reg.cert(h.device)  # TrustError for a device IT never certified
    if abs(now_ms - h.ts) > MAX_SKEW_MS:
        raise TrustError("hello timestamp is too far from the gateway's clock")
    payload = signing_payload(reg.clinic, h.device, nonce, audience, h.ts)
    verify_raw(cert.sign_key, h.sig, payload)
