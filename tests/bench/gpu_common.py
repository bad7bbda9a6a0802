"""Shared parts of the GPU checks (`tests/bench/gpu.sh`): the GPU's facts, results, tables.

Each `gpu_*.py` check prints a markdown table and writes its figures as JSON to
`$OUT/gpu_<name>.json` when OUT is set (the device tool brings $OUT back), else under
`bench-results/` (git-ignored). A dry run (`--dry-run`) is the same code on the CPU with tiny
shapes, so the checks are known to work before any GPU time is spent.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Peak memory bandwidth (GB/s, vendor data sheets) by a substring of nvidia-smi's name, longest
# match first; used when the CUDA runtime cannot report clock and bus width.
BANDWIDTH_GBS = {
    "H200": 4800.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,  # SXM5 80 GB HBM3
    "A100-SXM4-80GB": 2039.0,
    "A100-PCIE-80GB": 1935.0,
    "A100": 1555.0,  # 40 GB
    "L40S": 864.0,
    "L4": 300.0,
    "RTX 4090": 1008.0,
}


@dataclass(frozen=True)
class Gpu:
    """What the bound and the report need to know about the accelerator."""

    name: str
    memory_mib: int
    driver: str
    bandwidth_gbs: float  # peak, from the runtime's clock x bus width or the table
    bandwidth_source: str


def dry_run(argv: list[str] | None = None) -> bool:
    """True when the check was asked for a CPU dry run (flag or NOVAMIND_GPU_DRY_RUN=1)."""
    args = sys.argv[1:] if argv is None else argv
    return "--dry-run" in args or os.environ.get("NOVAMIND_GPU_DRY_RUN") == "1"


def bandwidth_from_table(name: str) -> float | None:
    """Peak GB/s for a GPU name from the data-sheet table (longest matching key), or None."""
    for key in sorted(BANDWIDTH_GBS, key=len, reverse=True):
        if key.lower() in name.lower():
            return BANDWIDTH_GBS[key]
    return None


def bandwidth_from_clock(mem_clock_khz: int, bus_width_bits: int) -> float:
    """Peak GB/s of double-data-rate memory: 2 transfers per clock x bus width in bytes."""
    if mem_clock_khz <= 0 or bus_width_bits <= 0:
        raise ValueError("memory clock and bus width must be positive")
    return 2 * mem_clock_khz * 1e3 * (bus_width_bits / 8) / 1e9


def _runtime_bandwidth() -> float | None:
    try:
        import cupy  # type: ignore[import-not-found]

        props = cupy.cuda.runtime.getDeviceProperties(0)
        return bandwidth_from_clock(int(props["memoryClockRate"]), int(props["memoryBusWidth"]))
    except Exception:  # no CuPy, no device, or a runtime without these fields
        return None


def probe_gpu() -> Gpu | None:
    """The first NVIDIA GPU as nvidia-smi sees it, or None where there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    out = subprocess.run(  # fixed argv, exe from shutil.which  # nosec B603
        [exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        return None
    name, mem, driver = (s.strip() for s in out.stdout.splitlines()[0].split(","))
    override = os.environ.get("NOVAMIND_GPU_BANDWIDTH_GBS")
    if override:
        bw, src = float(override), "NOVAMIND_GPU_BANDWIDTH_GBS"
    elif (rt := _runtime_bandwidth()) is not None:
        bw, src = rt, "CUDA runtime: 2 x memory clock x bus width"
    elif (tb := bandwidth_from_table(name)) is not None:
        bw, src = tb, "data-sheet table in tests/bench/gpu_common.py"
    else:
        bw, src = 0.0, "unknown (set NOVAMIND_GPU_BANDWIDTH_GBS)"
    return Gpu(name, int(float(mem)), driver, bw, src)


def machine() -> dict[str, Any]:
    """Where and when a figure was taken (the docs need machine, load and date)."""
    gpu = probe_gpu()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "python": platform.python_version(),
        "gpu": None if gpu is None else gpu.__dict__,
    }


def results_dir() -> Path:
    """$OUT when the device tool set it, else bench-results/ in the checkout."""
    out = os.environ.get("OUT")
    d = Path(out) if out else ROOT / "bench-results"
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write `gpu_<name>.json` (with the machine facts) and return its path."""
    path = results_dir() / f"gpu_{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2, default=str) + "\n")
    return path


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A markdown table (numbers right-aligned)."""
    aligns = [
        " ---: " if rows and isinstance(rows[0][i], int | float) else " --- "
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    for r in rows:
        cells = [
            f"{c:,.1f}" if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else str(c)
            for c in r
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
