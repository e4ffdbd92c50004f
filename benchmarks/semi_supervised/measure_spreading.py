"""Measurements behind docs/semi_supervised.md: label spreading's test accuracy on
class-balanced random labels for several ``alpha`` (MNIST encoder features, digits
encoder features, wine), with and without class mass normalisation on imbalanced labels,
and ProbCover's coverage of the MNIST pool. Writes one JSON file.

    flock /tmp/bayesal-heavy.lock .venv/bin/python \\
        benchmarks/semi_supervised/measure_spreading.py \\
        --out benchmarks/results/semi_supervised/spreading.json

MNIST and digits use the cached encoders of configs/mnist_semi.yaml and
configs/digits_semi.yaml (trained on first use: about 5 minutes for MNIST on an idle
2-core machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal.acquisition.coverage import coverage, purity_radius
from bayesal.data import load_dataset
from bayesal.data.source import ArrayInputs
from bayesal.encoders import encode_dataset
from bayesal.posterior import FitSeeds, get_posterior
from bayesal.training import TrainConfig


def _balanced(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per, extra = divmod(n, len(classes))
    rows = [
        rng.choice(np.flatnonzero(y == c), per + (1 if i < extra else 0), replace=False)
        for i, c in enumerate(classes)
    ]
    return np.concatenate(rows)


def _accuracy(
    x_tr: torch.Tensor,
    y_tr: np.ndarray,
    x_te: torch.Tensor,
    y_te: np.ndarray,
    rows: np.ndarray,
    method: Any,
    pool: ArrayInputs,
    seed: int,
) -> float:
    fitted = method.fit(
        None,
        x_tr[rows],
        torch.as_tensor(y_tr[rows]),
        train_config=TrainConfig(),
        seeds=FitSeeds(init=lambda m: seed, train=lambda m: seed),
        device=torch.device("cpu"),
        num_classes=int(y_tr.max()) + 1,
        pool=pool,
        labelled_rows=rows,
    )
    return float((fitted.predict_log_probs(x_te).argmax(1).numpy() == y_te).mean())


def alpha_table(
    name: str, data: tuple[Any, ...], alphas: list[float], budgets: list[int], draws: int, k: int
) -> list[dict[str, Any]]:
    x_tr, y_tr, x_te, y_te = data
    pool = ArrayInputs(x_tr)
    out = []
    for alpha in alphas:
        method = get_posterior("label_spreading", k=k, alpha=alpha)
        method.graph(pool)  # built once per alpha (its solves are cached per label)
        for n in budgets:
            accs = [
                _accuracy(x_tr, y_tr, x_te, y_te, _balanced(y_tr, n, s), method, pool, s)
                for s in range(draws)
            ]
            out.append({"data": name, "alpha": alpha, "labels": n, "accuracy": accs})
            print(name, alpha, n, f"{100 * np.mean(accs):.1f}", flush=True)
    return out


def _features(dataset: str, encoder: str) -> tuple[Any, ...]:
    data = load_dataset(dataset)
    feats, _ = encode_dataset(data, encoder, seed=0)
    return feats.train_x.float(), feats.train_y.numpy(), feats.test_x.float(), feats.test_y.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    result: dict[str, Any] = {"alpha": []}
    mnist = _features("mnist", "simclr_mnist")
    digits = _features("digits", "simclr")
    wine_data = load_dataset("wine")
    wine = (
        wine_data.train_x,
        wine_data.train_y.numpy(),
        wine_data.test_x,
        wine_data.test_y.numpy(),
    )
    result["alpha"] += alpha_table("mnist", mnist, [0.9, 0.99], [20, 50, 100], 3, 10)
    result["alpha"] += alpha_table("digits", digits, [0.9, 0.99], [10, 20, 50, 100], 3, 10)
    result["alpha"] += alpha_table("wine", wine, [0.9, 0.99], [6, 12, 36], 10, 5)

    # Class mass normalisation: 20 balanced labels plus 30 more of class 1 (MNIST).
    x_tr, y_tr, x_te, y_te = mnist
    pool = ArrayInputs(x_tr)
    rows = np.concatenate(
        [
            _balanced(y_tr, 20, 0),
            np.random.default_rng(1).choice(np.flatnonzero(y_tr == 1), 30, replace=False),
        ]
    )
    result["imbalanced"] = []
    for cmn in (False, True):
        method = get_posterior("label_spreading", alpha=0.99, class_mass_normalization=cmn)
        acc = _accuracy(x_tr, y_tr, x_te, y_te, rows, method, pool, 0)
        result["imbalanced"].append({"class_mass_normalization": cmn, "accuracy": acc})
        print("imbalanced, cmn", cmn, f"{100 * acc:.1f}", flush=True)

    # ProbCover's coverage of a 2,000-item MNIST subset at the purity radius.
    x = (x_tr - x_tr.mean(0)) / x_tr.std(0).clamp_min(1e-8)
    rng = np.random.default_rng(0)
    subset = rng.choice(len(x), 2000, replace=False)
    result["coverage"] = []
    for n in (20, 100):
        labelled = _balanced(y_tr, n, 0)
        points = torch.cat([x[labelled], x[subset]]).double()
        delta = purity_radius(points, 10, generator=torch.Generator().manual_seed(0))
        share = coverage(x[subset].double(), x[labelled].double(), delta)
        result["coverage"].append({"labels": n, "delta": delta, "coverage": share})
        print("coverage", n, f"{delta:.2f}", f"{share:.3f}", flush=True)
    result["seconds"] = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
