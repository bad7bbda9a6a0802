#!/usr/bin/env bash
# Novamind set-up for a fresh Debian/Ubuntu machine (run as root, or with sudo available).
#   scripts/setup.sh run    install, create the demo clinic in the local encrypted store, launch
#   scripts/setup.sh test   install with test extras and run lint, import contract and all tests,
#                           then build the packaged app and run its smoke test (tests/frozen;
#                           NOVAMIND_SKIP_BUNDLE=1 leaves that stage out)
# Idempotent: a second run reuses the virtualenv and the cached llama-cpp-python wheel.
# Every Python package comes from requirements/lock.txt, hash-checked (--require-hashes), except
# llama-cpp-python, which is compiled here (see install_llama_cpp); README "Updating
# dependencies" has the command that regenerates the lock.
set -euo pipefail

MODE="${1:-run}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"  # ROOT (the working directory), VENV, PY, log
WHEELS="${NOVAMIND_WHEEL_CACHE:-$HOME/.cache/novamind/wheels}"
LLAMA_VERSION="0.3.36"
LOCK="$ROOT/requirements/lock.txt"

install_system_packages() {
  command -v apt-get >/dev/null || { echo "not a Debian-family system: install the packages in docs/deployment.md by hand"; return; }
  local SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  local pkgs=(build-essential cmake python3-venv python3-dev
    dbus dbus-x11 gnome-keyring xvfb xauth
    libgl1 libegl1 libegl-mesa0 libgbm1 libxt6 libglx-mesa0 libgl1-mesa-dri libfontconfig1 libdbus-1-3 libxrender1 libxi6
    libsm6 libice6 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
    libxcb-shape0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-randr0
    libxcb-xfixes0 fonts-dejavu-core)
  local missing=()
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

make_venv() {
  [ -x "$VENV/bin/python" ] || { log "creating virtualenv $VENV"; "$PY" -m venv "$VENV"; }
}

install_locked() {
  # The whole locked set (runtime, test tools, mypy, PyInstaller, pip/setuptools/wheel): the
  # same versions on every machine and every month, each file checked against its hash.
  log "installing the locked dependencies (requirements/lock.txt, hashes required)"
  "$VENV/bin/python" -m pip install -q --require-hashes -r "$LOCK"
}

install_llama_cpp() {
  # llama-cpp-python compiles llama.cpp (~5-10 min on 2 cores): build once, cache the wheel.
  # It stays outside the hashed lock: the lock could only pin the PyPI sdist's hash, and the
  # wheel built here from it (flags below) has a hash of its own. Its dependencies (numpy,
  # typing-extensions, diskcache, jinja2) are in the lock; the wheel goes in with --no-deps.
  # Portable x86-64 build: AVX2/FMA/F16C only. GGML_NATIVE=OFF alone still produced an
  # AVX-512/AMX build on Sapphire Rapids hosts, whose llama_decode crashed (SIGSEGV) on prompts
  # longer than one batch. The cache folder is keyed by the build flags, so a wheel built
  # with other flags is never reused.
  local flags="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF}"
  local tag
  tag=$(printf '%s' "$LLAMA_VERSION $flags" | sha256sum | cut -c1-12)
  local marker="$VENV/.llama-cpp-build"
  if [ "$(cat "$marker" 2>/dev/null)" = "$tag" ] && \
     "$VENV/bin/python" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null; then
    return
  fi
  local dir="$WHEELS/llama-$tag"
  mkdir -p "$dir"
  local wheel
  wheel=$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building llama-cpp-python $LLAMA_VERSION (CPU, portable AVX2; cached in $dir)"
    CMAKE_ARGS="$flags" "$VENV/bin/pip" wheel -q --no-cache-dir --no-deps -w "$dir" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$dir"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -n1)
  fi
  "$VENV/bin/pip" install -q --force-reinstall --no-deps "$wheel"
  printf '%s' "$tag" > "$marker"
}

install_project() {
  # Everything it needs is installed from the lock already: no resolver, no index.
  log "installing Novamind (editable)"
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e .
}


# Run a command where a Secret Service is reachable: the desktop's own, or else a private
# gnome-keyring in its own dbus session (headless machines, first try-outs).
with_keyring() {
  if [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || [ "$(uname)" != "Linux" ]; then
    "$@"
  else
    local pw="${NOVAMIND_KEYRING_PASSWORD:-novamind-local-keyring}"
    dbus-run-session -- bash -c 'printf "%s" "$0" | gnome-keyring-daemon --unlock --components=secrets >/dev/null && shift && exec "$@"' "$pw" _ "$@"
  fi
}

install_system_packages
make_venv
install_locked
install_llama_cpp
install_project

case "$MODE" in
  run)
    # One keyring session for all steps, so a private gnome-keyring keeps the key between them.
    log "creating the synthetic demo clinic in the encrypted store, checking the install, launching"
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
      with_keyring bash -c '"$0" demo && { "$0" doctor || true; } && exec "$0"' "$VENV/bin/novamind"
    else
      with_keyring bash -c '"$0" demo && { "$0" doctor || true; }' "$VENV/bin/novamind"
      echo "No display here: start the desktop with '.venv/bin/novamind' in a desktop session," \
        "or try it here (Xvfb, its own unlocked keyring): scripts/try-desktop.sh"
    fi
    ;;
  test)
    export PATH="$VENV/bin:$PATH"
    # The optional de-identification NER stage (spaCy + en_core_web_sm, docs/llm.md), so its
    # tests run for real; constrained to lock.txt's versions, so no shared pin moves.
    log "optional de-identification NER stage (requirements/deid-ner.txt, hashes required)"
    "$VENV/bin/python" -m pip install -q --require-hashes -r requirements/deid-ner.txt
    log "ruff (lint + format)"
    ruff check .
    ruff format --check .
    log "import contract (docs/design.md)"
    lint-imports
    log "mypy (pyproject [tool.mypy])"
    "$VENV/bin/mypy"
    log "desktop headless: scripts/try-desktop.sh --exit-after-paint (Xvfb + private keyring)"
    try_home=$(mktemp -d)
    env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS HOME="$try_home" \
      NOVAMIND_VENV="$VENV" timeout 180 bash scripts/try-desktop.sh --exit-after-paint
    rm -rf "$try_home"
    log "infra: CDK assertion tests (own venv, not part of the desktop bundle)"
    command -v node >/dev/null || { SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"; $SUDO apt-get install -y -qq --no-install-recommends nodejs; }
    INFRA_VENV="$ROOT/infra/.venv"
    [ -x "$INFRA_VENV/bin/python" ] || "$PY" -m venv "$INFRA_VENV"
    "$INFRA_VENV/bin/pip" install -q --require-hashes -r infra/requirements.lock
    (cd infra && JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1 "$INFRA_VENV/bin/python" -m pytest -q -p no:cacheprovider)
    log "supply chain: bandit, pip-audit (skipped with a notice when unreachable), CycloneDX SBOM"
    NOVAMIND_VENV="$VENV" bash scripts/supply_chain.sh
    log "pytest"
    set +e
    # NOVAMIND_REQUIRE_UI=1: a missing display is an error here, never a skipped UI test
    NOVAMIND_REQUIRE_UI=1 xvfb-run -a -s "-screen 0 1600x1000x24" \
      "$VENV/bin/python" -m pytest -p no:cacheprovider "${@:2}"
    rc=$?
    set -e
    [ $rc -eq 5 ] && { echo "pytest collected no tests"; exit 1; }
    [ $rc -ne 0 ] && exit $rc
    if [ "${NOVAMIND_SKIP_BUNDLE:-0}" = "1" ]; then
      echo "NOVAMIND_SKIP_BUNDLE=1: packaged-app stage skipped"
      exit 0
    fi
    log "packaged app: build dist/novamind (PyInstaller), then its smoke test (tests/frozen)"
    stage_start=$(date +%s)
    NOVAMIND_VENV="$VENV" bash scripts/build_bundle.sh
    NOVAMIND_REQUIRE_BUNDLE=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -q tests/frozen
    echo "packaged-app stage (build + smoke): $(( $(date +%s) - stage_start )) s"
    ;;
  *)
    echo "usage: scripts/setup.sh run|test" >&2
    exit 2
    ;;
esac
