from pathlib import Path

import pytest

_HERE = Path(__file__).resolve()


@pytest.fixture(scope="session")
def depresjon_dir() -> Path:
    """The real Depresjon folder (../shared/data beside the checkout, as in CI)."""
    for cand in (
        _HERE.parents[3].parent / "shared" / "data" / "depresjon",
        Path("/work/shared/data/depresjon"),
    ):
        if cand.is_dir():
            return cand
    pytest.skip("Depresjon data folder not found")
