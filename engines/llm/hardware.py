"""What the machine offers for inference: physical cores, GPU offload support and free VRAM.

llama.cpp runs fastest on CPU with one thread per *physical* core (hyper-threads compete for the
same vector units), and on GPU only when the whole model fits; both are decided here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def physical_cores() -> int:
    """Number of physical CPU cores available to this process (falls back to logical CPUs)."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    cpuinfo = Path("/proc/cpuinfo")
    cores: set[tuple[str, str]] = set()
    if cpuinfo.is_file():
        phys = core = ""
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                phys = value.strip()
            elif key == "core id":
                core = value.strip()
            elif not line.strip() and core:
                cores.add((phys, core))
                phys = core = ""
        if core:
            cores.add((phys, core))
    n = len(cores) if cores else (os.cpu_count() or 1)
    return max(1, min(n, allowed))


def gpu_offload_supported() -> bool:
    """True when the installed llama.cpp build can offload layers (CUDA, Metal, Vulkan, ...)."""
    try:
        import llama_cpp

        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        return False


def free_vram_bytes() -> int | None:
    """Free memory of the first NVIDIA GPU via nvidia-smi, or None when unknown."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(  # fixed argv, exe from shutil.which  # nosec B603
            [exe, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
        return int(out.splitlines()[0].strip()) * 1024 * 1024
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Hardware:
    """A snapshot of the inference hardware, for offload decisions and the doctor report."""

    physical_cores: int
    gpu_offload: bool
    free_vram_bytes: int | None


def probe() -> Hardware:
    """Probe the machine once (cheap: no model is loaded)."""
    return Hardware(physical_cores(), gpu_offload_supported(), free_vram_bytes())
