"""Study shapes_segmentation: random vs per-pixel BALD vs per-pixel entropy (both
mean-reduced per image) under the same MC-dropout U-Net posterior, on the synthetic shapes
data (bayesal.data.shapes), 5 seeds.

Protocol (every arm, every seed):

* data: ``load_shapes(n_train=POOL, n_test=TEST, seed=0)`` (the same images for every
  seed; 32 x 32, 4 classes: background, circle, square, triangle);
* learner: ``ActiveLearner(pool, model=unet(base=8, depth=2, dropout=0.5),
  task="segmentation", strategy=<arm>, seed=<seed>, num_samples=K)``; the model's
  initialisation and training depend on the seed, the round and the labelled set only
  (never on the strategy), so the arms differ only by what they pick;
* round 0: ``INITIAL`` images by the learner's random cold start (the same for every arm
  of a seed); then ``ROUNDS`` acquisitions of ``BATCH`` images each;
* after each round's labels: ``evaluate`` on the test images (mIoU, pixel accuracy, IoU
  per class) under the posterior trained on those labels.

Verdict: AULC of mIoU = the mean of the test mIoU over the rounds (0 .. ROUNDS), in points
(x 100); per seed, arm minus random; the mean, its 95% t interval over the seeds, and
wins / losses. "More than seed noise" when the interval excludes 0.

Run (about 10 minutes on 2 CPU cores)::

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/segmentation/run_shapes.py

Writes ``benchmarks/results/shapes_segmentation/results.csv`` (one row per seed, arm and
round) and ``paired.json`` (the verdicts, and the settings).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from bayesal import ActiveLearner
from bayesal.data.shapes import load_shapes
from bayesal.models.unet import make_unet

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "results" / "shapes_segmentation"

POOL, TEST = 300, 100
INITIAL, BATCH, ROUNDS = 4, 4, 6
K = 20
UNET = {"base": 8, "depth": 2, "dropout": 0.5}
TRAINING = {"epochs": 1, "min_steps": 500, "batch_size": 16, "lr": 3e-3}
STRATEGIES = ("random", "bald", "entropy")
SEEDS = (0, 1, 2, 3, 4)


def make_net() -> torch.nn.Module:
    """The study's U-Net (module-level: picklable for worker processes)."""
    return make_unet(**UNET)  # type: ignore[arg-type]


def run_trial(seed: int, strategy: str) -> list[dict[str, Any]]:
    """One arm on one seed: a row per round."""
    torch.set_num_threads(1)
    data = load_shapes(n_train=POOL, n_test=TEST, seed=0)
    x, y = data.train_x.numpy(), data.train_y.numpy()
    learner = ActiveLearner(
        x,
        model=make_net,
        task="segmentation",
        strategy=strategy,
        seed=seed,
        num_samples=K,
        training=TRAINING,
        device="cpu",
    )
    rows: list[dict[str, Any]] = []
    ids = learner.query(INITIAL)
    learner.teach(ids, y[ids])
    for r in range(ROUNDS + 1):
        t0 = time.perf_counter()
        metrics = learner.evaluate(data.test_x, data.test_y)
        rows.append(
            {
                "seed": seed,
                "strategy": strategy,
                "round": r,
                "n_labels": learner.pool.num_labelled,
                **metrics,
                "query_seconds": learner.last_timings.fit
                + learner.last_timings.score
                + learner.last_timings.select,
                "eval_seconds": time.perf_counter() - t0,
                "picked": " ".join(str(i) for i in ids.tolist()),
            }
        )
        if r < ROUNDS:
            ids = learner.query(BATCH)
            learner.teach(ids, y[ids])
    return rows


def _trial(args: tuple[int, str]) -> list[dict[str, Any]]:
    return run_trial(*args)


def paired(results: pd.DataFrame, reference: str = "random") -> dict[str, Any]:
    """AULC of mIoU (points) per arm and seed, and each arm against ``reference``."""
    aulc = results.groupby(["strategy", "seed"])["miou"].mean().mul(100).unstack("seed")
    out: dict[str, Any] = {"aulc": {s: aulc.loc[s].round(4).to_dict() for s in aulc.index}}
    comparisons = {}
    for strategy in aulc.index:
        if strategy == reference:
            continue
        diffs = (aulc.loc[strategy] - aulc.loc[reference]).to_numpy()
        n = len(diffs)
        mean = float(diffs.mean())
        half = float(stats.t.ppf(0.975, n - 1) * diffs.std(ddof=1) / math.sqrt(n))
        low, high = mean - half, mean + half
        verdict = "better" if low > 0 else "worse" if high < 0 else "within seed noise"
        comparisons[strategy] = {
            "mean": mean,
            "low": low,
            "high": high,
            "wins": int((diffs > 0).sum()),
            "losses": int((diffs < 0).sum()),
            "seeds": n,
            "verdict": verdict,
        }
    out["vs_random"] = comparisons
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (1 thread each)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    trials = [(seed, strategy) for seed in args.seeds for strategy in args.strategies]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(args.jobs) as workers:
            parts = workers.map(_trial, trials, chunksize=1)
    else:
        parts = [_trial(t) for t in trials]
    wall = time.perf_counter() - t0
    results = pd.DataFrame([row for part in parts for row in part])
    args.out.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out / "results.csv", index=False)
    summary = paired(results)
    summary["settings"] = {
        "pool": POOL,
        "test": TEST,
        "initial": INITIAL,
        "batch": BATCH,
        "rounds": ROUNDS,
        "num_samples": K,
        "unet": UNET,
        "training": TRAINING,
        "seeds": args.seeds,
        "strategies": args.strategies,
        "jobs": args.jobs,
    }
    summary["wall_seconds"] = round(wall, 1)
    summary["machine"] = f"{platform.machine()}, {multiprocessing.cpu_count()} CPUs"
    (args.out / "paired.json").write_text(json.dumps(summary, indent=2) + "\n")
    final = results[results["round"] == ROUNDS].groupby("strategy")["miou"].mean()
    print(f"wall {wall:.0f} s; final mIoU by arm: {final.round(3).to_dict()}")
    print(json.dumps(summary["vs_random"], indent=2))
    print(np.round(results.groupby(["strategy", "round"])["miou"].mean().unstack(), 3))


if __name__ == "__main__":
    main()
