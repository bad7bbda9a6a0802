"""Print the desktop bundle's runtime dependency closure as pinned requirements.

Run with the desktop venv's python: walks `novamind-desktop`'s own requirements (no extras:
test tools are not shipped) through importlib.metadata, evaluating environment markers.
Used by scripts/supply_chain.sh for pip-audit and to trim the CycloneDX SBOM, and by build.spec
(`lock_mismatches`) to refuse bundling a venv that drifted from requirements/lock.txt.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "novamind-desktop"
# The GPU variant (docs/deployment.md) swaps in the CUDA build of a CPU-only requirement.
SUBSTITUTES = {"xgboost-cpu": "xgboost"}
# Compiled locally from the PyPI sdist (scripts/setup.sh), so it cannot carry a lock hash; and
# the GPU variant's CUDA builds, installed by hand in place of the locked CPU ones.
NOT_LOCKED = {"llama-cpp-python", *SUBSTITUTES.values()}
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def closure(root: str = ROOT) -> dict[str, str]:
    """{canonical name: installed version} of everything `root` needs at run time."""
    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if canonicalize_name(name) not in SUBSTITUTES:
                raise
            dist = metadata.distribution(SUBSTITUTES[canonicalize_name(name)])
        key = canonicalize_name(dist.metadata["Name"])
        if key in seen and not extras:
            continue
        seen[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in extras] or [{"extra": ""}]
            if req.marker and not any(req.marker.evaluate(env) for env in envs):
                continue
            todo.append((req.name, frozenset(req.extras)))
    seen.pop(canonicalize_name(root), None)
    return seen


def locked_versions(lock: Path) -> dict[str, str]:
    """{canonical name: version} pinned in a pip-compile/uv lock file."""
    pins = (_PIN.match(line) for line in lock.read_text(encoding="utf-8").splitlines())
    return {canonicalize_name(m[1]): m[2] for m in pins if m}


def lock_mismatches(lock: Path) -> list[str]:
    """Runtime packages whose installed version is not the locked one ("name installed/locked")."""
    pinned = locked_versions(lock)
    return [
        f"{name} {version}/{pinned.get(name, 'not locked')}"
        for name, version in sorted(closure().items())
        if name not in NOT_LOCKED and pinned.get(name) != version
    ]


def main() -> None:
    """Write `name==version` lines, sorted, to stdout."""
    for name, version in sorted(closure().items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
