"""Synthetic results directories in exactly the runner's format (results.csv, snapshots)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_moons

COLUMNS = [
    "strategy",
    "seed",
    "round",
    "n_labels",
    "test_accuracy",
    "test_nll",
    "train_seconds",
    "score_seconds",
    "select_seconds",
    "eval_seconds",
    "acquired_ids",
]


def synthetic_results(
    strategies: dict[str, float] | None = None,
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    n_rounds: int = 20,
    initial: int = 10,
    batch: int = 5,
) -> pd.DataFrame:
    """Saturating learning curves ``0.98 - 0.5 exp(-n / tau)`` plus seeded noise."""
    strategies = strategies or {"random": 60.0, "bald": 25.0, "batchbald": 20.0, "entropy": 35.0}
    rows = []
    for label, tau in strategies.items():
        for seed in seeds:
            rng = np.random.default_rng([seed, len(label)])
            ids = rng.permutation(10_000)
            for r in range(n_rounds + 1):
                n = initial + batch * r
                acc = float(np.clip(0.98 - 0.5 * np.exp(-n / tau) + rng.normal(0, 0.012), 0, 1))
                acquired = "" if r == n_rounds else " ".join(map(str, ids[n : n + batch]))
                rows.append(
                    [label, seed, r, n, acc, 1.2 * (1 - acc) + 0.05, 0.2 + 0.01 * r,
                     0.05, 0.002, 0.01, acquired]
                )  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def _kernel_posterior(
    train_x: np.ndarray,
    train_y: np.ndarray,
    labelled: np.ndarray,
    query: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``[K, Q]`` class-1 probabilities: a kernel classifier on K bootstraps of the labels."""
    x_l, y_l = train_x[labelled], train_y[labelled]
    probs = np.empty((k, len(query)))
    for i in range(k):
        pick = rng.integers(0, len(x_l), len(x_l))
        d2 = ((query[:, None, :] - x_l[pick][None, :, :]) ** 2).sum(-1)
        w = np.exp(-d2 / (2 * 0.3**2)) + 1e-9
        p1 = ((w * (y_l[pick] == 1)).sum(1) + 0.02) / (w.sum(1) + 0.04)
        # Far from the labels each sample extrapolates its own way (epistemic spread).
        guess = 1 / (1 + np.exp(-3 * (query @ rng.normal(size=2) + rng.normal())))
        trust = 1 - np.exp(-w.sum(1))
        probs[i] = trust * p1 + (1 - trust) * guess
    return np.clip(probs, 1e-6, 1 - 1e-6)


def _entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def synthetic_snapshot(
    strategy: str,
    seed: int,
    n_train: int = 300,
    grid: int = 60,
    rounds: int = 5,
    batch: int = 4,
    k: int = 8,
) -> dict[str, np.ndarray]:
    """A TwoMoons snapshot: BALD-like strategies pick max mutual information, others random."""
    rng = np.random.default_rng([seed, len(strategy)])
    train_x, train_y = make_moons(n_train, noise=0.12, random_state=seed)
    grid_x = np.linspace(-1.6, 2.6, grid)
    grid_y = np.linspace(-1.1, 1.6, int(grid * 0.7))
    gxx, gyy = np.meshgrid(grid_x, grid_y)
    query = np.stack([gxx.ravel(), gyy.ravel()], 1)
    labelled = np.zeros(n_train, bool)
    labelled[[int(np.flatnonzero(train_y == c)[0]) for c in (0, 1)]] = True
    out = {k_: [] for k_ in ("mean_prob", "predictive_entropy", "expected_entropy")}
    labelled_rounds, acquired_rounds = [], []
    for _ in range(rounds):
        probs_K_Q = _kernel_posterior(train_x, train_y, labelled, query, k, rng)
        mean = probs_K_Q.mean(0)
        out["mean_prob"].append(mean.reshape(gxx.shape))
        out["predictive_entropy"].append(_entropy(mean).reshape(gxx.shape))
        out["expected_entropy"].append(_entropy(probs_K_Q).mean(0).reshape(gxx.shape))
        pool = np.flatnonzero(~labelled)
        if "bald" in strategy:
            p_K_P = _kernel_posterior(train_x, train_y, labelled, train_x[pool], k, rng)
            bald = _entropy(p_K_P.mean(0)) - _entropy(p_K_P).mean(0)
            pick = pool[np.argsort(-bald)[:batch]]
        else:
            pick = rng.choice(pool, batch, replace=False)
        acquired = np.zeros(n_train, bool)
        acquired[pick] = True
        labelled_rounds.append(labelled.copy())
        acquired_rounds.append(acquired)
        labelled = labelled | acquired
    return {
        "grid_x": grid_x,
        "grid_y": grid_y,
        "rounds": np.arange(rounds) * 2,
        "mean_prob": np.stack(out["mean_prob"]),
        "predictive_entropy": np.stack(out["predictive_entropy"]),
        "expected_entropy": np.stack(out["expected_entropy"]),
        "labelled_mask": np.stack(labelled_rounds),
        "acquired_mask": np.stack(acquired_rounds),
        "train_x": train_x,
        "train_y": train_y,
    }


def write_results_dir(
    root: Path, df: pd.DataFrame | None = None, snapshots: dict[tuple[str, int], dict] | None = None
) -> Path:
    """Write ``results.csv`` (and ``snapshots/<label>__seed<s>.npz``) like the runner does."""
    root.mkdir(parents=True, exist_ok=True)
    (synthetic_results() if df is None else df).to_csv(root / "results.csv", index=False)
    for (label, seed), arrays in (snapshots or {}).items():
        (root / "snapshots").mkdir(exist_ok=True)
        np.savez_compressed(root / "snapshots" / f"{label}__seed{seed}.npz", **arrays)
    return root


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """A results directory with learning curves only (no snapshots)."""
    return write_results_dir(tmp_path / "run")


@pytest.fixture(scope="session")
def small_snapshots() -> dict[tuple[str, int], dict]:
    """Small snapshots of two strategies (one seed), cheap enough for unit tests."""
    return {
        (label, 0): synthetic_snapshot(label, 0, n_train=120, grid=30, rounds=4, k=4)
        for label in ("random", "bald")
    }


@pytest.fixture(scope="session")
def fx() -> SimpleNamespace:
    """The builders above, for test modules (importlib mode cannot import conftest)."""
    return SimpleNamespace(
        COLUMNS=COLUMNS,
        synthetic_results=synthetic_results,
        synthetic_snapshot=synthetic_snapshot,
        write_results_dir=write_results_dir,
    )
