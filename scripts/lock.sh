#!/usr/bin/env bash
# Regenerate the hashed lock files after a dependency change (README "Updating dependencies"):
#   bash scripts/lock.sh                       keep every existing pin, add what is new
#   bash scripts/lock.sh --upgrade-package X   move X (or --upgrade: everything) to the newest
# Needs uv (`pip install uv`). Three locks, each installed with --require-hashes:
#   requirements/lock.txt          the desktop venv: pyproject.toml with its `test` extra, plus
#                                  requirements/tools.in (mypy and stubs, PyInstaller, pip...);
#                                  llama-cpp-python is left out: scripts/setup.sh builds it
#                                  from source (a locally built wheel has no PyPI hash)
#   requirements/supply-chain.txt  bandit, pip-audit, CycloneDX (scripts/supply_chain.sh)
#   infra/requirements.lock        the CDK venv (infra/requirements.txt)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT (the working directory)
command -v uv >/dev/null || { echo "uv not found: pip install uv" >&2; exit 1; }
compile() {
  uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "bash scripts/lock.sh" "$@"
}
compile pyproject.toml requirements/tools.in --extra test --no-emit-package llama-cpp-python \
  -o requirements/lock.txt "${@}"
compile requirements/deid-ner.in -c requirements/lock.txt -o requirements/deid-ner.txt "${@}"  # optional NER stage of the scrubber
compile requirements/supply-chain.in -o requirements/supply-chain.txt "${@}"
compile infra/requirements.txt -o infra/requirements.lock "${@}"
echo "locks written; now run: bash scripts/setup.sh test"
