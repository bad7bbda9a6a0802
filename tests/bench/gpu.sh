#!/usr/bin/env bash
# GPU checks (issue 21 item 6): LLM decode (engine vs bare vs the bandwidth bound), XGBoost
# CUDA caseload prediction for 1,000,000 rows, the twin scene's fps on EGL.
#
#   bash tests/bench/gpu.sh --dry-run            # here, on the CPU: tiny shapes, same code
#   bash tests/bench/gpu.sh --prepare            # here, with PyPI: fill .gpu/ (see below)
#   bash tests/bench/gpu.sh [--only llm,xgb,twin] [--stage build|measure|all]   # GPU machine
#
# The GPU machine reaches no registry (docs/benchmarks.md, "GPU checks"), and one call carries
# at most 64 MiB with the working tree (about 11 MiB), so --prepare writes, git-ignored:
#   .gpu/llama/   llama-cpp-python's sdist without git objects, test vocabularies, docs (12 MB)
#   .gpu/base/    wheels (gguf, diskcache, cryptography, cffi, pycparser), vtk-min.tar.xz (the
#                 VTK files a rendered twin scene maps, from the cp312 wheel: 41 MB), the CUDA
#                 xgboost wheel's sha256
#   .gpu/xgb1..4/ the CUDA xgboost wheel (132 MB) in four parts
#   .gl/          EGL/GL loader .debs (the device README's recipe)
# Calls on one warm machine (what a call carried stays there while the machine is warm):
#   1. carry .gpu/llama .gpu/xgb1: bash tests/bench/gpu.sh --stage build   (llama.cpp, minutes)
#   2-4. carry .gpu/xgb2, then .gpu/xgb3, then .gpu/xgb4: true
#   5. carry .gpu/base .gl: bash tests/bench/gpu.sh
# A missing xgboost part leaves the XGBoost check CPU-only (said in its output), nothing else.
#
# On the GPU machine: a scratch venv (NOVAMIND_GPU_VENV, default .gpu/venv) that also sees the
# image's packages (numpy, CuPy, CMake, scikit-build-core) through a .pth file; llama-cpp-python
# built there with CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=<this GPU>" (minutes;
# --stage build stops after it, a later --stage measure on the warm machine reuses it, --venv
# DIR uses a venv built before). Each check writes $OUT/gpu_<name>.json and prints its table;
# the log goes to $OUT/gpu.log.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

XGB_PARTS=4  # the CUDA xgboost wheel (132 MB) travels in this many carries
DRY=0 PREPARE=0 STAGE=all ONLY=llm,xgb,twin VENV=${NOVAMIND_GPU_VENV:-$ROOT/.gpu/venv}
PYVER=${NOVAMIND_GPU_PYVER:-3.12}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prepare) PREPARE=1 ;;
    --stage) STAGE=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --venv) VENV=$2; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
LOG=${OUT:-$ROOT/bench-results}/gpu.log
mkdir -p "$(dirname "$LOG")"
say() { echo "gpu.sh: $*" | tee -a "$LOG"; }

# --- here, with PyPI: what the GPU machine cannot download -----------------------------------
if [ $PREPARE = 1 ]; then
  set -e
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo '/.gl/' >> .git/info/exclude
  DL=.gpu/downloads; mkdir -p $DL .gpu/base .gl
  plat=(--only-binary=:all: --python-version "$PYVER" --implementation cp
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform any)
  ver() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
  "$PY" -m pip download -q --no-deps "${plat[@]}" -d $DL "gguf==$(ver gguf)" \
    "diskcache==$(ver diskcache)" "cryptography==$(ver cryptography)" cffi pycparser \
    "xgboost==$(ver xgboost-cpu)" "vtk==$(ver vtk)"
  "$PY" -m pip download -q --no-deps --no-binary=:all: -d $DL \
    "llama-cpp-python==$(ver llama_cpp_python)"
  rm -rf .gpu/base .gpu/llama .gpu/xgb[0-9] && mkdir -p .gpu/base .gpu/llama
  cp $DL/gguf-*.whl $DL/diskcache-*.whl $DL/cryptography-*.whl $DL/cffi-*.whl \
    $DL/pycparser-*.whl .gpu/base/
  # llama-cpp-python's sdist without git objects, test vocabularies, docs and media
  rm -rf $DL/slim && mkdir $DL/slim && tar xzf $DL/llama_cpp_python-*.tar.gz -C $DL/slim
  (cd $DL/slim/llama_cpp_python-* && rm -rf .git vendor/llama.cpp/docs vendor/llama.cpp/media \
     vendor/llama.cpp/benches vendor/llama.cpp/.github vendor/llama.cpp/models/*.gguf)
  (cd $DL/slim && tar czf "$ROOT/.gpu/llama/$(basename $DL/llama_cpp_python-*.tar.gz)" llama_cpp_python-*)
  # the VTK files a rendered twin scene maps, taken from the cp312 wheel
  NOVAMIND_GPU_DRY_RUN=1 "$PY" - "$PYVER" > $DL/vtk-files.txt <<'EOF'
import json, sys, sysconfig
from pathlib import Path
from viz import gl
gl.prepare_headless()
from viz.brain import load_brain
from viz.regions import build_atlas
from viz.scene import TwinScene
from tests.bench.bench_viz import REGIONS
brain = load_brain()
scene = TwinScene(build_atlas(json.loads(REGIONS.read_text()), brain), brain, window_size=(64, 48))
scene.render()
here = sys.version_info
want = sys.argv[1].replace(".", "")
site = sysconfig.get_paths()["platlib"] + "/"
for f in sorted({l.split()[-1] for l in open("/proc/self/maps") if "vtkmodules" in l}):
    rel = f.removeprefix(site)
    rel = rel.replace(f"cpython-{here.major}{here.minor}", f"cpython-{want}")
    print(rel.replace(f"Core{here.major}.{here.minor}", f"Core{sys.argv[1]}"))
EOF
  rm -rf $DL/vtk && mkdir $DL/vtk && (cd $DL/vtk && unzip -q ../vtk-*.whl)
  (cd $DL/vtk && tar cf - $(cat ../vtk-files.txt) vtkmodules/*.py vtkmodules/util \
     | xz -T0 -6 > "$ROOT/.gpu/base/vtk-min.tar.xz")
  whl=$(basename $DL/xgboost-*manylinux*.whl)
  split -n $XGB_PARTS -d -a 1 $DL/$whl $DL/$whl.part-
  for i in $(seq 1 $XGB_PARTS); do mkdir -p .gpu/xgb$i && mv $DL/$whl.part-$((i - 1)) .gpu/xgb$i/; done
  (cd $DL && sha256sum $whl) > .gpu/base/$whl.sha256
  # EGL / GL loaders (device README recipe)
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial && apt-get $o update -qq && (cd .gl && apt-get $o download \
    libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  du -sh .gpu/base .gpu/llama .gpu/xgb[0-9] .gl
  echo "prepared; each carry must stay under 64 MiB with the working tree ($(git ls-files -z | du -ch --files0-from=- | tail -1))"
  exit 0
fi

status=0
run_check() {  # name, python, extra args
  local name=$1 py=$2; shift 2
  say "--- $name ---"
  if ! "$py" -m "tests.bench.gpu_$name" "$@" 2>&1 | tee -a "$LOG"; then
    say "$name: FAILED (see above)"; status=1
  fi
}

# --- dry run: the same checks on this CPU, tiny shapes ----------------------------------------
if [ $DRY = 1 ]; then
  PY=${PYTHON:-$ROOT/.venv/bin/python}
  export PYTHONPATH=$ROOT NOVAMIND_GPU_DRY_RUN=1
  say "dry run on $(uname -m) with $("$PY" --version 2>&1), load $(cut -d' ' -f1 /proc/loadavg)"
  for c in llm xgb twin; do wants $c && run_check $c "$PY" --dry-run; done
  say "dry run done (status $status)"
  exit $status
fi

# --- the GPU machine ---------------------------------------------------------------------------
if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
  echo "gpu.sh: no NVIDIA GPU here (nvidia-smi missing or sees no device)." >&2
  echo "gpu.sh: run it on a GPU machine, or 'bash tests/bench/gpu.sh --dry-run' on the CPU." >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv | tee -a "$LOG"
ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
HOSTPY=${PYTHON:-python3}
if ! ldconfig -p 2> /dev/null | grep -q 'libEGL.so.1 '; then  # a bare image: the carried loaders
  for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
  ldconfig 2> /dev/null || true
fi
[ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] &&
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
# reassemble the xgboost wheel carried in parts (.gpu/xgb1..N), checked against its sha256
for sum in .gpu/base/*.whl.sha256; do
  [ -e "$sum" ] || continue
  whl=$(basename "${sum%.sha256}")
  [ -e ".gpu/$whl" ] && continue
  n=$(ls .gpu/xgb*/"$whl".part-* 2> /dev/null | wc -l)
  if [ "$n" = $XGB_PARTS ]; then
    cat $(ls .gpu/xgb*/"$whl".part-* | sort) > ".gpu/$whl.tmp"  # part i-1 is in .gpu/xgb<i>
    if (cd .gpu && sed "s/\.whl\$/.whl.tmp/" "base/$whl.sha256" | sha256sum -c --quiet -); then
      mv ".gpu/$whl.tmp" ".gpu/$whl" && say "reassembled $whl"
    else
      rm -f ".gpu/$whl.tmp"; say "$whl: parts do not match its sha256; XGBoost stays CPU-only"
    fi
  else
    say "$n of $XGB_PARTS parts of $whl here: the XGBoost check runs CPU-only"
  fi
done
PY=$VENV/bin/python
if [ ! -x "$PY" ]; then
  say "scratch venv $VENV (sees $HOSTPY's packages)"
  # no pip inside (the image's python may lack ensurepip): $HOSTPY's pip installs into it
  "$HOSTPY" -m venv --without-pip "$VENV" || exit 1
  "$HOSTPY" -c 'import sysconfig as s; print(s.get_paths()["purelib"]); print(s.get_paths()["platlib"])' \
    > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/host-site.pth"
fi
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
PIP=("$HOSTPY" -m pip --python "$PY" install -q --no-index --no-deps --no-cache-dir)
if ls .gpu/base/*.whl > /dev/null 2>&1; then "${PIP[@]}" .gpu/base/*.whl || status=1; fi
if wants twin && [ -e .gpu/base/vtk-min.tar.xz ] && ! "$PY" -c 'import vtkmodules.vtkRenderingOpenGL2' 2> /dev/null; then
  tar xJf .gpu/base/vtk-min.tar.xz -C "$SITE" && say "VTK (twin scene's modules) unpacked"
fi
if wants xgb && ls .gpu/xgboost-*.whl > /dev/null 2>&1 &&
  ! "$PY" -c 'import xgboost, sys; sys.exit(not xgboost.build_info().get("USE_CUDA"))' 2> /dev/null; then
  "${PIP[@]}" .gpu/xgboost-*.whl && say "CUDA xgboost installed"
fi
if wants llm &&
  ! "$PY" -c 'import llama_cpp, sys; sys.exit(not llama_cpp.llama_supports_gpu_offload())' 2> /dev/null; then
  sdist=$(ls .gpu/llama/llama_cpp_python-*.tar.gz 2> /dev/null | head -1)
  if [ -z "$sdist" ]; then
    say "no CUDA llama-cpp-python in $VENV and no sdist in .gpu/llama (run --prepare here first)"
    status=1
  else
    say "building $(basename "$sdist") with CUDA for sm_$ARCH ($(nproc) jobs)"
    t0=$(date +%s)
    CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$ARCH -DLLAMA_BUILD_TESTS=OFF" \
      CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "${PIP[@]}" --no-build-isolation "$sdist" \
      2>&1 | tail -20 | tee -a "$LOG"
    say "llama-cpp-python build: $(( $(date +%s) - t0 )) s"
  fi
fi
[ "$STAGE" = build ] && { say "build stage done (status $status)"; exit $status; }

export PYTHONPATH=$ROOT
wants llm && run_check llm "$PY" --dir "${NOVAMIND_GPU_SCRATCH:-/tmp/novamind-gguf}"
wants xgb && run_check xgb "$PY"
wants twin && run_check twin "$PY"
say "done (status $status); results: ${OUT:-$ROOT/bench-results}/gpu_*.json"
exit $status
