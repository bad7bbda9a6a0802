"""Demo models: build them from the synthetic cohort, and open the bundled registry.

Signing decision: the demo models in resources/models are signed by a *throwaway* Ed25519 key
generated when they are built. Only its public half is written (resources/models/trusted_keys.json,
scope "demo"); the private half is never written to disk, so nobody can sign new "demo" models
with it. A demo-scope key is trusted only for cards whose training_data.kind is "synthetic", so
even a leaked demo key could not pass off a model as trained on clinic data. Rebuilding the demo
models (``python -m engines.xgb.demo``) makes a new key and replaces the public one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from importlib.resources import files
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .registry import ModelRegistry
from .signing import TrustedKey, key_id_of, load_trusted_keys, public_bytes, trusted_key_json
from .synthetic import generate_cohort
from .training import TrainConfig, TrainOutcome, train_all

#: 100,000 so each response model (a sixth of the cohort) has about 3,300 test patients: enough
#: to check interval coverage against the 87-93 % band (at 1,000 the 95 % CI is about +-1.9).
DEMO_COHORT_SIZE = 100_000
DEMO_SEED = 2026
DEMO_CONFIG = TrainConfig(max_depth=3, learning_rate=0.15, n_rounds=30, seed=DEMO_SEED)
TRUSTED_KEYS_FILE = "trusted_keys.json"


def bundled_models_dir() -> Path:
    """resources/models inside the installed application."""
    return Path(str(files("resources") / "models"))


def bundled_trusted_keys() -> tuple[TrustedKey, ...]:
    """The demo public key shipped with the app (scope 'demo')."""
    return load_trusted_keys(bundled_models_dir() / TRUSTED_KEYS_FILE)


def bundled_registry(extra_keys: tuple[TrustedKey, ...] = ()) -> ModelRegistry:
    """Read-only registry over the shipped demo models."""
    return ModelRegistry(bundled_models_dir(), bundled_trusted_keys() + extra_keys, read_only=True)


def build_demo_models(
    out_dir: Path,
    *,
    n: int = DEMO_COHORT_SIZE,
    seed: int = DEMO_SEED,
    config: TrainConfig = DEMO_CONFIG,
) -> list[TrainOutcome]:
    """Train every demo model on the synthetic cohort into a fresh registry at ``out_dir``."""
    out = Path(out_dir)
    for child in out.iterdir() if out.exists() else []:
        if child.is_dir() and not child.name.startswith("__"):
            shutil.rmtree(child)
    out.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()  # throwaway: the private half is never written
    pub = public_bytes(key)
    note = "throwaway key of the synthetic demo models; trusted only for synthetic-data models"
    (out / TRUSTED_KEYS_FILE).write_text(
        json.dumps({"keys": [trusted_key_json(pub, "demo", note)]}, indent=1), encoding="utf-8"
    )
    registry = ModelRegistry(out, [TrustedKey(key_id_of(pub), pub, "demo")])
    records = generate_cohort(n, seed)
    training_data = {
        "kind": "synthetic",
        "description": (
            f"Novamind synthetic cohort v1: {n} simulated patients, seed {seed} "
            "(engines/xgb/synthetic.py; effect sizes and sources in docs/models.md)"
        ),
        "generator": "engines.xgb.synthetic.generate_cohort",
        "n_patients": n,
        "seed": seed,
    }
    return train_all(
        records,
        registry,
        key,
        actor="demo-build",
        training_data=training_data,
        config=config,
        allowed_demographics=frozenset({"age_years"}),
    )


def main() -> None:
    """CLI: python -m engines.xgb.demo [--out resources/models]."""
    ap = argparse.ArgumentParser(description="Rebuild the synthetic demo models.")
    ap.add_argument("--out", type=Path, default=Path("resources/models"))
    args = ap.parse_args()
    start = time.perf_counter()
    outcomes = build_demo_models(args.out)
    for o in outcomes:
        auc = o.held_out["auc"]["value"] if o.held_out else None
        print(f"{o.target:24s} {o.status:14s} v{o.version}  AUC {auc}  {o.detail}")
    print(f"built in {time.perf_counter() - start:.1f} s; coverage: python -m engines.xgb.coverage")


if __name__ == "__main__":
    main()
