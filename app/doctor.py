"""`novamind doctor`: the post-install check IT runs on a workstation.

Each line is ok / warn / fail with a hint that says how to fix it. Only the store and health
checks open anything; nothing is changed.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass

from app.core.config import Settings
from app.core.errors import NovamindError
from app.services._engine_errors import engine_errors


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str
    hint: str = ""


REQUIRED = [
    ("sqlcipher3", "sqlcipher3"),
    ("SQLAlchemy", "sqlalchemy"),
    ("alembic", "alembic"),
    ("keyring", "keyring"),
    ("cryptography", "cryptography"),
    ("argon2-cffi", "argon2"),
    ("numpy", "numpy"),
    ("xgboost", "xgboost"),
    ("gguf", "gguf"),
    ("boto3", "boto3"),
]
OPTIONAL = [("llama-cpp-python", "llama_cpp"), ("vtk", "vtkmodules"), ("PySide6", "PySide6")]


def _version(dist: str) -> str:
    for name in (dist, dist.lower(), f"{dist}-cpu", f"{dist}_essentials"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "?"


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check(
        "python",
        "ok" if ok else "fail",
        platform.python_version(),
        "" if ok else "Install Python 3.11 or newer.",
    )


def check_packages() -> list[Check]:
    out = []
    for dist, module in REQUIRED + OPTIONAL:
        required = (dist, module) in REQUIRED
        try:
            importlib.import_module(module)
            out.append(Check(f"package {dist}", "ok", _version(dist)))
        except Exception as exc:  # noqa: BLE001 — report any import failure, never crash doctor
            out.append(
                Check(
                    f"package {dist}",
                    "fail" if required else "warn",
                    f"cannot import ({type(exc).__name__})",
                    "Reinstall Novamind (see docs/deployment.md).",
                )
            )
    return out


def check_keyring() -> Check:
    from app.core.security import keys

    try:
        name = keys.keyring_backend_name()
    except NovamindError as exc:
        return Check("keyring", "fail", str(exc), exc.hint)
    if name.endswith("fail.Keyring"):
        return Check(
            "keyring",
            "fail",
            "no usable keyring backend",
            "Install/unlock a Secret Service (gnome-keyring, KWallet) or use the OS keychain.",
        )
    return Check("keyring", "ok", name)


def check_store(settings: Settings) -> Check:
    from app.core.store import migrate
    from app.services.context import AppContext

    if not settings.db_path.exists():
        return Check(
            "store",
            "warn",
            f"no store yet at {settings.db_path}",
            "Run 'novamind demo' (synthetic) or 'novamind admin bootstrap NAME' (the first "
            "administrator) to create it.",
        )
    try:
        ctx = AppContext.open(settings, create=False)
    except NovamindError as exc:
        return Check("store", "fail", str(exc), exc.hint)
    try:
        integrity = ctx.store.integrity_check()
        revision = ctx.store.schema_revision()
    finally:
        ctx.close()
    head = migrate.head_revision()
    if integrity != "ok":
        return Check("store", "fail", f"integrity check: {integrity}", "Restore from backup.")
    detail = f"{settings.db_path} (encrypted, schema {revision})"
    if revision != head:
        return Check(
            "store", "warn", detail, f"Schema {head} is available; start the app to migrate."
        )
    return Check("store", "ok", detail)


def check_policy(settings: Settings) -> list[Check]:
    """Which policy applies, whether the environment may override it, and the model trust."""
    from app.core.config import is_dev_build, model_trust_path
    from app.services.predictions import clinic_trusted_keys

    path = settings.policy_path
    out = [
        Check("site policy", "ok", f"{path} ({len(settings.locked_by_policy)} settings)")
        if path is not None and path.exists()
        else Check(
            "site policy",
            "warn",
            f"no site policy at {path}: built-in defaults apply",
            "IT installs policy.toml there (see docs/deployment.md).",
        )
    ]
    if is_dev_build():
        out.append(
            Check(
                "build",
                "warn",
                "development build (NOVAMIND_DEV=1): the environment may override security "
                "settings",
                "Unset NOVAMIND_DEV on clinical workstations.",
            )
        )
    trust = model_trust_path(settings)
    try:
        n = len(clinic_trusted_keys(settings))
    except NovamindError as exc:
        return [*out, Check("model trust", "fail", str(exc), "IT fixes the model trust file.")]
    out.append(
        Check("model trust", "ok", f"{n} model-signing key(s) in {trust}")
        if n
        else Check("model trust", "ok", f"no {trust}: only the shipped demo models are used")
    )
    return out


def check_gpu() -> Check:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return Check("gpu", "ok", "no NVIDIA GPU found: models run on the CPU")
    try:
        out = subprocess.run(  # fixed argv, exe from shutil.which  # nosec B603
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return Check("gpu", "warn", "nvidia-smi failed", "Check the NVIDIA driver installation.")
    return Check("gpu", "ok", f"CUDA GPU: {out}")


def check_models(settings: Settings) -> Check:
    """Local LLMs: discovery, metadata, manifest and the offload llama.cpp would use."""
    from engines.llm.manager import ModelManager

    try:
        with engine_errors():
            report = ModelManager(settings.model_dirs, settings.model_manifest or None).report()
    except NovamindError as exc:
        return Check("llm models", "fail", str(exc), exc.hint or "Fix the IT model manifest.")
    models = report["models"]
    if not models:
        dirs = ", ".join(str(d) for d in settings.model_dirs)
        return Check(
            "llm models",
            "warn",
            f"no GGUF model in {dirs}",
            "Note analysis is unavailable until a model is installed "
            "('novamind demo' installs the small demo model).",
        )
    lines = []
    status = "ok"
    for m in models:
        if "error" in m or not m.get("usable", True):
            status = "warn"
            lines.append(f"{m['file']}: {m.get('error', 'not usable')}")
        else:
            lines.append(
                f"{m['file']} ({m['label']}; {m['quantization']}, ctx {m['context_length']}, "
                f"{m['offload']}, {m['threads']} threads)"
            )
    return Check(
        "llm models",
        status,
        "; ".join(lines),
        "" if status == "ok" else "Reinstall the model or check the IT manifest.",
    )


def check_xgboost() -> Check:
    from engines.xgb.device import detect_device

    return Check("predictions", "ok", detect_device().summary())


HEALTH_STATUS = {"ok": "ok", "warning": "warn", "critical": "fail"}


def check_health(settings: Settings) -> list[Check]:
    """The system-health items of the dashboard's Health page (sync, backup, disk, models,
    policy); a critical one fails doctor. Read only: no alert is raised from here."""
    from app.services import system_health
    from app.services.context import AppContext

    try:
        ctx = AppContext.open(settings, create=False)
    except NovamindError as exc:
        return [Check("health", "fail", str(exc), exc.hint)]
    try:
        report = system_health.check(ctx)
    except NovamindError as exc:
        return [Check("health", "fail", str(exc), exc.hint)]
    finally:
        ctx.close()
    return [
        Check(
            f"health: {i.name}",
            HEALTH_STATUS[i.status],
            f"{i.value} ({i.detail})" if i.detail else i.value,
        )
        for i in report.items
    ]


def run_checks(settings: Settings) -> list[Check]:
    store = check_store(settings)
    return [
        check_python(),
        *check_packages(),
        *check_policy(settings),
        check_keyring(),
        store,
        *(check_health(settings) if store.status != "fail" and settings.db_path.exists() else []),
        check_gpu(),
        check_xgboost(),
        check_models(settings),
    ]
