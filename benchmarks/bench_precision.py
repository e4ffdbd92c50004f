"""bfloat16 against float32 (``training.precision``), side by side in one run, on this CPU.

Three measurements:

1. **Results.** The MNIST quick comparison (``configs/mnist_quick.yaml``: BALD and random,
   Gal CNN, 20 -> 220 labels) run twice through ``bayesal run``'s runner, once in float32
   and once with ``training.precision: bfloat16`` (training under autocast, scoring and
   evaluation on a bfloat16 copy), same seeds: test accuracy per round of each, the
   largest per-round difference, how many picks the two share, and the wall time.
2. **Scoring.** MC-dropout BALD of ``--score-n`` MNIST images with K = 100 by the same
   trained network in float32 and in bfloat16: seconds, largest score difference, and the
   overlap of the top 100.
3. **Training speed.** The Gal CNN on 200 labels with the protocol's settings, the two
   precisions interleaved, best of 3 (the runs' wall times above are sequential, so
   other load on a shared machine lands on one of them).

Run (a few minutes; wrap it in the shared lock):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_precision.py
Options: --seeds, --score-n, --out (keep the two results directories), --no-runs (only
the timings), --json OUT (the timings and, unless --no-runs, the runs' curves, differences,
shared picks and wall times: the raw output a README quotes).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bayesal.acquisition.scores import bald
from bayesal.data import load_dataset
from bayesal.experiment.config import load_config
from bayesal.experiment.runner import run_experiment
from bayesal.models import build_model
from bayesal.posterior import MCDropoutPosterior
from bayesal.training import TrainConfig, fit

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mnist_quick.yaml"


def run_both(seeds: int, out: Path) -> dict[str, tuple[pd.DataFrame, float]]:
    runs = {}
    for precision in ("float32", "bfloat16"):
        config = load_config(CONFIG, {"seeds": seeds, "training.precision": precision})
        start = time.perf_counter()
        results = run_experiment(config, out / precision, workers=1, progress=False)
        runs[precision] = (pd.read_csv(results, comment="#"), time.perf_counter() - start)
    return runs


def compare_runs(runs: dict[str, tuple[pd.DataFrame, float]]) -> dict[str, Any]:
    full, full_s = runs["float32"]
    low, low_s = runs["bfloat16"]
    keys = ["strategy", "seed", "round"]
    both = full.merge(low, on=keys, suffixes=("_32", "_16"))
    print(f"runner wall time: float32 {full_s:.1f} s, bfloat16 {low_s:.1f} s "
          f"({full_s / low_s:.2f}x)")  # fmt: skip
    record: dict[str, Any] = {
        "config": "configs/mnist_quick.yaml",
        "seeds": sorted(int(s) for s in both["seed"].unique()),
        "wall_seconds": {"float32": full_s, "bfloat16": low_s},
        "strategies": {},
    }
    for strategy, group in both.groupby("strategy"):
        curve = group.groupby("round")[["n_labels_32", "test_accuracy_32", "test_accuracy_16"]]
        mean = curve.mean()
        diff = (group["test_accuracy_16"] - group["test_accuracy_32"]).abs()
        shared = [
            len(set(str(a).split()) & set(str(b).split()))
            for a, b in zip(group["acquired_ids_32"], group["acquired_ids_16"], strict=True)
            if isinstance(a, str) and a
        ]
        picked = sum(len(str(a).split()) for a in group["acquired_ids_32"] if isinstance(a, str))
        print(f"\n{strategy}: mean test accuracy per round (float32 / bfloat16)")
        for r, row in mean.iterrows():
            print(f"  round {r:2d}, {row.n_labels_32:4.0f} labels: "
                  f"{row.test_accuracy_32:.4f} / {row.test_accuracy_16:.4f}")  # fmt: skip
        print(f"  largest |difference| of one seed's round: {diff.max():.4f}; "
              f"picks shared: {sum(shared)} of {picked}")  # fmt: skip
        record["strategies"][str(strategy)] = {
            "labels": [int(v) for v in mean["n_labels_32"]],
            "float32_mean_accuracy": [float(v) for v in mean["test_accuracy_32"]],
            "bfloat16_mean_accuracy": [float(v) for v in mean["test_accuracy_16"]],
            "max_abs_round_diff": float(diff.max()),
            "max_abs_mean_diff": float(
                (mean["test_accuracy_16"] - mean["test_accuracy_32"]).abs().max()
            ),
            "picks_shared": int(sum(shared)),
            "picks": int(picked),
        }
    return record


def compare_scoring(n: int, k: int = 100) -> dict[str, float]:
    data = load_dataset("mnist")
    x = data.train_x[:n]
    model = build_model("gal_cnn", seed=0)
    fit(model, data.train_x[:200], data.train_y[:200], TrainConfig(min_steps=200), seed=0)
    low = copy.deepcopy(model).to(torch.bfloat16)
    out = {}
    for name, net in (("float32", model), ("bfloat16", low)):
        draw = MCDropoutPosterior(net).draw(k, torch.Generator().manual_seed(0))
        draw.log_probs(x[:256])  # warm-up
        start = time.perf_counter()
        scores = torch.cat([bald(draw.log_probs(x[i : i + 4096])) for i in range(0, n, 4096)])
        out[name] = (scores, time.perf_counter() - start)
    (s32, t32), (s16, t16) = out["float32"], out["bfloat16"]
    top = 100
    overlap = len(set(s32.topk(top).indices.tolist()) & set(s16.topk(top).indices.tolist()))
    print(f"\nscoring {n:,} images, K = {k}: float32 {t32:.2f} s, bfloat16 {t16:.2f} s "
          f"({t32 / t16:.2f}x); max |BALD difference| {(s32 - s16).abs().max():.4f} nats "
          f"(float32 scores up to {s32.max():.3f}); top-{top} overlap {overlap}/{top}")  # fmt: skip
    return {
        "n": n,
        "k": k,
        "float32_seconds": t32,
        "bfloat16_seconds": t16,
        "speedup": t32 / t16,
        "max_abs_bald_diff": float((s32 - s16).abs().max()),
        "max_bald_float32": float(s32.max()),
        "top100_overlap": overlap,
    }


def compare_training(repeats: int = 3) -> dict[str, float]:
    """Training speed, interleaved (float32, bfloat16, float32, ...), best of ``repeats``:
    the Gal CNN on 200 labels, 400 steps of batch 32 (the protocol's settings)."""
    data = load_dataset("mnist")
    x, y = data.train_x[:200], data.train_y[:200]
    best = {"float32": float("inf"), "bfloat16": float("inf")}
    for _ in range(repeats):
        for precision in best:
            config = TrainConfig(batch_size=32, epochs=20, min_steps=400, precision=precision)
            start = time.perf_counter()
            fit(build_model("gal_cnn", seed=0), x, y, config, seed=0)
            best[precision] = min(best[precision], time.perf_counter() - start)
    print(f"\ntraining (200 labels, 400 steps of 32, best of {repeats}): float32 "
          f"{best['float32']:.2f} s, bfloat16 {best['bfloat16']:.2f} s "
          f"({best['float32'] / best['bfloat16']:.2f}x)")  # fmt: skip
    return {
        "repeats": repeats,
        "float32_seconds": best["float32"],
        "bfloat16_seconds": best["bfloat16"],
        "speedup": best["float32"] / best["bfloat16"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--score-n", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-runs", action="store_true", help="only the timings")
    parser.add_argument("--json", type=Path, default=None, help="write the timings here")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    load_start = os.getloadavg()
    scoring = compare_scoring(args.score_n)
    training = compare_training()
    record: dict[str, Any] = {
        "benchmark": "bench_precision",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "scoring": scoring,
        "training": training,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
    }

    def write() -> None:
        if args.json is not None:
            args.json.write_text(json.dumps(record, indent=1))
            print(f"figures written to {args.json}")

    write()  # the timings now; rewritten with the runs when they finish
    if args.no_runs:
        return
    if args.out is not None:
        record["runs"] = compare_runs(run_both(args.seeds, args.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            record["runs"] = compare_runs(run_both(args.seeds, Path(tmp)))
    record["load_average_end"] = os.getloadavg()
    write()


if __name__ == "__main__":
    main()
