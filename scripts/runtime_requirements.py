"""Print the desktop bundle's runtime dependency closure as pinned requirements.

Run with the desktop venv's python: walks `novamind-desktop`'s own requirements (no extras:
test tools are not shipped) through importlib.metadata, evaluating environment markers.
Used by scripts/supply_chain.sh for pip-audit and to trim the CycloneDX SBOM.
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "novamind-desktop"


def closure(root: str = ROOT) -> dict[str, str]:
    """{canonical name: installed version} of everything `root` needs at run time."""
    seen: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
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


def main() -> None:
    """Write `name==version` lines, sorted, to stdout."""
    for name, version in sorted(closure().items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()
