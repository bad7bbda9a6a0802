"""A versioned, signed, hash-checked model registry stored in a plain directory.

Layout::

    <root>/<model name>/<version>/model.json | model.ubj   XGBoost JSON or UBJSON, never pickle
                                  card.json                 model card (carries the model SHA-256)
                                  signature.json            Ed25519 over card + model hash
                                  donors.json               donor rows for the interval
                                                            (its SHA-256 is in the signed card)
    <root>/<model name>/state.json                          active version + activation stack

Every load re-checks the hash and the signature, so a file altered after installation is refused
at use time as well. Each action returns a :class:`RegistryRecord` (and passes it, and every
refusal, to the optional ``audit`` callback) for the lead's audit chain. The registry never opens
the database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from engines.errors import InputError, MissingError

from .card import ModelCard, parse_card
from .modelfile import load_booster, read_model_bytes, sha256_hex, sniff_format
from .signing import Signature, TrustedKey, parse_signature, verify
from .uncertainty import DONOR_FILE, parse_donors

SCORING_THREADS = 1
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_VERSION_RE = re.compile(r"^[0-9]{1,9}$")


@dataclass(frozen=True)
class RegistryRecord:
    """Auditable outcome of one registry action (ids and hashes only, no PHI)."""

    action: str  # install | activate | rollback | refuse
    model_name: str
    version: str
    actor: str
    ok: bool
    detail: str = ""
    previous_active: str | None = None
    model_sha256: str = ""
    key_id: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified model: its card, the parsed booster and who vouched for it."""

    card: ModelCard
    booster: xgb.Booster
    key_id: str
    key_scope: str
    path: Path
    donors: np.ndarray | None = None  # rows to fill missing inputs from (interval spread)


AuditCallback = Callable[[RegistryRecord], None]


class ModelRegistry:
    """Install, verify, load, activate and roll back signed XGBoost models in ``root``."""

    def __init__(
        self,
        root: Path,
        trusted_keys: Iterable[TrustedKey],
        *,
        audit: AuditCallback | None = None,
        read_only: bool = False,
    ) -> None:
        self.root = Path(root)
        self.trusted_keys = tuple(trusted_keys)
        self._audit = audit
        self.read_only = read_only

    # ----------------------------------------------------------------- queries
    def names(self) -> list[str]:
        """Model names with at least one installed version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME_RE.match(p.name))

    def versions(self, name: str) -> list[str]:
        """Installed versions of a model, oldest first."""
        d = self.root / name
        if not d.is_dir():
            return []
        return sorted(
            (p.name for p in d.iterdir() if p.is_dir() and _VERSION_RE.match(p.name)), key=int
        )

    def next_version(self, name: str) -> str:
        """Version string a newly trained model of ``name`` should carry in its card."""
        vs = self.versions(name)
        return str(int(vs[-1]) + 1) if vs else "1"

    def active_version(self, name: str) -> str | None:
        """The active version, or None when no version is active."""
        return self._state(name).get("active")

    def history(self, name: str) -> list[dict[str, Any]]:
        """Activation log kept beside the versions (the authoritative audit is the lead's)."""
        return list(self._state(name).get("log", []))

    # ----------------------------------------------------------------- loading
    def load(self, name: str, version: str | None = None) -> LoadedModel:
        """Load and verify a version (default: the active one); refuse anything altered."""
        if version is None:
            version = self.active_version(name)
            if version is None:
                raise MissingError(f"model {name}: no active version in {self.root}")
        d = self.root / name / version
        if not d.is_dir():
            raise MissingError(f"model {name}: version {version} is not installed")
        model_path = next(
            (d / f for f in ("model.json", "model.ubj") if (d / f).exists()), d / "model.json"
        )
        try:
            loaded = self._verify(model_path, d / "card.json", d / "signature.json")
            if loaded.card.name != name or loaded.card.version != version:
                raise InputError(
                    f"{d}: card says {loaded.card.model_version}, directory says {name}@{version}"
                )
        except InputError as exc:
            self._emit(RegistryRecord("refuse", name, version, "system", False, f"load: {exc}"))
            raise
        return loaded

    # ----------------------------------------------------------------- actions
    def install(
        self,
        model_path: Path,
        card_path: Path,
        signature_path: Path | None,
        *,
        actor: str,
        activate: bool = False,
    ) -> RegistryRecord:
        """Verify a signed model package and copy it in; nothing is written if any check fails."""
        self._writable()
        name = version = "?"
        try:
            loaded = self._verify(Path(model_path), Path(card_path), signature_path)
            name, version = loaded.card.name, loaded.card.version
            if not _NAME_RE.match(name) or not _VERSION_RE.match(version):
                raise InputError(f"{card_path}: invalid model name {name!r} or version {version!r}")
            if (self.root / name / version).exists():
                raise InputError(f"{card_path}: {name}@{version} is already installed")
        except InputError as exc:
            self._emit(RegistryRecord("refuse", name, version, actor, False, f"install: {exc}"))
            raise
        dest_dir = self.root / name
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp = dest_dir / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            fmt = loaded.card.raw["model_format"]
            shutil.copyfile(model_path, tmp / f"model.{fmt}")
            shutil.copyfile(card_path, tmp / "card.json")
            shutil.copyfile(signature_path, tmp / "signature.json")  # type: ignore[arg-type]
            if loaded.donors is not None:
                shutil.copyfile(Path(card_path).parent / DONOR_FILE, tmp / DONOR_FILE)
            os.replace(tmp, dest_dir / version)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        rec = RegistryRecord(
            "install",
            name,
            version,
            actor,
            True,
            "installed (inactive)",
            previous_active=self.active_version(name),
            model_sha256=loaded.card.model_sha256,
            key_id=loaded.key_id,
        )
        self._emit(rec)
        if activate:
            return self.activate(name, version, actor=actor, reason="activated on install")
        return rec

    def install_package(
        self, package_dir: Path, *, actor: str, activate: bool = False
    ) -> RegistryRecord:
        """Install from a directory holding model.(json|ubj), card.json and signature.json."""
        p = Path(package_dir)
        model = next(
            (p / f for f in ("model.json", "model.ubj") if (p / f).exists()), p / "model.json"
        )
        sig = p / "signature.json"
        return self.install(
            model, p / "card.json", sig if sig.exists() else None, actor=actor, activate=activate
        )

    def activate(self, name: str, version: str, *, actor: str, reason: str = "") -> RegistryRecord:
        """Make ``version`` the active one after re-verifying it."""
        self._writable()
        loaded = self.load(name, version)
        state = self._state(name)
        stack = [v for v in state.get("stack", []) if v != version] + [version]
        return self._switch("activate", name, loaded, state, stack, actor=actor, reason=reason)

    def rollback(self, name: str, *, actor: str, reason: str = "") -> RegistryRecord:
        """Re-activate the previously active version (verified again before use)."""
        self._writable()
        state = self._state(name)
        stack = list(state.get("stack", []))
        current = state.get("active")
        if len(stack) < 2:
            rec = RegistryRecord(
                "rollback",
                name,
                current or "",
                actor,
                False,
                "no earlier activated version to roll back to",
                current,
            )
            self._emit(rec)
            raise InputError(f"model {name}: no earlier activated version to roll back to")
        stack.pop()
        loaded = self.load(name, stack[-1])
        return self._switch("rollback", name, loaded, state, stack, actor=actor, reason=reason)

    # ----------------------------------------------------------------- internals
    def _switch(
        self,
        action: str,
        name: str,
        loaded: LoadedModel,
        state: dict[str, Any],
        stack: list[str],
        *,
        actor: str,
        reason: str,
    ) -> RegistryRecord:
        """Make the top of ``stack`` (already re-verified as ``loaded``) active; log, report."""
        version = stack[-1]
        prev = state.get("active")
        entry = {"at": datetime.now(UTC).isoformat(), "action": action, "version": version}
        log = [*state.get("log", []), entry | {"actor": actor, "reason": reason}]
        path = self.root / name / "state.json"
        tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex}")
        new = {"active": version, "stack": stack, "log": log}
        tmp.write_text(json.dumps(new, indent=1), encoding="utf-8")
        os.replace(tmp, path)
        rec = RegistryRecord(
            action,
            name,
            version,
            actor,
            True,
            reason,
            prev,
            loaded.card.model_sha256,
            loaded.key_id,
        )
        self._emit(rec)
        return rec

    def _verify(
        self, model_path: Path, card_path: Path, signature_path: Path | None
    ) -> LoadedModel:
        data = read_model_bytes(model_path)
        fmt = sniff_format(model_path, data)  # refuses pickle/joblib before anything parses it
        try:
            card_bytes = card_path.read_bytes()
        except OSError:
            raise InputError(f"{card_path}: model card not found or unreadable") from None
        card = parse_card(card_path, card_bytes)
        if signature_path is None or not Path(signature_path).exists():
            raise InputError(
                f"{model_path}: unsigned model (no signature.json); only signed models are accepted"
            )
        sig: Signature = parse_signature(Path(signature_path), Path(signature_path).read_bytes())
        digest = sha256_hex(data)
        if digest != card.model_sha256:
            raise InputError(
                f"{model_path}: SHA-256 does not match the model card — the model file was altered"
            )
        if fmt != card.raw["model_format"]:
            raise InputError(
                f"{model_path}: file is {fmt} but the card says {card.raw['model_format']}"
            )
        key = verify(card.raw, digest, sig, self.trusted_keys, where=str(model_path))
        booster = load_booster(model_path, data)
        # Scoring a caseload is a few hundred thousand tree walks: one thread avoids OpenMP
        # start-up and contention on a busy workstation (measured in docs/bench/xgb.md).
        booster.set_param({"nthread": SCORING_THREADS, "device": "cpu"})
        names = [f.name for f in card.features]
        if booster.num_features() != len(names) or (
            booster.feature_names is not None and list(booster.feature_names) != names
        ):
            raise InputError(f"{model_path}: model features do not match the card's feature list")
        donors = _load_donors(card, Path(card_path).parent, names)
        return LoadedModel(card, booster, key.key_id, key.scope, model_path, donors)

    def _state(self, name: str) -> dict[str, Any]:
        path = self.root / name / "state.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise InputError(f"{path}: registry state is unreadable") from None

    def _writable(self) -> None:
        if self.read_only:
            raise InputError(f"{self.root}: this model registry is read-only")

    def _emit(self, rec: RegistryRecord) -> None:
        if self._audit is not None:
            self._audit(rec)


def _load_donors(card: ModelCard, folder: Path, names: list[str]) -> np.ndarray | None:
    """The donor rows the signed card names, refused if missing or not the signed bytes."""
    ref = card.raw.get("uncertainty", {}).get("donors")
    if not ref:
        return None
    if ref.get("file") != DONOR_FILE:
        raise InputError(f"{folder}: card names an unexpected donor file {ref.get('file')!r}")
    path = folder / DONOR_FILE
    try:
        data = path.read_bytes()
    except OSError:
        raise InputError(f"{path}: donor file named by the card is missing") from None
    if sha256_hex(data) != ref.get("sha256"):
        raise InputError(
            f"{path}: SHA-256 does not match the signed model card — the donor file was altered"
        )
    return parse_donors(data, names, where=str(path))
