"""A clinic model with no skill over the base rate: trained on outcomes shuffled across patients
(so independent of every input), signed with a key IT trusts and activated as `novamind train`
would. The engine's Brier skill rule must withhold it from being shown as a risk score."""

from __future__ import annotations

import json

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.config import model_trust_path
from app.services import predictions
from app.services.context import AppContext
from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import TrustedKey, key_id_of, public_bytes, trusted_key_json
from engines.xgb.synthetic import generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import TrainConfig, train_model, write_package

DESCRIPTION = "outcomes shuffled across patients (test: no skill)"


def activate_noskill_model(ctx: AppContext, target: str = "relapse_6m") -> dict:
    """Train `target` on labels independent of its inputs, install and activate it in the
    clinic registry; returns its card."""
    key = Ed25519PrivateKey.generate()
    pub = public_bytes(key)
    model_trust_path(ctx.settings).write_text(
        json.dumps({"keys": [trusted_key_json(pub, "clinic", "IT")]})
    )
    cohort = generate_cohort(3000, seed=5)
    label = TARGETS[target].label_key
    shuffled = np.random.default_rng(3).permutation([r.get(label) for r in cohort])
    records = [dict(r, **{label: y}) for r, y in zip(cohort, shuffled, strict=True)]
    model = train_model(
        records,
        TARGETS[target],
        version="9",
        training_data={"kind": "clinic", "description": DESCRIPTION},
        config=TrainConfig(n_rounds=10, n_boot=20, seed=1),
    )
    package = write_package(model, ctx.settings.data_dir / f"pkg-noskill-{target}", key)
    root = predictions.clinic_registry_dir(ctx.settings)
    root.mkdir(parents=True, exist_ok=True)
    reg = ModelRegistry(root, [TrustedKey(key_id_of(pub), pub, "clinic")])
    reg.install_package(package, actor="it", activate=True)
    return dict(model.card)
