"""Training settings for the wine MLP recipe, and the forest kinds, measured.

Test accuracy and NLL on wine's 54 test wines after training on 20 and on 80 random
training wines (5 seeds: the labelled sets are a seeded permutation's first n), and the
mean seconds per fit (one thread). The MLP is the one of ``configs/wine_mlp.yaml``
(13 -> 64 -> 64 -> 3, dropout 0.25, MC dropout's deterministic predictive); the forests
are ``forest`` posteriors of 100 estimators. Results: see ``docs/tabular.md``.

    python benchmarks/bench_wine_training.py
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from bayesal import ActiveLearner
from bayesal.data import load_wine
from bayesal.models.mlp import MLP

SETTINGS: dict[str, dict[str, Any]] = {
    "adam lr 1e-3, 500 steps (the default)": {"lr": 1e-3, "min_steps": 500},
    "adam lr 1e-2, 200 steps": {"lr": 1e-2, "min_steps": 200},
    "adam lr 1e-2, 500 steps, wd 1e-3": {"lr": 1e-2, "min_steps": 500, "weight_decay": 1e-3},
    "adam lr 3e-3, 300 steps (chosen)": {"lr": 3e-3, "min_steps": 300},
}
SIZES = (20, 80)
SEEDS = range(5)


def make_mlp() -> MLP:
    return MLP(13, 3, hidden=64, depth=2, dropout=0.25)


def measure(**learner: Any) -> tuple[dict[int, tuple[float, float]], float]:
    data = load_wine()
    results: dict[int, list[tuple[float, float]]] = {n: [] for n in SIZES}
    seconds = []
    for seed in SEEDS:
        order = np.random.default_rng(seed).permutation(data.num_train)
        for n in SIZES:
            al = ActiveLearner(data.train_x, num_classes=3, seed=seed, device="cpu", **learner)
            al.teach(order[:n], data.train_y[order[:n]].numpy())
            start = time.perf_counter()
            al.fit()
            seconds.append(time.perf_counter() - start)
            m = al.evaluate(data.test_x, data.test_y)
            results[n].append((m["accuracy"], m["nll"]))
    means = {n: tuple(float(v) for v in np.mean(r, axis=0)) for n, r in results.items()}
    return means, float(np.mean(seconds))  # type: ignore[return-value]


def main() -> None:
    torch.set_num_threads(1)
    print("| setting | acc. 20 | NLL 20 | acc. 80 | NLL 80 | s per fit |")
    print("| :--- | ---: | ---: | ---: | ---: | ---: |")
    rows: list[tuple[str, dict[str, Any]]] = [
        (f"MLP, {name}", {"model": make_mlp, "training": {"epochs": 50, **train}})
        for name, train in SETTINGS.items()
    ]
    rows += [
        (f"forest, {kind}", {"posterior": "forest", "posterior_params": {"kind": kind}})
        for kind in ("random_forest", "extra_trees", "bagging")
    ]
    for name, learner in rows:
        means, seconds = measure(**learner)
        (a20, n20), (a80, n80) = means[20], means[80]
        print(f"| {name} | {a20:.3f} | {n20:.3f} | {a80:.3f} | {n80:.3f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
