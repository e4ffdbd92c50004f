"""The pilot behind ``configs/wine_semi_variants.yaml``: which teacher, threshold and
grouping the ``self_training`` posterior uses on wine (docs/semi_supervised.md).

Three measurements on wine's 124-wine pool (54 test wines), each from 2 class-balanced
random labels per class (seeded by the pilot seed, not the study's seed stream):

1. ``teacher``: the label-spreading teacher's pseudo-labels (k = 5, alpha 0.9, 20
   bootstrap members, one group's block of 4 members) at 6, 12 and 30 labels: how many
   unlabelled wines pass each threshold and how many of those are right (pool labels).
2. ``curves``: random acquisition, 6 -> 36 labels one at a time, test accuracy at 6, 8,
   12, 20 and 36 labels and the mean accuracy over the 31 rounds (AULC, %), for forest /
   MLP and self-training variants (teachers label spreading and self; forest groups 5
   and 1); BALD too for forest + label spreading with 5 groups and with 1.
3. ``disagreement``: at 6 labels, the mean BALD (mutual information, nats) over the
   unlabelled pool of the forest, and of forest + label spreading with 5 groups and 1.

    python benchmarks/semi_supervised/measure_self_training.py \
        --out benchmarks/results/semi_supervised/self_training.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal import ActiveLearner
from bayesal.acquisition import bald
from bayesal.data import load_wine
from bayesal.data.source import ArrayInputs
from bayesal.models import build_model
from bayesal.posterior import FitSeeds, get_posterior
from bayesal.training import TrainConfig

TRAIN = {"optimizer": "adam", "lr": 0.003, "epochs": 50, "batch_size": 64, "min_steps": 300}
FOREST = {"name": "forest", "params": {"n_estimators": 100}}
MLP = {"name": "mc_dropout", "params": {"num_samples": 20}}
GRAPH = {"members": 20, "k": 5, "alpha": 0.9}


def _mlp(seed: int) -> torch.nn.Module:
    return build_model(
        "mlp", seed=seed, in_features=13, num_classes=3, hidden=64, depth=2, dropout=0.25
    )


ARMS: dict[str, dict[str, Any]] = {
    "forest": {"model": None, "posterior": "forest", "posterior_params": FOREST["params"]},
    "forest_st_ls_g5": {
        "model": None,
        "posterior": "self_training",
        "posterior_params": {"base": FOREST, "graph": GRAPH, "threshold": 0.7, "groups": 5},
    },
    "forest_st_ls_g1": {
        "model": None,
        "posterior": "self_training",
        "posterior_params": {"base": FOREST, "graph": GRAPH, "threshold": 0.7, "groups": 1},
    },
    "forest_st_self_t0.9": {
        "model": None,
        "posterior": "self_training",
        "posterior_params": {"base": FOREST, "teacher": "self", "threshold": 0.9},
    },
    "mlp": {"model": _mlp, "posterior": "mc_dropout", "training": TRAIN},
    "mlp_st_ls_t0.7": {
        "model": _mlp,
        "posterior": "self_training",
        "posterior_params": {"base": MLP, "graph": GRAPH, "threshold": 0.7},
        "training": TRAIN,
    },
    "mlp_st_self_t0.9": {
        "model": _mlp,
        "posterior": "self_training",
        "posterior_params": {"base": MLP, "teacher": "self", "threshold": 0.9},
        "training": TRAIN,
    },
}
CURVES = [(arm, "random") for arm in ARMS] + [
    ("forest_st_ls_g5", "bald"),
    ("forest_st_ls_g1", "bald"),
]


def _initial(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(3)]
    )


def teacher(x: torch.Tensor, y: np.ndarray, seeds: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    method = get_posterior("label_spreading", **GRAPH)
    for per_class in (2, 4, 10):
        rows: dict[str, list[tuple[int, int]]] = {}
        for seed in seeds:
            init = _initial(y, per_class, seed)
            fitted = method.fit(
                None,
                x[init],
                torch.from_numpy(y[init]),
                train_config=TrainConfig(),
                seeds=FitSeeds(lambda m, s=seed: 10 * s + m, lambda m: 0),
                device=torch.device("cpu"),
                num_classes=3,
                pool=ArrayInputs(x),
                labelled_rows=init,
            )
            unlabelled = np.setdiff1d(np.arange(len(x)), init)
            p = fitted.posterior.probs(x[unlabelled], [0, 1, 2, 3]).mean(1).numpy()  # type: ignore[attr-defined]
            for t in (0.5, 0.6, 0.7, 0.8, 0.9):
                keep = p.max(1) > t
                right = int((p[keep].argmax(1) == y[unlabelled][keep]).sum())
                rows.setdefault(str(t), []).append((int(keep.sum()), right))
        out[f"{3 * per_class} labels"] = {
            t: {
                "pseudo_labels_mean": float(np.mean([n for n, _ in v])),
                "right_share": float(sum(r for _, r in v) / max(sum(n for n, _ in v), 1)),
            }
            for t, v in rows.items()
        }
    return out


def curve(ds: Any, arm: str, strategy: str, seed: int) -> tuple[list[float], float, float]:
    x, y = ds.train_x.numpy(), ds.train_y.numpy()
    init = _initial(y, 2, seed)
    start = time.perf_counter()
    learner = ActiveLearner(x, num_classes=3, strategy=strategy, seed=seed, **ARMS[arm])
    learner.teach(init, y[init])
    accs = []
    for r in range(31):
        fitted = learner.fit()
        pred = fitted.predict_log_probs(ds.test_x).argmax(1).cpu()
        accs.append(float((pred == ds.test_y).float().mean()))
        if r < 30:
            ids = learner.query(1)
            learner.teach(ids, y[ids])
    return accs, 100 * float(np.mean(accs)), time.perf_counter() - start


def disagreement(ds: Any, seeds: list[int]) -> dict[str, float]:
    x, y = ds.train_x.numpy(), ds.train_y.numpy()
    out = {}
    for arm in ("forest", "forest_st_ls_g5", "forest_st_ls_g1"):
        values = []
        for seed in seeds:
            init = _initial(y, 2, seed)
            learner = ActiveLearner(x, num_classes=3, seed=seed, **ARMS[arm])
            learner.teach(init, y[init])
            unlabelled = np.setdiff1d(np.arange(len(x)), init)
            log_probs = (
                learner.fit()
                .draw(torch.Generator().manual_seed(0))
                .log_probs(torch.from_numpy(x[unlabelled]))
            )
            values.append(float(bald(log_probs.double()).mean()))
        out[arm] = float(np.mean(values))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ds = load_wine(test_fraction=0.3, seed=0)
    seeds = list(range(args.seeds))
    result: dict[str, Any] = {
        "teacher": teacher(ds.train_x, ds.train_y.numpy(), list(range(5))),
        "disagreement_mean_bald_6_labels": disagreement(ds, list(range(5))),
        "curves": {},
    }
    print(json.dumps(result["teacher"], indent=1), result["disagreement_mean_bald_6_labels"])
    for arm, strategy in CURVES if seeds else []:  # --seeds 0: measurements 1 and 3 only
        rows = []
        for seed in seeds:
            accs, aulc, seconds = curve(ds, arm, strategy, seed)
            at = [round(100 * accs[i], 1) for i in (0, 2, 6, 14, 30)]
            rows.append({"seed": seed, "acc_6_8_12_20_36": at, "aulc": aulc, "seconds": seconds})
            print(f"{arm} {strategy} seed {seed}: {at} AULC {aulc:.1f} ({seconds:.1f} s)")
        result["curves"][f"{arm} {strategy}"] = {
            "per_seed": rows,
            "mean_aulc": float(np.mean([r["aulc"] for r in rows])),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
