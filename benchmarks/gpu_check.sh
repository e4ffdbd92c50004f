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

# shellcheck source=benchmarks/gpu_env.sh
source benchmarks/gpu_env.sh

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
