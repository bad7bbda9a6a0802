# Sourced by scripts/setup.sh, supply_chain.sh and build_bundle.sh: the repository root (also
# made the working directory), the project virtualenv (NOVAMIND_VENV), the Python that creates
# virtualenvs (PYTHON) and a section heading for the log.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${NOVAMIND_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
log() { printf '\n== %s\n' "$*"; }
