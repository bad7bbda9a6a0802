"""Model manager: find GGUF models, check them against the IT manifest, pick how to run them.

IT installs models into a site directory (and may pin each file's SHA-256 in a manifest); users
may add their own. This module never loads weights: it reads metadata, hashes files on demand,
chooses offload / threads from the hardware, and produces the report shown by `novamind doctor`
and the About dialog.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.errors import EngineConfigError, InputError
from engines.llm import hardware
from engines.llm.gguf_meta import GgufInfo, read_gguf_info, sha256_file
from engines.llm.results import LoadParams, ModelProvenance

DEMO_LABEL = "demo model — no clinical validity"
RESEARCH_LABEL = "research model (MentaLLaMA, IMHI social-media data) — not a medical device"
OTHER_LABEL = "unvalidated model — no clinical validity established"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def model_label(file_name: str, model_name: str) -> tuple[str, bool]:
    """(label shown beside every output, is_demo) for a model file."""
    key = f"{file_name} {model_name}".lower()
    if "smollm" in key:
        return DEMO_LABEL, True
    if "mentallama" in key or "mentalllama" in key:
        return RESEARCH_LABEL, False
    return OTHER_LABEL, False


@dataclass(frozen=True)
class ModelEntry:
    """A discovered model file: its metadata, or the reason it cannot be used."""

    path: Path
    info: GgufInfo | None
    error: str | None
    label: str
    is_demo: bool

    @property
    def usable(self) -> bool:
        """True when the file parsed as a valid GGUF."""
        return self.info is not None


def load_manifest(path: Path | str) -> dict[str, str]:
    """Read an IT manifest: JSON object mapping file name to lower-case hex SHA-256."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineConfigError(f"{p}: model manifest not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineConfigError(f"{p}: model manifest unreadable ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise EngineConfigError(
            f"{p}: line {exc.lineno}, column {exc.colno}: invalid JSON"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("models"), dict):
        data = data["models"]
    if not isinstance(data, dict):
        raise EngineConfigError(f"{p}: model manifest must be a JSON object of file name to sha256")
    out: dict[str, str] = {}
    for name, digest in data.items():
        if not isinstance(digest, str) or not _SHA_RE.match(digest.strip().lower()):
            raise EngineConfigError(f"{p}: entry {name!r}: not a 64-digit hex SHA-256")
        out[str(name)] = digest.strip().lower()
    return out


class ModelManager:
    """Discovery, verification and run settings for the GGUF models in the given directories."""

    def __init__(
        self,
        model_dirs: Sequence[Path | str],
        manifest: Path | str | None = None,
        hw: hardware.Hardware | None = None,
    ) -> None:
        self.model_dirs = [Path(d) for d in model_dirs]
        self.manifest_path = Path(manifest) if manifest else None
        self._manifest = load_manifest(self.manifest_path) if self.manifest_path else None
        self._hw = hw

    @property
    def hw(self) -> hardware.Hardware:
        """Hardware snapshot, probed on first use."""
        if self._hw is None:
            self._hw = hardware.probe()
        return self._hw

    def discover(self) -> list[ModelEntry]:
        """All *.gguf files in the model directories (first directory wins on a name clash)."""
        seen: set[str] = set()
        entries: list[ModelEntry] = []
        for d in self.model_dirs:
            if not d.is_dir():
                continue
            for path in sorted(d.glob("*.gguf")):
                if path.name in seen:
                    continue
                seen.add(path.name)
                try:
                    info = read_gguf_info(path)
                except InputError as exc:
                    label, demo = model_label(path.name, "")
                    entries.append(ModelEntry(path, None, str(exc), label, demo))
                    continue
                label, demo = model_label(path.name, info.name)
                entries.append(ModelEntry(path, info, None, label, demo))
        return entries

    def find(self, name: str) -> ModelEntry:
        """The model whose file name (or stem) is `name`; InputError if absent."""
        for entry in self.discover():
            if name in (entry.path.name, entry.path.stem):
                return entry
        dirs = ", ".join(str(d) for d in self.model_dirs) or "(none configured)"
        raise InputError(f"model {name!r} not found in model directories: {dirs}")

    def verify(self, path: Path | str) -> str:
        """SHA-256 of the file, checked against the IT manifest when one is configured."""
        p = Path(path)
        digest = sha256_file(p)
        if self._manifest is not None:
            expected = self._manifest.get(p.name)
            if expected is None:
                raise InputError(
                    f"{p}: not listed in the IT model manifest {self.manifest_path}; "
                    "only approved models may be loaded"
                )
            if digest != expected:
                raise InputError(
                    f"{p}: SHA-256 mismatch with IT manifest {self.manifest_path} "
                    f"(expected {expected[:12]}…, file has {digest[:12]}…)"
                )
        return digest

    def provenance(self, path: Path | str) -> ModelProvenance:
        """Verified identity of a model, to attach to every output it produces."""
        info = read_gguf_info(path)
        digest = self.verify(path)
        label, _demo = model_label(info.path.name, info.name)
        return ModelProvenance(
            name=info.name,
            file_name=info.path.name,
            sha256=digest,
            architecture=info.architecture,
            quantization=info.file_type,
            parameters=info.parameters,
            context_length=info.context_length,
            label=label,
            clinical_validity=False,
        )

    def load_params(self, info: GgufInfo, n_ctx: int = 4096) -> LoadParams:
        """Offload all layers when the build supports it and the model fits, else CPU threads."""
        ctx = min(n_ctx, info.context_length) if info.context_length else n_ctx
        return LoadParams(
            n_ctx=ctx,
            n_threads=self.hw.physical_cores,
            n_gpu_layers=-1 if self.offload_fits(info, ctx) else 0,
        )

    def offload_fits(self, info: GgufInfo, n_ctx: int) -> bool:
        """True when full GPU offload is possible (supported build and enough free VRAM)."""
        if not self.hw.gpu_offload:
            return False
        need = estimate_memory_bytes(info, n_ctx)
        if self.hw.free_vram_bytes is None:
            # Apple Metal shares system memory; elsewhere an unknown VRAM size is not trusted.
            return sys.platform == "darwin"
        return need <= self.hw.free_vram_bytes

    def report(self) -> dict[str, Any]:
        """Everything `novamind doctor` and the About dialog show about local LLMs."""
        hw = self.hw
        models = []
        for e in self.discover():
            item: dict[str, Any] = {
                "file": e.path.name,
                "directory": str(e.path.parent),
                "label": e.label,
                "demo": e.is_demo,
                "usable": e.usable,
            }
            if e.info is not None:
                i = e.info
                params = self.load_params(i)
                item.update(
                    name=i.name,
                    architecture=i.architecture,
                    parameters=i.parameters,
                    quantization=i.file_type,
                    context_length=i.context_length,
                    size_bytes=i.size_bytes,
                    chat_template=bool(i.chat_template),
                    offload="gpu (all layers)" if params.n_gpu_layers else "cpu",
                    threads=params.n_threads,
                    in_manifest=(e.path.name in self._manifest) if self._manifest else None,
                )
            else:
                item["error"] = e.error
            models.append(item)
        return {
            "model_dirs": [str(d) for d in self.model_dirs],
            "manifest": str(self.manifest_path) if self.manifest_path else None,
            "llama_cpp_version": _llama_version(),
            "gpu_offload_supported": hw.gpu_offload,
            "free_vram_bytes": hw.free_vram_bytes,
            "physical_cores": hw.physical_cores,
            "models": models,
        }


def estimate_memory_bytes(info: GgufInfo, n_ctx: int) -> int:
    """Weights plus an f16 KV cache upper bound (no GQA discount) plus 10 % overhead."""
    kv = 2 * n_ctx * info.block_count * info.embedding_length * 2
    return int((info.size_bytes + kv) * 1.1)


def _llama_version() -> str | None:
    try:
        import llama_cpp

        return str(llama_cpp.__version__)
    except Exception:
        return None
