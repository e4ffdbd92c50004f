"""Measure built-in encoder candidates on MNIST: training time and few-label accuracy.

Each candidate is trained without labels on the 60k training images (never the test
set), its features of the training pool and the 10k test set are computed, standardised
with the pool's mean and std, and two heads are trained on the features of ``n`` random
labelled training images (n = 20, 100, 1000; seeds 0, 1, 2): a logistic regression
(scikit-learn, default C = 1) and the repo's ``mlp`` head trained by
``bayesal.training.fit`` (default TrainConfig). Test accuracy on the full test set.
Raw pixels are the baseline.

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/encoders/measure_encoders.py \
        --out benchmarks/results/encoders/measure.json

One JSON object per candidate is written (``--out``), and a table printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal.data.registry import load_dataset
from bayesal.encoders import BUILTIN_TRAINERS, EncoderCache, compute_features, standardize
from bayesal.models import build_model
from bayesal.training import TrainConfig, fit

#: The first, average-pooled runs (other settings: ``--variant``).
CANDIDATES: dict[str, dict[str, Any]] = {
    "simclr": {"width": 16, "batch_size": 128, "epochs": 8, "pool": "avg"},
    "autoencoder": {"width": 16, "batch_size": 128, "epochs": 4, "pool": "avg"},
}
SIZES = (20, 100, 1000)
SEEDS = (0, 1, 2)


def probe(
    train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor, test_y: torch.Tensor
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    out: dict[str, Any] = {}
    for n in SIZES:
        for seed in SEEDS:
            rng = np.random.default_rng(seed)
            ids = rng.choice(len(train_y), size=n, replace=False)
            x, y = train_f[ids].flatten(1), train_y[ids]
            clf = LogisticRegression(max_iter=2000).fit(x.numpy(), y.numpy())
            acc_lr = float((clf.predict(test_f.flatten(1).numpy()) == test_y.numpy()).mean())
            head = build_model("mlp", seed=seed, in_features=x.shape[1], num_classes=10)
            fit(head, x, y, TrainConfig(), seed=seed)
            with torch.no_grad():
                pred = head(test_f.flatten(1)).argmax(1)
            acc_mlp = float((pred == test_y).float().mean())
            out.setdefault(f"logreg_{n}", []).append(acc_lr)
            out.setdefault(f"mlp_{n}", []).append(acc_mlp)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/encoders/measure.json")
    parser.add_argument("--candidates", nargs="*", default=["pixels", *CANDIDATES])
    parser.add_argument("--seed", type=int, default=0, help="encoder training seed")
    parser.add_argument(
        "--variant",
        nargs=3,
        action="append",
        default=[],
        metavar=("LABEL", "RECIPE", "JSON"),
        help="an extra candidate: LABEL, recipe (simclr | autoencoder), params as JSON",
    )
    args = parser.parse_args()
    data = load_dataset("mnist")
    results: dict[str, Any] = {}
    out = Path(args.out)
    if out.is_file():
        results = json.loads(out.read_text())
    variants = {label: (recipe, json.loads(params)) for label, recipe, params in args.variant}
    for name in [*args.candidates, *variants]:
        if name == "pixels":
            train_f, test_f = standardize(data.train_x.flatten(1), data.test_x.flatten(1))
            record: dict[str, Any] = {"params": {}, "train_seconds": 0.0}
        else:
            recipe, params = variants.get(name, (name, CANDIDATES.get(name, {})))
            trainer = BUILTIN_TRAINERS[recipe](**params)
            # Through the encoder cache (the default one, or $BAYESAL_CACHE), under the
            # registered name: an experiment config of the same params reuses it.
            start = time.perf_counter()
            encoder, trained = EncoderCache().trained_encoder(
                f"{recipe}_mnist", trainer, data.train_x, seed=args.seed
            )
            seconds = float(trained["train_seconds"])
            if trained["encoder_loaded"]:
                print(f"{name}: loaded from the cache in {time.perf_counter() - start:.1f} s")
            train_f = compute_features(encoder, data.train_x)
            test_f = compute_features(encoder, data.test_x)
            train_f, test_f = standardize(train_f, test_f)
            record = {
                "params": trainer.params(),
                "train_seconds": round(seconds, 1),
                "loss_per_epoch": trained["loss_per_epoch"],
                "torch_threads": torch.get_num_threads(),
            }
        record.update(probe(train_f, data.train_y, test_f, data.test_y))
        results[name] = record
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        cells = [
            f"{key} {100 * np.mean(v):.1f}"
            for key, v in record.items()
            if key.startswith(("logreg", "mlp"))
        ]
        print(f"{name}: {record['train_seconds']} s; " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()
