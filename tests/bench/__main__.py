"""Run every benchmark (or the ones named): `python -m tests.bench [name ...]`."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import sys
from datetime import date

import tests.bench as pkg


def main(argv: list[str]) -> int:
    names = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(pkg.__path__)
        if m.name.startswith("bench_")
    )
    chosen = argv or names
    unknown = set(chosen) - set(names)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(names)}")
        return 2
    print(
        f"# Novamind benchmarks — {date.today()} — {platform.node()} "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()})\n"
    )
    for name in chosen:
        print(f"## {name}\n")
        importlib.import_module(f"tests.bench.bench_{name}").main()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
