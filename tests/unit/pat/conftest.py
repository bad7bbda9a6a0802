"""The real Depresjon data set: `$NOVAMIND_DEPRESJON_DIR`, else `../shared/data/depresjon` beside
the repository (see that folder's README). Missing data skips locally and fails in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

ENV_VAR = "NOVAMIND_DEPRESJON_DIR"
DEFAULT_DIR = REPO.parent / "shared" / "data" / "depresjon"


@pytest.fixture(scope="session")
def depresjon_dir() -> Path:
    """The Depresjon folder (condition_N.csv.gz, control_N.csv.gz, scores.csv)."""
    folder = Path(os.environ.get(ENV_VAR) or DEFAULT_DIR)
    if (folder / "scores.csv").is_file():
        return folder
    message = f"Depresjon data set not found in {folder}: set {ENV_VAR} to its folder"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI must have ../shared/data beside the checkout)")
    pytest.skip(message)
