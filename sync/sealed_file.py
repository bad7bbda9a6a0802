"""IT's passphrase-sealed JSON files (the IT keystore, the enrolment file), one format.

Clear fields: `format`, `version`, `clinic_id`, `it_public_key` (base64), `kdf`, `salt`,
`nonce`, `ciphertext`, plus the few the caller names. The secret part is AES-256-GCM under
scrypt(passphrase) with the associated data `clinic_id|hex(IT key)`, so a file whose clinic
or IT key was swapped fails the tag check like a wrong passphrase does.

Everything in such a file comes from outside, so the whole file is checked before anything
is derived or decrypted: a regular file of bounded size, UTF-8 JSON of bounded nesting, exactly
the known fields with the right types, and a KDF we know with parameters in bounds (so a
hostile file can neither switch the KDF off nor make scrypt allocate gigabytes). Every refusal
is a SealedFileError (a ValidationError: the CLI exits 2) naming the file and the problem,
never the content.
"""

from __future__ import annotations

import json
import os
import re
import stat
import uuid
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from app.core.errors import ValidationError
from sync.identity import MIN_PASSPHRASE, TrustError, b64, unb64

KDF = "scrypt-n32768-r8-p1"
_KDF_RE = re.compile(r"scrypt-n([0-9]{1,7})-r([0-9]{1,2})-p([0-9])")
MIN_N, MAX_N = 2**14, 2**17  # scrypt cost bounds: never weaker than 16 MiB, never over 128 MiB
MAX_R, MAX_P = 16, 4
MAX_KDF_MEMORY = 128 * 2**20  # bytes scrypt may allocate (128 * n * r)
MAX_FILE = 1 << 20  # an enrolment file is ~1 KiB; a keystore with many key versions stays small
MAX_DEPTH = 6  # nesting of the clear document and of the sealed secret
SALT_MIN, SALT_MAX = 16, 64
BASE_FIELDS: dict[str, type] = {
    "format": str,
    "version": int,
    "clinic_id": str,
    "it_public_key": str,
    "kdf": str,
    "salt": str,
    "nonce": str,
    "ciphertext": str,
}


class SealedFileError(ValidationError):
    """A sealed IT file (enrolment file, IT keystore) is malformed; nothing was changed."""


def _kdf(passphrase: str, salt: bytes, name: str = KDF) -> bytes:
    n, r, p = kdf_params(name)
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def kdf_params(name: str) -> tuple[int, int, int]:
    """(n, r, p) of a KDF name we accept; ValueError for any other name or out-of-bounds one."""
    m = _KDF_RE.fullmatch(name)
    if m is None:
        raise ValueError("unknown KDF")
    n, r, p = (int(g) for g in m.groups())
    if n & (n - 1) or not MIN_N <= n <= MAX_N or not 1 <= r <= MAX_R or not 1 <= p <= MAX_P:
        raise ValueError("KDF parameters out of bounds")
    if 128 * n * r > MAX_KDF_MEMORY or n * r < MIN_N * 8:
        raise ValueError("KDF parameters out of bounds")
    return n, r, p


def _aad(clinic_id: str, it_public: bytes) -> bytes:
    return f"{clinic_id}|{it_public.hex()}".encode()


def seal(
    what: str,
    passphrase: str,
    header: dict[str, Any],
    clinic_id: str,
    it_public: bytes,
    secret: dict[str, Any],
) -> dict[str, Any]:
    """The document: `header` and the clinic/IT key in clear, `secret` sealed."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise ValidationError(f"{what} passphrase: use at least {MIN_PASSPHRASE} characters")
    return seal_raw(passphrase, header, clinic_id, it_public, json.dumps(secret).encode())


def seal_raw(
    passphrase: str,
    header: dict[str, Any],
    clinic_id: str,
    it_public: bytes,
    plain: bytes,
    *,
    kdf: str = KDF,
    salt: bytes | None = None,
) -> dict[str, Any]:
    """Seal arbitrary bytes (the tests seal malformed secrets with the real code path)."""
    salt = os.urandom(16) if salt is None else salt
    nonce = os.urandom(12)
    cipher = AESGCM(_kdf(passphrase, salt, kdf)).encrypt(nonce, plain, _aad(clinic_id, it_public))
    return {
        **header,
        "clinic_id": clinic_id,
        "it_public_key": b64(it_public),
        "kdf": kdf,
        "salt": b64(salt),
        "nonce": b64(nonce),
        "ciphertext": b64(cipher),
    }


def write_new(path: Path, doc: dict[str, Any], *, replace: bool = False) -> None:
    """Write mode 0600; never over an existing file unless `replace` (then atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".tmp") if replace else path
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    if replace:
        os.replace(target, path)


def _depth(value: Any, limit: int) -> bool:  # noqa: ANN401 — any JSON value
    """Is `value` nested no deeper than `limit` containers?"""
    if isinstance(value, dict | list):
        if limit <= 0:
            return False
        items = value.values() if isinstance(value, dict) else value
        return all(_depth(v, limit - 1) for v in items)
    return True


def loads(path: Path, raw: bytes, what: str) -> Any:  # noqa: ANN401 — any JSON value
    """Bounded JSON: SealedFileError for bad UTF-8, bad JSON, or nesting past MAX_DEPTH."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SealedFileError(f"{path}: {what} is not valid JSON") from None
    except RecursionError:
        raise SealedFileError(f"{path}: {what} is nested too deeply") from None
    if not _depth(value, MAX_DEPTH):
        raise SealedFileError(f"{path}: {what} is nested too deeply")
    return value


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of a regular file of at most MAX_FILE bytes; SealedFileError otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SealedFileError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as exc:
        raise SealedFileError(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SealedFileError(f"{path}: the {what} is not a regular file")
    if st.st_size > MAX_FILE:
        raise SealedFileError(f"{path}: the {what} is too big (over {MAX_FILE // 1024} KiB)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise SealedFileError(f"{path}: cannot read the {what} ({type(exc).__name__})") from None
    if len(raw) > MAX_FILE:
        raise SealedFileError(f"{path}: the {what} is too big (over {MAX_FILE // 1024} KiB)")
    return raw


def read(
    path: Path,
    what: str,
    fmt: str,
    version: int,
    hint: str = "",
    extra: dict[str, type] | None = None,
) -> dict[str, Any]:
    """The clear document, its whole schema checked; SealedFileError naming the file.

    `extra` names the caller's own clear fields (all required) and their types.
    """
    doc = loads(path, read_bytes(path, what), what)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise SealedFileError(f"{path}: not a Novamind {what}", hint=hint)
    v = doc.get("version")
    if type(v) is not int or v != version:
        shown = v if type(v) is int else "(not a number)"
        raise SealedFileError(
            f"{path}: {what} version {shown} is not supported (this version reads {version})",
            hint=hint,
        )
    fields = {**BASE_FIELDS, **(extra or {})}
    unknown = sorted(set(doc) - set(fields))
    if unknown:
        raise SealedFileError(  # the names come from the file: counted, never echoed
            f"{path}: {len(unknown)} unknown field(s) in the {what}", hint=hint
        )
    for name, kind in fields.items():
        if name not in doc:
            raise SealedFileError(f"{path}: field '{name}' is missing", hint=hint)
        value = doc[name]
        if type(value) is not kind:  # bool is not an int here; a number is not a string
            raise SealedFileError(f"{path}: field '{name}' has the wrong type", hint=hint)
        if isinstance(value, str) and len(value) > MAX_FILE:
            raise SealedFileError(f"{path}: field '{name}' is too long", hint=hint)
    try:
        kdf_params(doc["kdf"])
    except ValueError as exc:
        raise SealedFileError(f"{path}: field 'kdf': {exc}", hint=hint) from None
    return doc


def open_secret(path: Path, doc: dict[str, Any], passphrase: str) -> tuple[str, bytes, Any]:
    """(clinic id, IT public key, the secret JSON) of a document `read` returned."""
    try:
        clinic_id = str(uuid.UUID(doc["clinic_id"]))
        if clinic_id != doc["clinic_id"].lower():
            raise ValueError("clinic id is not in canonical form")
    except (ValueError, TypeError, AttributeError):
        raise SealedFileError(f"{path}: field 'clinic_id' is not a UUID") from None
    values: dict[str, bytes] = {}
    for name, size in (("it_public_key", 32), ("nonce", 12), ("salt", None), ("ciphertext", None)):
        try:
            values[name] = unb64(doc[name], name, size)
        except TrustError as exc:
            raise SealedFileError(f"{path}: field {exc}") from None
    if not SALT_MIN <= len(values["salt"]) <= SALT_MAX:
        raise SealedFileError(f"{path}: field salt has the wrong length")
    if len(values["ciphertext"]) < 16:
        raise SealedFileError(f"{path}: field ciphertext is truncated")
    it_public = values["it_public_key"]
    try:
        key = _kdf(passphrase, values["salt"], doc["kdf"])
        aad = _aad(clinic_id, it_public)
        plain = AESGCM(key).decrypt(values["nonce"], values["ciphertext"], aad)
    except (InvalidTag, ValueError):
        raise SealedFileError(f"{path}: wrong passphrase or damaged file") from None
    return clinic_id, it_public, loads(path, plain, "sealed content")
