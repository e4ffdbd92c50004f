"""Repeated MNIST results beside the BatchBALD paper, and how many copies each batch took.

Reads a results directory written by ``bayesal run configs/repeated_mnist.yaml`` and
prints one markdown table: per strategy, labels to reach 90% test accuracy (median and
IQR over seeds of the first crossing, and the crossing of the seed-averaged curve), the
paper's number read off its Figure (Kirsch et al. 2019), final accuracy, and the mean
number of *distinct* MNIST images among the 10 ids acquired per round. Pool id
``r * n_base + i`` is copy ``r`` of image ``i`` (``bayesal.data.mnist.load_repeated_mnist``),
so a batch of 10 copies of 5 images counts 5.

    .venv/bin/python benchmarks/repeated_mnist_table.py benchmarks/results/repeated_mnist
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bayesal.report import load_results
from bayesal.report.tables import (
    censored_quantile,
    labels_to_threshold,
    labels_to_threshold_of_mean_curve,
)

#: Labels to reach 90% test accuracy, BatchBALD paper (Kirsch et al. 2019, Repeated MNIST).
PAPER_LABELS_TO_90 = {"batchbald": 120, "random": 195, "bald": 280}
THRESHOLD = 0.90


def base_pool_size(results_dir: Path) -> int:
    """Images per copy: the MNIST training images left after the validation split."""
    config = yaml.safe_load((results_dir / "config.resolved.yaml").read_text())
    params = config["dataset"].get("params") or {}
    if config["dataset"]["name"] != "repeated_mnist":
        raise SystemExit(f"{results_dir}: not a repeated_mnist run")
    return 60_000 - int(params.get("validation_size", 0))


def distinct_per_batch(acquired: pd.Series, n_base: int) -> float:
    """Mean number of distinct base images per acquired batch (rounds that acquired)."""
    counts = []
    for ids in acquired.dropna():
        batch = [int(i) for i in str(ids).split()]
        if batch:
            counts.append(len({i % n_base for i in batch}))
    return float(np.mean(counts)) if counts else math.nan


def fmt(x: float) -> str:
    return "n.r." if math.isinf(x) or math.isnan(x) else f"{x:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    args = parser.parse_args()
    df = load_results(args.results_dir)
    n_base = base_pool_size(args.results_dir)

    print(
        "| Strategy | Seeds | Labels to 90%: median [IQR] (k/n) | mean curve | paper "
        "| Final acc. (%) | Distinct images per batch of 10 |"
    )
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for strategy, runs in df.groupby("strategy", sort=True):
        per_seed = [
            labels_to_threshold(run.sort_values("round"), THRESHOLD)
            for _, run in runs.groupby("seed")
        ]
        reached = sum(not math.isinf(x) for x in per_seed)
        q1, med, q3 = (censored_quantile(per_seed, q) for q in (0.25, 0.5, 0.75))
        last = runs.loc[runs.groupby("seed")["round"].idxmax(), "test_accuracy"]
        paper = PAPER_LABELS_TO_90.get(str(strategy))
        print(
            f"| `{strategy}` | {len(per_seed)} "
            f"| {fmt(med)} [{fmt(q1)}, {fmt(q3)}] ({reached}/{len(per_seed)}) "
            f"| {fmt(labels_to_threshold_of_mean_curve(runs, THRESHOLD))} "
            f"| {paper if paper is not None else '-'} "
            f"| {100 * last.mean():.1f} ± {100 * last.std(ddof=1):.1f} "
            f"| {distinct_per_batch(runs['acquired_ids'], n_base):.2f} |"
        )


if __name__ == "__main__":
    main()
