"""Label spreading on a UMAP embedding of the MNIST encoder's features (issue 20, item 1:
"a learned low-dimensional manifold ... if it measures better"). UMAP (umap-learn) is
fitted on the 60k pool's features only (never the test set) and applied to the test
set; then label spreading, as in measure_spreading.py, on class-balanced random labels.
Writes one JSON file. Needs umap-learn, which bayesal does not depend on:

    .venv/bin/pip install -c .ci/constraints.txt umap-learn
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/semi_supervised/measure_umap.py \\
        --out benchmarks/results/semi_supervised/umap.json --save-dir out/umap_mnist

``--save-dir`` also writes the embedding (``train.npz``, ``test.npz``) that
configs/mnist_semi_umap.yaml reads.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from measure_spreading import _accuracy, _balanced  # the script beside this one

from bayesal.data import load_dataset
from bayesal.data.source import ArrayInputs
from bayesal.encoders import encode_dataset
from bayesal.posterior import get_posterior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--components", type=int, default=10)
    parser.add_argument(
        "--save-dir",
        type=Path,
        default=None,
        help="also write the embedding as train.npz / test.npz (x, y) for the npy dataset",
    )
    args = parser.parse_args()
    import umap  # optional: see the module docstring

    feats, _ = encode_dataset(load_dataset("mnist"), "simclr_mnist", seed=0)
    x_tr, y_tr = feats.train_x.float().numpy(), feats.train_y.numpy()
    x_te, y_te = feats.test_x.float().numpy(), feats.test_y.numpy()
    result: dict[str, Any] = {"components": args.components, "rows": []}
    start = time.perf_counter()
    reducer = umap.UMAP(n_components=args.components, n_neighbors=15, min_dist=0.0, random_state=0)
    z_tr = torch.as_tensor(reducer.fit_transform(x_tr), dtype=torch.float32)
    result["fit_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    z_te = torch.as_tensor(reducer.transform(x_te), dtype=torch.float32)
    result["transform_seconds"] = time.perf_counter() - start
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
        np.savez(args.save_dir / "train.npz", x=z_tr.numpy(), y=y_tr)
        np.savez(args.save_dir / "test.npz", x=z_te.numpy(), y=y_te)
    pool = ArrayInputs(z_tr)
    for k in (10, 15):
        method = get_posterior("label_spreading", k=k, alpha=0.99)
        for n in (20, 50, 100):
            accs = [
                _accuracy(z_tr, y_tr, z_te, y_te, _balanced(y_tr, n, s), method, pool, s)
                for s in range(3)
            ]
            result["rows"].append({"k": k, "labels": n, "accuracy": accs})
            print("umap", k, n, f"{100 * np.mean(accs):.1f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
