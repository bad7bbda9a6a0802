#!/usr/bin/env bash
# Build the onedir desktop bundle: dist/novamind/novamind (PyInstaller, build.spec).
#   bash scripts/build_bundle.sh            build (installs the lock into the venv first)
# Uses the project's virtualenv (NOVAMIND_VENV, default .venv), set up by scripts/setup.sh
# run|test. Before building it installs requirements/lock.txt with --require-hashes (a no-op
# when the venv already matches; it brings PyInstaller), and build.spec refuses to bundle a
# runtime package whose installed version differs from the lock. Prints the build time
# and the bundle size. The same command builds on Windows (Git Bash) and macOS; see
# docs/deployment.md for signing and the GPU variant.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT (the working directory), VENV
PYBIN="$VENV/bin/python"
[ -x "$PYBIN" ] || PYBIN="$VENV/Scripts/python.exe"   # Windows venv layout

LOCK=requirements/lock.txt
if "$PYBIN" -m pip show -q xgboost >/dev/null 2>&1; then
  # GPU variant (docs/deployment.md): the CUDA xgboost stays in place of the locked xgboost-cpu
  echo "== GPU variant: CUDA xgboost installed, so xgboost-cpu is left out of the lock install"
  LOCK=$(mktemp)
  awk '/^[^ #]/ { skip = ($0 ~ /^xgboost-cpu==/) } !skip' requirements/lock.txt > "$LOCK"
fi
echo "== installing the lock into $VENV (hashes required)"
"$PYBIN" -m pip install -q --require-hashes -r "$LOCK"

start=$(date +%s)
echo "== building dist/novamind with PyInstaller $("$PYBIN" -c 'import PyInstaller; print(PyInstaller.__version__)')"
"$PYBIN" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath "$ROOT/build/pyinstaller" --distpath "$ROOT/dist" build.spec
end=$(date +%s)
echo "== built in $((end - start)) s: $(du -sh dist/novamind | cut -f1) in dist/novamind"
