"""The built-in encoder recipe on every image dataset bayesal ships, against the Gal CNN.

Issue 20, item 2. For each dataset the default ``simclr`` encoder is trained without
labels on the pool (the training split; never the test set), timed from a fresh cache,
and its standardised features are mapped to 10 dimensions by UMAP fitted on the pool
(``encoder: {reduce: {method: umap, dims: 10}}``; needs ``bayesal[umap]``). Then:

* **probes**: a logistic regression (scikit-learn, C = 1: the linear probe) and 1-NN on
  class-balanced random labelled sets of 20, 50, 100 and 1,000 pool items (5 draws), on
  the features and on their UMAP map; test accuracy on the whole test set;
* **against the Gal CNN from scratch**: uniformly random labelled sets of 100 and 220
  pool items (what random acquisition labels; 5 seeds, the same sets for every arm):
  the Gal CNN on the images (the MNIST protocol's training settings, evaluated with
  dropout off; on the images as loaded and on per-image standardised images, the
  stronger of the two being the baseline: on the RGB folder the CNN does not train on
  the images as loaded), the ``mlp`` head (default training) on the features and on the UMAP map,
  and the linear probe on both. Paired per seed.

Datasets: ``mnist``, ``fashion_mnist``, ``digits`` (8x8), and an image folder of
generated RGB shapes (40x40, 3 channels, 4 classes: the "user's image folder of any
size and channel count"; written by :func:`write_shapes_folder`). Raw JSON out::

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/encoders/measure_recipe.py \\
        --out benchmarks/results/encoders/recipe.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal.data import load_dataset
from bayesal.data.dataset import Dataset
from bayesal.encoders import encode_dataset
from bayesal.models import build_model
from bayesal.training import TrainConfig, fit

PROBE_SIZES = (20, 50, 100, 1000)
CNN_SIZES = (100, 220)
SEEDS = (0, 1, 2, 3, 4)
REDUCE = {"method": "umap", "dims": 10}
#: configs/mnist_gal2017.yaml's training settings (the MNIST protocol).
GAL_TRAINING = TrainConfig(
    optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=32, epochs=20, min_steps=400
)


def write_shapes_folder(root: Path, per_class: int = 600, size: int = 40, seed: int = 0) -> None:
    """``root/<class>/*.png``: RGB images of one filled shape (disc, square, triangle,
    cross) of random colour, size and position on a noisy background of another random
    colour (every channel at least 60 levels away from the shape's in one channel)."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for name in ("cross", "disc", "square", "triangle"):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            background = rng.integers(0, 256, 3)
            colour_rgb = rng.integers(0, 256, 3)
            while np.abs(colour_rgb - background).max() < 60:
                colour_rgb = rng.integers(0, 256, 3)
            pixels = np.clip(background + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(
                np.uint8
            )
            image = Image.fromarray(pixels, "RGB")
            draw = ImageDraw.Draw(image)
            colour = tuple(int(c) for c in colour_rgb)
            r = int(rng.integers(size // 8, size // 3))
            cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
            if name == "disc":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
            elif name == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
            elif name == "triangle":
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
            else:
                w = max(1, r // 3)
                draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
                draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
            image.save(root / name / f"{i:04d}.png")


def _balanced(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = np.full(len(classes), n // len(classes))
    per[: n - per.sum()] += 1
    return np.concatenate(
        [
            rng.choice(np.flatnonzero(y == c), k, replace=False)
            for c, k in zip(classes, per, strict=True)
        ]
    )


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean())


def _linear(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    return _accuracy(LogisticRegression(max_iter=3000).fit(x, y).predict(xt), yt)


def _nearest(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    return _accuracy(KNeighborsClassifier(1).fit(x, y).predict(xt), yt)


def _net(
    name: str,
    x: torch.Tensor,
    y: torch.Tensor,
    xt: torch.Tensor,
    yt: torch.Tensor,
    config: TrainConfig,
    seed: int,
    **params: Any,
) -> float:
    net = build_model(name, seed=seed, **params)
    fit(net, x, y, config, seed=seed)
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(chunk).argmax(1) for chunk in xt.split(2048)])
    return float((pred == yt).float().mean())


def _standardise_images(x: torch.Tensor) -> torch.Tensor:
    """Each image and channel shifted and scaled to mean 0 and std 1."""
    mean, std = x.mean(dim=(2, 3), keepdim=True), x.std(dim=(2, 3), keepdim=True)
    return (x - mean) / std.clamp_min(1e-6)


def versus_cnn_standardised(dataset: Dataset) -> dict[str, list[float]]:
    """The Gal CNN on per-image standardised images, on the labelled sets of
    :func:`measure`."""
    x, xt = _standardise_images(dataset.train_x), _standardise_images(dataset.test_x)
    shape = dataset.train_x.shape[1:]
    out: dict[str, list[float]] = {}
    for n in CNN_SIZES:
        for seed in SEEDS:
            ids = np.random.default_rng(1000 + seed).choice(len(dataset.train_y), n, replace=False)
            t_ids = torch.as_tensor(ids)
            out.setdefault(f"gal_cnn_std_{n}", []).append(
                _net(
                    "gal_cnn",
                    x[t_ids],
                    dataset.train_y[t_ids],
                    xt,
                    dataset.test_y,
                    GAL_TRAINING,
                    seed,
                    in_channels=int(shape[0]),
                    image_size=int(shape[-1]),
                    num_classes=dataset.num_classes,
                )
            )
    return out


def measure(dataset: Dataset, cache: Path, params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "pool": len(dataset.train_y),
        "test": len(dataset.test_y),
        "input_shape": list(dataset.train_x.shape[1:]),
        "classes": dataset.num_classes,
    }
    start = time.perf_counter()
    features, record = encode_dataset(dataset, "simclr", params, seed=0, cache_dir=cache)
    out["encoder_seconds"] = time.perf_counter() - start
    out["encoder_train_seconds"] = record.get("train_seconds")
    out["encoder_cached"] = bool(record.get("encoder_cached", False))
    start = time.perf_counter()
    reduced, _ = encode_dataset(dataset, "simclr", seed=0, cache_dir=cache, reduce=REDUCE)
    out["reduce_seconds"] = time.perf_counter() - start
    spaces = {
        "features": (features.train_x.numpy(), features.test_x.numpy()),
        "umap": (reduced.train_x.numpy(), reduced.test_x.numpy()),
    }
    y, yt = dataset.train_y.numpy(), dataset.test_y.numpy()
    probes: dict[str, list[float]] = {}
    for n in PROBE_SIZES:
        if n > len(y) // 2:
            continue
        for seed in SEEDS:
            ids = _balanced(y, n, seed)
            for space, (x, xt) in spaces.items():
                probes.setdefault(f"{space}_linear_{n}", []).append(_linear(x[ids], y[ids], xt, yt))
                probes.setdefault(f"{space}_1nn_{n}", []).append(_nearest(x[ids], y[ids], xt, yt))
    out["probes"] = probes
    versus: dict[str, list[float]] = {}
    image_shape = dataset.train_x.shape[1:]
    for n in CNN_SIZES:
        for seed in SEEDS:
            ids = np.random.default_rng(1000 + seed).choice(len(y), n, replace=False)
            t_ids = torch.as_tensor(ids)
            versus.setdefault(f"gal_cnn_{n}", []).append(
                _net(
                    "gal_cnn",
                    dataset.train_x[t_ids],
                    dataset.train_y[t_ids],
                    dataset.test_x,
                    dataset.test_y,
                    GAL_TRAINING,
                    seed,
                    in_channels=int(image_shape[0]),
                    image_size=int(image_shape[-1]),
                    num_classes=dataset.num_classes,
                )
            )
            for space, data in (("features", features), ("umap", reduced)):
                x, xt = data.train_x, data.test_x
                versus.setdefault(f"{space}_mlp_{n}", []).append(
                    _net(
                        "mlp",
                        x[t_ids],
                        data.train_y[t_ids],
                        xt,
                        data.test_y,
                        TrainConfig(),
                        seed,
                        in_features=int(x.shape[1]),
                        num_classes=dataset.num_classes,
                    )
                )
                versus.setdefault(f"{space}_linear_{n}", []).append(
                    _linear(x[t_ids].numpy(), y[ids], xt.numpy(), yt)
                )
    versus.update(versus_cnn_standardised(dataset))
    out["versus_gal_cnn"] = versus
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--datasets", nargs="*", default=["digits", "shapes_folder", "mnist", "fashion_mnist"]
    )
    parser.add_argument(
        "--cnn-only",
        action="store_true",
        help="add the per-image standardised Gal CNN to datasets already in --out",
    )
    parser.add_argument(
        "--encoder-params", type=json.loads, default={}, help="simclr params as JSON"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="encoder cache (default: a fresh temporary folder: times are fresh)",
    )
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        for name in args.datasets:
            load_before = os.getloadavg()[0]
            if name == "shapes_folder":
                folder = Path(tmp) / "shapes"
                write_shapes_folder(folder / "train", per_class=600, seed=0)
                write_shapes_folder(folder / "test", per_class=250, seed=1)
                dataset = load_dataset(
                    "image_folder",
                    root=str(folder / "train"),
                    test_root=str(folder / "test"),
                    mode="RGB",
                )
            else:
                dataset = load_dataset(name)
            print(f"{name}: pool {len(dataset.train_y)}, load {load_before:.1f}", flush=True)
            if args.cnn_only:
                results[name]["versus_gal_cnn"].update(versus_cnn_standardised(dataset))
                tmp_out = args.out.with_suffix(".tmp")
                tmp_out.write_text(json.dumps(results, indent=1) + "\n")
                tmp_out.replace(args.out)
                continue
            row = measure(dataset, cache, args.encoder_params)
            row["encoder_params"] = args.encoder_params
            row["load_average_before_after"] = [load_before, os.getloadavg()[0]]
            results[name] = row
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp_out = args.out.with_suffix(".tmp")
            tmp_out.write_text(json.dumps(results, indent=1) + "\n")
            tmp_out.replace(args.out)
            p = row["probes"]
            v = row["versus_gal_cnn"]
            print(
                f"  encoder {row['encoder_seconds']:.0f} s + umap {row['reduce_seconds']:.0f} s; "
                + " ".join(f"{k}={np.mean(val) * 100:.1f}" for k, val in p.items() if "_100" in k)
                + " | "
                + " ".join(f"{k}={np.mean(val) * 100:.1f}" for k, val in v.items()),
                flush=True,
            )


if __name__ == "__main__":
    main()
