from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from engines.xgb.registry import ModelRegistry
from engines.xgb.signing import TrustedKey, key_id_of, public_bytes
from engines.xgb.synthetic import generate_cohort
from engines.xgb.targets import TARGETS
from engines.xgb.training import TrainConfig, train_model, write_package

SMALL = TrainConfig(n_rounds=20, n_boot=30, seed=1)
CLINIC = {"kind": "clinic", "description": "test clinic records"}


@pytest.fixture(scope="session")
def cohort():
    return generate_cohort(6000, seed=11)


@pytest.fixture(scope="session")
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def trusted(key):
    pub = public_bytes(key)
    return TrustedKey(key_id_of(pub), pub, "clinic")


@pytest.fixture(scope="session")
def trained_relapse(cohort):
    return train_model(
        cohort, TARGETS["relapse_6m"], version="1", training_data=CLINIC, config=SMALL
    )


@pytest.fixture
def package(tmp_path, trained_relapse, key) -> Path:
    return write_package(trained_relapse, tmp_path / "pkg", key)


@pytest.fixture
def audit_log():
    return []


@pytest.fixture
def registry(tmp_path, trusted, audit_log) -> ModelRegistry:
    return ModelRegistry(tmp_path / "registry", [trusted], audit=audit_log.append)
