"""Peak memory of input validation and of every registered pointwise score, side by side.

For ``check_log_probs`` and for ``strategy.score`` of every strategy that
``bayesal.acquisition.is_pointwise`` accepts (``available_strategies()``: ``random``,
``bald``, ``power_bald``, ...), one seeded float32 ``[N, K, C]`` tensor of
log-probabilities (log_softmax of Gaussian logits, default ``[100_000, 100, 10]``,
400 MB) is scored once, each in a fresh process, and the process's peak resident memory
during the call is compared with the input's size:

    extra = peak RSS during the call - RSS just before it (input allocated, warmed up)
    ratio = (input bytes + extra) / input bytes

Measuring: torch's CPU allocations are invisible to ``tracemalloc``, so the script reads
the kernel's counters: before the call it resets the process's peak (``VmHWM``, by
writing ``5`` to ``/proc/self/clear_refs``) and reads ``VmRSS``; after it, it reads the
peak again (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which is ``VmHWM``). Where the
reset is refused, the peak since the process started is used (an overestimate, never an
underestimate; the input is generated chunk by chunk so that its generation peaks low).
Each measurement runs in its own process, so that memory freed by one call and kept by
the allocator cannot hide the next call's peak. Before the measured call the same
function runs once on a 64-row slice, so that one-time allocations (thread pool, MKL
buffers) are in the baseline, not in the figure; then the C heap's free memory is handed
back to the kernel (glibc ``malloc_trim``), so that the call cannot reuse memory freed
before it without it being counted.

Exits with status 1 when any ratio exceeds ``--limit`` (default 1.25).

Run (about a minute on 2 cores; heavy, so wrap it in the shared lock):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_memory.py
Options: --n --k --c --threads --limit --strategies NAME,NAME (default: every pointwise
strategy) --seed, --json OUT (write the figures as JSON: the raw output a README quotes).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

CHECK = "check_log_probs"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def _trim_heap() -> bool:
    """Give the C heap's free memory back to the kernel (glibc ``malloc_trim``), so that
    memory freed before the call (input generation, warm-up) cannot be reused unseen."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return False
    return True


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _make_input(n: int, k: int, c: int, seed: int) -> torch.Tensor:
    import torch

    log_probs = torch.empty(n, k, c)
    g = torch.Generator().manual_seed(seed)
    step = max(1, (1 << 20) // (k * c))
    for start in range(0, n, step):
        end = min(n, start + step)
        # A per-point mean and a per-point spread across the K samples, so points differ.
        centre = torch.randn(end - start, 1, c, generator=g) * 2.0
        spread = torch.rand(end - start, 1, 1, generator=g) * 2.0
        logits = centre + spread * torch.randn(end - start, k, c, generator=g)
        torch.log_softmax(logits, dim=-1, out=log_probs[start:end])
    return log_probs


def child(args: argparse.Namespace) -> None:
    """Measure one function in this (fresh) process; print one JSON line."""
    import torch

    import bayesal.acquisition as acq

    torch.set_num_threads(args.threads)
    log_probs = _make_input(args.n, args.k, args.c, args.seed)
    generator = torch.Generator().manual_seed(0)
    if args.child == CHECK:

        def call(x: torch.Tensor) -> object:
            return acq.check_log_probs(x)

    else:
        strategy = acq.get_strategy(args.child)

        def call(x: torch.Tensor) -> object:
            return strategy.score(x, generator=generator)

    call(log_probs[:64].clone())  # one-time allocations go into the baseline
    _trim_heap()
    reset = _reset_peak()
    rss_before_kb = _status_kb("VmRSS")
    start = time.perf_counter()
    result = call(log_probs)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del result
    input_bytes = log_probs.numel() * log_probs.element_size()
    extra_bytes = max(0, peak_kb - rss_before_kb) * 1024
    print(
        json.dumps(
            {
                "name": args.child,
                "input_bytes": input_bytes,
                "extra_bytes": extra_bytes,
                "seconds": seconds,
                "peak_reset": reset,
            }
        )
    )


def pointwise_strategies() -> list[str]:
    """The registered strategies that ``is_pointwise`` accepts (no target needed)."""
    import bayesal.acquisition as acq

    return [name for name in acq.available_strategies() if acq.is_pointwise(acq.get_strategy(name))]


def _write_json(args: argparse.Namespace, rows: list[dict], worst: float, complete: bool) -> None:
    import torch

    record = {
        "benchmark": "bench_memory",
        "torch": torch.__version__,
        "n": args.n,
        "k": args.k,
        "c": args.c,
        "threads": args.threads,
        "complete": complete,
        "rows": rows,
        "worst_ratio": worst,
        "load_average": os.getloadavg(),
    }
    Path(args.json).write_text(json.dumps(record, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--c", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=float, default=1.25)
    parser.add_argument("--strategies", default="", help="comma-separated; default: all")
    parser.add_argument("--json", default="", help="write the figures to this file")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0

    import torch

    import bayesal

    names = [s for s in args.strategies.split(",") if s] or pointwise_strategies()
    input_mb = args.n * args.k * args.c * 4 / 1e6
    print(
        f"bayesal {getattr(bayesal, '__version__', '?')} from {Path(bayesal.__file__).parent}, "
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"{args.threads} thread(s)"
    )
    print(
        f"input: float32 [{args.n}, {args.k}, {args.c}] = {input_mb:.0f} MB; each row is one "
        "fresh process; ratio = (input + peak extra) / input"
    )
    print()
    print("| function | peak extra (MB) | extra bytes / element | ratio | seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    worst = 0.0
    failures = []
    rows = []
    for name in [CHECK, *names]:
        command = [
            sys.executable,
            __file__,
            "--child",
            name,
            *("--n", str(args.n), "--k", str(args.k), "--c", str(args.c)),
            *("--threads", str(args.threads), "--seed", str(args.seed)),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1:]} | | | |")
            failures.append(name)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = (row["input_bytes"] + row["extra_bytes"]) / row["input_bytes"]
        per_element = row["extra_bytes"] / (args.n * args.k * args.c)
        worst = max(worst, ratio)
        rows.append({**row, "ratio": ratio})
        if args.json:  # after every row: a run cut short keeps what it measured
            _write_json(args, rows, worst, complete=False)
        flag = "" if row["peak_reset"] else " (peak not reset)"
        label = f"`{name}`" if name == CHECK else f"`{name}`.score"
        print(
            f"| {label}{flag} | {row['extra_bytes'] / 1e6:.1f} | {per_element:.2f} | "
            f"{ratio:.3f} | {row['seconds']:.2f} |",
            flush=True,
        )
        if ratio > args.limit:
            failures.append(name)
    print()
    print(f"worst ratio {worst:.3f} (limit {args.limit})")
    if args.json:
        _write_json(args, rows, worst, complete=True)
        print(f"figures written to {args.json}")
    if failures:
        print(f"over the limit or failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
