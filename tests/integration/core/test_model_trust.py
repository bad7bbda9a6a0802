"""The keys that may sign clinic-trained models come from IT's trust file (beside the site
policy), never from the user-writable data folder; `train` runs only as IT with a key IT
issued; synthetic patients never train a "clinic" model."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.config import Settings, model_trust_path
from app.core.domain import Role
from app.core.errors import PermissionDeniedError, ValidationError
from app.demo import create_demo_clinic
from app.services import predictions, training
from app.services.context import AppContext
from engines.errors import InputError
from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import TrustedKey, key_id_of, public_bytes, trusted_key_json
from engines.xgb.synthetic import generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import TrainConfig, train_all, train_model, write_package
from tests.conftest import make_user
from tests.support.records import add_patient

TARGET = "relapse_6m"
CLINIC = {"kind": "clinic", "description": "attacker's records"}


def _trust(settings: Settings, key: Ed25519PrivateKey) -> Path:
    path = model_trust_path(settings)
    path.write_text(json.dumps({"keys": [trusted_key_json(public_bytes(key), "clinic", "IT")]}))
    return path


@pytest.fixture(scope="module")
def attacker_package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Ed25519PrivateKey]:
    """A real model package, trained and signed by an attacker's own key."""
    key = Ed25519PrivateKey.generate()
    model = train_model(
        generate_cohort(3000, seed=5),
        TARGETS[TARGET],
        version="99",
        training_data=CLINIC,
        config=TrainConfig(n_rounds=10, n_boot=20, seed=1),
    )
    return write_package(model, tmp_path_factory.mktemp("evil") / "pkg", key), key


def _plant(settings: Settings, package: Path, key: Ed25519PrivateKey) -> None:
    """What an attacker with the user's file access does: list their key in the data folder
    (both the old trusted_keys.json place and a 'clinic' folder) and install their model."""
    pub = public_bytes(key)
    doc = json.dumps({"keys": [trusted_key_json(pub, "clinic", "attacker")]})
    root = predictions.clinic_registry_dir(settings)
    for folder in (root, settings.data_dir / "models" / "clinic"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trusted_keys.json").write_text(doc)
    own = ModelRegistry(root, [TrustedKey(key_id_of(pub), pub, "clinic")])
    own.install_package(package, actor="attacker", activate=True)


def test_a_key_planted_in_the_data_folder_is_not_trusted(
    settings: Settings, attacker_package: tuple[Path, Ed25519PrivateKey]
) -> None:
    package, key = attacker_package
    _plant(settings, package, key)
    model = predictions._model_for(TARGET, settings)
    assert model is not None and model.card.version != "99"  # the shipped demo model
    _trust(settings, Ed25519PrivateKey.generate())  # IT trusts its own key, not the attacker's
    with pytest.raises(ValidationError, match="untrusted key"):
        predictions._model_for(TARGET, settings)


def test_the_model_it_trusts_is_used(
    settings: Settings, attacker_package: tuple[Path, Ed25519PrivateKey]
) -> None:
    package, key = attacker_package  # here the same key, listed by IT: accepted
    _plant(settings, package, key)
    _trust(settings, key)
    assert predictions._model_for(TARGET, settings).card.version == "99"


def test_train_needs_it_and_a_key_it_issued(ctx: AppContext) -> None:
    create_demo_clinic(ctx, patients=4, actigraphy_days=2)
    it = make_user(ctx, "it.train", Role.IT)
    clinician = make_user(ctx, "dr.train", Role.CLINICIAN)
    key = Ed25519PrivateKey.generate()
    with pytest.raises(ValidationError, match="not one IT trusts"):
        training.train(ctx, it, key, targets=[TARGET])
    _trust(ctx.settings, key)
    with pytest.raises(PermissionDeniedError):
        training.train(ctx, clinician, key, targets=[TARGET])
    (outcome,) = training.train(ctx, it, key, targets=[TARGET])
    assert outcome.status == "insufficient_events"
    assert not list(ctx.settings.data_dir.rglob("trusted_keys.json"))  # nothing written there


def test_synthetic_patients_never_train_a_clinic_model(ctx: AppContext) -> None:
    create_demo_clinic(ctx, patients=4, actigraphy_days=2)
    records, kind = ctx.store.read(training.training_set)
    assert kind == "synthetic" and len(records) == 4 and all(r["is_synthetic"] for r in records)
    doc = make_user(ctx, "dr.real", Role.CLINICIAN)
    add_patient(
        ctx, doc, "R-1", given_name="R", family_name="P", birth_date=date(1990, 1, 1), sex="male"
    )
    records, kind = ctx.store.read(training.training_set)
    assert kind == "clinic" and records == []  # the demo patients are left out


def test_engine_refuses_synthetic_records_for_a_clinic_model(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pub = public_bytes(key)
    reg = ModelRegistry(tmp_path, [TrustedKey(key_id_of(pub), pub, "clinic")])
    rows = [r | {"is_synthetic": True} for r in generate_cohort(50, seed=1)]
    with pytest.raises(InputError, match="synthetic"):
        train_all(rows, reg, key, actor="it", training_data=CLINIC, targets=[TARGET])


def test_a_model_trained_on_synthetic_data_is_labelled_so() -> None:
    from engines.xgb.bands import SYNTHETIC_LABEL

    model = train_model(
        generate_cohort(3000, seed=5),
        TARGETS[TARGET],
        version="1",
        training_data={"kind": "synthetic", "description": "demo store"},
        config=TrainConfig(n_rounds=10, n_boot=20, seed=1),
    )
    assert SYNTHETIC_LABEL in model.card["labels"]
