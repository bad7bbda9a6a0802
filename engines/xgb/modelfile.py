"""Model files: content sniffing (XGBoost JSON / UBJSON only), hashing and safe loading.

Pickle and joblib files can run arbitrary code when loaded, so they are refused by looking at the
bytes — never by trusting the file name — before anything parses them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import xgboost as xgb

from engines.errors import InputError

FORMAT_JSON = "json"
FORMAT_UBJSON = "ubj"
_UBJ_MARKERS = frozenset(b"iUIlLdDSCTFZN$#[{")
_MAX_BYTES = 256 * 1024 * 1024


def sniff_format(path: Path, data: bytes) -> str:
    """Return 'json' or 'ubj' for an XGBoost model file; refuse anything else with a reason."""
    head = data[:16]
    if not head:
        raise InputError(f"{path}: empty file, not an XGBoost model")
    if head[:1] == b"\x80" and len(head) > 1 and 1 <= head[1] <= 5:
        raise InputError(
            f"{path}: this is a Python pickle (or joblib) file; pickled models can run code "
            "when loaded and are never accepted. Export it with Booster.save_model('model.json')."
        )
    if head[:2] in (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda") or head[:2] == b"\x1f\x8b":
        raise InputError(
            f"{path}: compressed data (zlib/gzip, as joblib writes); only uncompressed XGBoost "
            "JSON or UBJSON models are accepted."
        )
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head.startswith(b"ZF"):
        raise InputError(
            f"{path}: compressed (bz2/xz/joblib) data; only XGBoost JSON or UBJSON is accepted."
        )
    stripped = data.lstrip()
    if stripped[:1] == b"{" and len(data) > 1:
        if data[:1] == b"{" and data[1] in _UBJ_MARKERS and data[1:2] != b'"':
            return FORMAT_UBJSON
        try:
            doc = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc.__class__.__name__})") from None
        if not isinstance(doc, dict) or "learner" not in doc:
            raise InputError(f"{path}: JSON without a 'learner' object, not an XGBoost model")
        return FORMAT_JSON
    raise InputError(
        f"{path}: unrecognised file content; only XGBoost JSON (.json) or UBJSON (.ubj) models "
        "are accepted (pickle/joblib are refused)."
    )


def read_model_bytes(path: Path) -> bytes:
    """Read a model file with a size cap, as a clear error if it is missing or unreadable."""
    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise InputError(f"{path}: {size} bytes is larger than the 256 MiB model limit")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: model file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read model file ({exc.strerror})") from None


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256, the identity a model card and its signature refer to."""
    return hashlib.sha256(data).hexdigest()


def load_booster(path: Path, data: bytes) -> xgb.Booster:
    """Parse already-sniffed bytes into a Booster (no file re-read, so hash and model agree)."""
    sniff_format(path, data)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "parse error"
        raise InputError(f"{path}: XGBoost cannot load this model ({first})") from None
    return booster
