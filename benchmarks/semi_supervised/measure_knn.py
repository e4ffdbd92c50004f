"""The graph posteriors' neighbour searches side by side (``knn: brute`` against
``knn: tree``) on the MNIST study's map: the UMAP-10 embedding of the SimCLR features
(``out/umap_mnist``, written by measure_umap.py). Times the two searches the graph_gp
study makes: building the 20,000-node graph (its own k-NN lists) and one round's query
of a random 2,000-item pool subset; reports the best of ``--repeats`` runs of each, their
ratio, and how many neighbour lists agree. Writes one JSON file:

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/semi_supervised/measure_knn.py \\
        --out benchmarks/results/semi_supervised/knn.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal._atomic import atomic_write_text
from bayesal.posterior.graph import knn_search


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--embedding", type=Path, default=Path("out/umap_mnist/train.npz"))
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    x = torch.from_numpy(np.load(args.embedding)["x"]).float()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    nodes = x[np.sort(order[: args.nodes])].contiguous()
    queries = x[np.sort(order[args.nodes : args.nodes + args.queries])].contiguous()
    result: dict[str, Any] = {
        "embedding": str(args.embedding),
        "dims": int(x.shape[1]),
        "nodes": len(nodes),
        "queries": len(queries),
        "k": args.k,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "load_average_start": os.getloadavg()[0],
    }
    for what, q, exclude in (("graph", nodes, True), ("query", queries, False)):
        out = {}
        for method in ("brute", "tree"):
            seconds, (idx, _) = _best(
                lambda m=method, q=q, e=exclude: knn_search(
                    q, nodes, args.k, exclude_self=e, method=m
                ),
                args.repeats,
            )
            out[method] = (seconds, idx)
        (brute_s, brute_idx), (tree_s, tree_idx) = out["brute"], out["tree"]
        same_set = [
            set(a) == set(b) for a, b in zip(brute_idx.tolist(), tree_idx.tolist(), strict=True)
        ]
        result[what] = {
            "brute_seconds": brute_s,
            "tree_seconds": tree_s,
            "speedup": brute_s / tree_s,
            "lists_equal_fraction": float(np.mean(same_set)),
            "neighbours_equal_fraction": float((brute_idx == tree_idx).float().mean()),
        }
    result["load_average_end"] = os.getloadavg()[0]
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
