"""Packaged app (dist/novamind): size on disk, its ten biggest components, and cold start of
the bundle side by side with the source install (`python -m ui.launcher`), both measured as
process start -> first painted window (`--exit-after-paint`) on the same existing store, under
Xvfb with a private gnome-keyring. Run: python -m tests.bench.bench_bundle [runs]"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
from pathlib import Path

from tests.frozen.harness import BUNDLE_DIR, EXE, REPO, clean_env, missing_tools, run_bundle

PAINT = re.compile(r"first paint after ([0-9.]+) s")


def tree_size(path: Path) -> int:
    """Bytes of all regular files under `path` (symlinks not followed or counted twice)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def components(bundle: Path) -> list[tuple[str, int]]:
    """Top-level entries of the bundle's _internal folder, biggest first."""
    inner = bundle / "_internal"
    sizes = [
        (p.name, tree_size(p) if p.is_dir() else p.stat().st_size)
        for p in inner.iterdir()
        if not p.is_symlink()
    ]
    return sorted(sizes, key=lambda t: -t[1])


def cold_starts(exe: list[str] | None, env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    """Seconds from process start to the first painted window, one per run."""
    out = []
    for _ in range(runs):
        proc = run_bundle(["--exit-after-paint"], env, cwd=cwd, timeout=120, exe=exe)
        m = PAINT.search(proc.stdout)
        if proc.returncode != 0 or not m:
            raise RuntimeError(f"start failed (rc={proc.returncode}): {proc.stderr[-2000:]}")
        out.append(float(m.group(1)))
    return out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    if not EXE.is_file() or missing_tools():
        print(f"no bundle at {BUNDLE_DIR} or missing {missing_tools()}: build it first")
        return
    total = tree_size(BUNDLE_DIR)
    print(f"## Bundle size\n\n{BUNDLE_DIR.relative_to(REPO)}: {total / 2**20:.0f} MiB\n")
    print("| component (_internal/) | MiB | share |\n|---|---:|---:|")
    for name, size in components(BUNDLE_DIR)[:10]:
        print(f"| {name} | {size / 2**20:.1f} | {size / total:.0%} |")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "policy.toml").write_text("", encoding="utf-8")
        env = clean_env(root / "data", root / "policy.toml")
        made = run_bundle(["demo", "--no-model", "--patients", "3"], env, cwd=root, timeout=300)
        if made.returncode != 0:
            raise RuntimeError(f"demo failed: {made.stderr[-2000:]}")
        frozen = cold_starts(None, env, root, runs)
        # the source install: same store and keyring, the repository on the path
        src_env = {**env, "PYTHONPATH": str(REPO)}
        from_src = cold_starts([sys.executable, "-m", "ui.launcher"], src_env, REPO, runs)
    f, s = statistics.median(frozen), statistics.median(from_src)
    print(f"\n## Cold start to first painted window ({runs} runs each, median)\n")
    print("| build | median s | min s | max s |\n|---|---:|---:|---:|")
    print(f"| bundle (dist/novamind) | {f:.2f} | {min(frozen):.2f} | {max(frozen):.2f} |")
    print(
        f"| source (python -m ui.launcher) | {s:.2f} | {min(from_src):.2f} | {max(from_src):.2f} |"
    )
    print(f"| ratio bundle / source | {f / s:.2f} | | |")


if __name__ == "__main__":
    main()
