#!/usr/bin/env bash
# Build the onedir desktop bundle: dist/novamind/novamind (PyInstaller, build.spec).
#   bash scripts/build_bundle.sh            build (installs PyInstaller into the venv if missing)
# Uses the project's virtualenv (NOVAMIND_VENV, default .venv), which must already hold the
# runtime dependencies (bash scripts/setup.sh run|test installs them). Prints the build time
# and the bundle size. The same command builds on Windows (Git Bash) and macOS; see
# docs/deployment.md for signing and the GPU variant.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${NOVAMIND_VENV:-$ROOT/.venv}"
PYBIN="$VENV/bin/python"
[ -x "$PYBIN" ] || PYBIN="$VENV/Scripts/python.exe"   # Windows venv layout
PYINSTALLER_SPEC="pyinstaller>=6.10,<7"

if ! "$PYBIN" -c "import PyInstaller" 2>/dev/null; then
  echo "== installing $PYINSTALLER_SPEC into $VENV"
  "$PYBIN" -m pip install -q "$PYINSTALLER_SPEC"
fi

start=$(date +%s)
echo "== building dist/novamind with PyInstaller $("$PYBIN" -c 'import PyInstaller; print(PyInstaller.__version__)')"
"$PYBIN" -m PyInstaller --noconfirm --clean --log-level WARN \
  --workpath "$ROOT/build/pyinstaller" --distpath "$ROOT/dist" build.spec
end=$(date +%s)
echo "== built in $((end - start)) s: $(du -sh dist/novamind | cut -f1) in dist/novamind"
