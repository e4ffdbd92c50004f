#!/usr/bin/env bash
# GPU pace: on a machine with a CUDA GPU, time (1) MC-dropout BALD scoring of 100,000
# MNIST images with K = 100 (float32, and the network in bfloat16), and (2) one trial of
# the Gal et al. protocol (configs/mnist_gal2017.yaml: BALD, seed 0, 100 acquisitions)
# on CUDA, then (3) the same trial with `training.precision: bfloat16`. Targets of the
# "scale and speed" issue: (1) at most 2 s, (2) at most 60 s.
#
#   bash benchmarks/gpu_bench.sh [OUT_DIR]     (default: $OUT/gpu_bench, else out/gpu_bench)
#
# Environment: WHEELS (a folder of wheels for offline installs).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${1:-${OUT_DIR:-${OUT:-out}/gpu_bench}}"
mkdir -p "$OUT_DIR"
command -v nvidia-smi >/dev/null || { echo "gpu_bench: no nvidia-smi: not a CUDA machine" >&2; exit 1; }

# shellcheck source=benchmarks/gpu_env.sh
source benchmarks/gpu_env.sh

nvidia-smi --query-gpu=name,memory.total --format=csv
"$PY" -c 'import torch; print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")'

# 1. Scoring 100,000 images, K = 100.
"$PY" benchmarks/bench_gpu_scoring.py --device cuda --n 100000 --k 100 --bf16

# 2. One Gal et al. protocol trial on CUDA (a copy of the config with `device: cuda`).
config="$OUT_DIR/mnist_gal2017_cuda.yaml"
sed '/^device:/d' configs/mnist_gal2017.yaml >"$config"
echo "device: cuda" >>"$config"
rm -rf "$OUT_DIR/protocol"
start=$(now)
"$BAYESAL" run "$config" --out "$OUT_DIR/protocol" --strategies bald --seeds 1 --workers 1 --quiet
echo "timing: Gal et al. protocol trial (BALD, seed 0) on CUDA: $(since "$start") s"
"$PY" - "$OUT_DIR/protocol/results.csv" <<'PYEOF'
import sys
import pandas as pd
rows = pd.read_csv(sys.argv[1])
parts = {c: rows[c].sum() for c in ("train_seconds", "score_seconds", "select_seconds", "eval_seconds")}
print("time split (s): " + ", ".join(f"{k.removesuffix('_seconds')} {v:.1f}" for k, v in parts.items()))
print(f"final: {int(rows.n_labels.iloc[-1])} labels, test accuracy {rows.test_accuracy.iloc[-1]:.4f}")
PYEOF
# 3. The same trial with training.precision: bfloat16 (autocast training, bf16 scoring).
config16="$OUT_DIR/mnist_gal2017_cuda_bf16.yaml"
sed '/^training:/a\  precision: bfloat16' "$config" >"$config16"
rm -rf "$OUT_DIR/protocol_bf16"
start=$(now)
"$BAYESAL" run "$config16" --out "$OUT_DIR/protocol_bf16" --strategies bald --seeds 1 --workers 1 --quiet
echo "timing: the same trial in bfloat16: $(since "$start") s"
"$PY" - "$OUT_DIR/protocol/results.csv" "$OUT_DIR/protocol_bf16/results.csv" <<'PYEOF'
import sys
import pandas as pd
full, low = (pd.read_csv(p, comment="#") for p in sys.argv[1:])
diff = (full.test_accuracy - low.test_accuracy).abs()
print(f"bfloat16 vs float32 test accuracy: final {low.test_accuracy.iloc[-1]:.4f} vs "
      f"{full.test_accuracy.iloc[-1]:.4f}, largest per-round difference {diff.max():.4f}")
PYEOF
echo "gpu_bench: OK"
