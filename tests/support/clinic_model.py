"""A clinic-trained prediction model, trained, signed with a key IT trusts and activated in the
clinic registry as `novamind train` does (for tests that need a clinic model active)."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.config import model_trust_path
from app.services import predictions
from app.services.context import AppContext
from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import TrustedKey, key_id_of, public_bytes, trusted_key_json
from engines.xgb.synthetic import generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import TrainConfig, train_model, write_package

TARGET = "relapse_6m"
DESCRIPTION = "treatment episodes of this clinic's records (test)"


def activate_clinic_model(ctx: AppContext) -> str:
    """Train a real model, sign it with a key IT trusts and activate it in the clinic registry
    (what `novamind train` does); returns its version."""
    key = Ed25519PrivateKey.generate()
    pub = public_bytes(key)
    model_trust_path(ctx.settings).write_text(
        json.dumps({"keys": [trusted_key_json(pub, "clinic", "IT")]})
    )
    model = train_model(
        generate_cohort(3000, seed=11),
        TARGETS[TARGET],
        version="7",
        training_data={"kind": "clinic", "description": DESCRIPTION},
        config=TrainConfig(n_rounds=10, n_boot=20, seed=1),
    )
    package = write_package(model, ctx.settings.data_dir / "pkg", key)
    root = predictions.clinic_registry_dir(ctx.settings)
    root.mkdir(parents=True, exist_ok=True)
    reg = ModelRegistry(root, [TrustedKey(key_id_of(pub), pub, "clinic")])
    reg.install_package(package, actor="it", activate=True)
    return "7"
