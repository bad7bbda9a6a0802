"""Sealed enrolment files for the fuzz tests, made with the real sealing code.

`sealed_enrolment` seals arbitrary content (bytes) under the test passphrase so that the
ciphertext authenticates and only the content is malformed; `write_corpus` (run as
`python -m tests.fuzz.sealing`) regenerates the hand-kept cases in corpus/enrolment/.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync import enrolment, sealed_file
from sync.it_keystore import ITKeystore, new_it_keystore

PASSPHRASE = "fuzz enrolment passphrase"
CORPUS = Path(__file__).with_name("corpus") / "enrolment"


def header(ks: ITKeystore) -> dict[str, Any]:
    return {
        "format": enrolment.FORMAT,
        "version": enrolment.VERSION,
        "it_fingerprint": ks.fingerprint,
    }


def sealed_enrolment(ks: ITKeystore, plain: bytes, **kw: Any) -> dict[str, Any]:  # noqa: ANN401
    """A clear document whose ciphertext authenticates under PASSPHRASE, sealing `plain`."""
    return sealed_file.seal_raw(PASSPHRASE, header(ks), ks.clinic_id, ks.public, plain, **kw)


def valid_doc(ks: ITKeystore) -> dict[str, Any]:
    return sealed_enrolment(ks, json.dumps({"event_bus": ks.event_bus}).encode())


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def cases(ks: ITKeystore) -> dict[str, bytes]:
    """The issue's hostile enrolment files, by corpus file name."""
    good = valid_doc(ks)

    def with_(**changes: Any) -> bytes:  # noqa: ANN401
        return json.dumps({**good, **changes}).encode()

    def sealing(content: bytes) -> bytes:
        return json.dumps(sealed_enrolment(ks, content)).encode()

    raw = json.dumps(good).encode()
    without_salt = {k: v for k, v in good.items() if k != "salt"}
    return {
        "salt-number.json": with_(salt=12345),
        "salt-short.json": with_(salt="AAAA"),
        "salt-missing.json": json.dumps(without_salt).encode(),
        "kdf-none.json": with_(kdf="none"),
        "kdf-unknown.json": with_(kdf="argon2id-m65536-t3-p4"),
        "kdf-huge-n.json": with_(kdf="scrypt-n4194304-r8-p1"),
        "kdf-n-not-power-of-two.json": with_(kdf="scrypt-n30000-r8-p1"),
        "kdf-huge-r.json": with_(kdf="scrypt-n32768-r99-p1"),
        "kdf-weak.json": with_(kdf="scrypt-n2-r1-p1"),
        "version-string.json": with_(version="2"),
        "version-bool.json": with_(version=True),
        "clinic-id-number.json": with_(clinic_id=7),
        "clinic-id-not-uuid.json": with_(clinic_id="not-a-clinic"),
        "nonce-wrong-length.json": with_(nonce="AAAA"),
        "ciphertext-list.json": with_(ciphertext=["a"]),
        "unknown-field.json": with_(extra={"a": 1}),
        "fingerprint-mismatch.json": with_(it_fingerprint="0000 0000"),
        "deep-nesting-clear.json": raw[:-1] + b', "deep": ' + _deep(30000).encode() + b"}",
        "top-level-list.json": b"[" + raw + b"]",
        "truncated.json": raw[: len(raw) // 2],
        "empty.json": b"",
        "not-utf8.json": b"\xff\xfe{}",
        "sealed-not-json.json": sealing(b"\xff\xfe not json"),
        "sealed-list.json": sealing(b"[1, 2, 3]"),
        "sealed-deep-nesting.json": sealing(_deep(5000).encode()),
        "sealed-event-bus-number.json": sealing(b'{"event_bus": 5}'),
        "sealed-event-bus-object.json": sealing(b'{"event_bus": {"a": [1]}}'),
        "sealed-extra-key.json": sealing(b'{"event_bus": "", "clinic_keys": {}}'),
        "sealed-event-bus-bad-name.json": sealing(b'{"event_bus": "a b\\n c"}'),
    }


def write_corpus() -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    ks = new_it_keystore("5b1c2f4e-8d0a-4c55-9b1e-0f7a3d9c6e21", "bus-fuzz")
    for name, data in cases(ks).items():
        (CORPUS / name).write_bytes(data)


if __name__ == "__main__":
    write_corpus()
