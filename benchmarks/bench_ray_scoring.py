"""Scoring the bench_scale pool on a 2-worker local Ray cluster: the same picks as a local
run, and where the time goes (ship, score, merge).

The pool, the model and K are those of ``bench_scale.py`` (default 1,000,000 items of 64
float32 features, memory-mapped; MLP 64-256-256-10 with dropout 0.25; K = 100, C = 10).
Two learners with the same seed and labels (so the same trained weights, checked) query
the same round: one scores locally in this process (streamed, ``torch`` with
``--threads`` threads; run before Ray starts, so that Ray's processes do not compete
with it), the other with ``query(n, executor="ray")`` on a local cluster started with
``ray.init(num_cpus=2)`` (one shard per CPU, each a task with one torch thread). The
script asserts that the picks are identical, then prints the time split of the Ray
query: ``ship`` (``ray.put`` of the fitted posterior and the pool reference), ``score``
(all shards, in parallel), ``merge`` (merging shard candidates and selecting), and, with
``--second-query``, a second Ray query on the same fitted posterior (nothing shipped
again).

On one 2-core machine Ray cannot be faster than the local run (the same two cores do the
work; Ray adds process start-up and scheduling); the point is identical picks and the
cost of the machinery. On a cluster, ``score`` divides by the number of workers.

Run (heavy: wrap it in the shared lock; several minutes at full size on 2 cores):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_ray_scoring.py
Options: --items --features --hidden --k --chunk --threads --strategies bald,batchbald
--second-query --seed --data-dir, --json OUT (write the figures as JSON: the raw output a
README quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import BATCH, LABELLED, _model, write_pool  # noqa: E402


def _learner(args: argparse.Namespace, data: dict[str, str], strategy: str) -> Any:
    from bayesal import ActiveLearner

    learner = ActiveLearner(
        np.load(data["x"], mmap_mode="r"),
        model=lambda: _model(args.features, args.hidden),
        strategy=strategy,
        strategy_params={"num_samples": 2000} if strategy == "batchbald" else {},
        num_samples=args.k,
        training={"epochs": 5, "min_steps": 100, "batch_size": 32, "lr": 1e-3},
        device="cpu",
        seed=args.seed,
        chunk_size=args.chunk,
        max_log_probs_bytes=1,  # streamed at every --items (4 GB at 1,000,000 anyway)
    )
    y = np.load(data["y"])
    first = np.random.default_rng(args.seed).choice(len(y), LABELLED, replace=False)
    learner.teach(first, y[first])
    learner.fit()
    return learner


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="bald")
    parser.add_argument(
        "--second-query",
        action="store_true",
        help="also time a second Ray query on the same fitted posterior (nothing shipped)",
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args(argv)

    import ray
    import torch

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    print(
        f"bench_ray_scoring: {platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}, ray {ray.__version__}, load average {os.getloadavg()}"
    )
    owned = args.data_dir is None
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp"))
    ray_dir = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    try:
        data = write_pool(folder, args.items, args.features, args.seed)
        print(f"pool: {args.items:,} x {args.features} float32 (memory-mapped .npy), K = {args.k}")
        strategies = [s for s in args.strategies.split(",") if s]
        # Local queries first, before Ray starts: its processes would compete for the
        # cores with the local run's two torch threads.
        local_runs = {}
        for strategy in strategies:
            local = _learner(args, data, strategy)
            start = time.perf_counter()
            local_runs[strategy] = (local.query(BATCH), time.perf_counter() - start, local)
            print(f"  {strategy}: local query {local_runs[strategy][1]:.1f} s", flush=True)
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=ray_dir)
        ray_init_s = time.perf_counter() - t0
        print(f"ray.init(num_cpus=2): {ray_init_s:.1f} s")
        rows = []
        for strategy in strategies:
            local_ids, local_s, local = local_runs[strategy]
            on_ray = _learner(args, data, strategy)
            same_weights = all(
                torch.equal(a, b)
                for a, b in zip(
                    local.fitted.models[0].state_dict().values(),
                    on_ray.fitted.models[0].state_dict().values(),
                    strict=True,
                )
            )
            assert same_weights, "the two learners trained different weights"
            start = time.perf_counter()
            ray_ids = on_ray.query(BATCH, executor="ray")
            ray_s = time.perf_counter() - start
            report = on_ray.last_scoring
            assert report is not None and report.path == "ray"
            assert ray_ids.tolist() == local_ids.tolist(), (strategy, ray_ids, local_ids)
            again_s, second = None, None
            if args.second_query:
                # A second Ray query on the same fitted posterior: nothing shipped again.
                on_ray.round -= 1  # the same round again (same draw), for the timing only
                start = time.perf_counter()
                again = on_ray.query(BATCH, executor="ray")
                again_s = time.perf_counter() - start
                assert again.tolist() == ray_ids.tolist()
                second = on_ray.last_scoring
            rows.append((strategy, local_s, ray_s, report, again_s, second, ray_ids.tolist()))
            print(f"  {strategy}: same picks {ray_ids.tolist()}", flush=True)
        print()
        print(
            "| strategy | local query (s) | Ray query (s) | ship | score (shards) | merge "
            "| in-shard read / forward / score (CPU-s, summed) | 2nd Ray query: ship / total |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
        for strategy, local_s, ray_s, rep, again_s, second, _ in rows:
            sec = rep.seconds
            repeat = "" if second is None else f"{second.seconds['ship']:.3f} / {again_s:.1f}"
            print(
                f"| {strategy} ({rep.mode}) | {local_s:.1f} | {ray_s:.1f} | {sec['ship']:.2f} "
                f"| {sec['score']:.1f} ({rep.num_shards}) | {sec['merge']:.2f} "
                f"| {sec['read']:.1f} / {sec['forward']:.1f} / {sec['score_compute']:.1f} "
                f"| {repeat} |"
            )
        print("picks identical to the local run: yes (asserted)")
        if args.json:
            record = {
                "benchmark": "bench_ray_scoring",
                "args": vars(args),
                "torch": torch.__version__,
                "ray": ray.__version__,
                "cpus": os.cpu_count(),
                "ray_init_seconds": ray_init_s,
                "strategies": {
                    strategy: {
                        "mode": rep.mode,
                        "num_shards": rep.num_shards,
                        "local_seconds": local_s,
                        "ray_seconds": ray_s,
                        "split": dict(rep.seconds),
                        "picks": picks,
                        "same_picks": True,  # asserted above
                        "second_query_seconds": again_s,
                        "second_split": None if second is None else dict(second.seconds),
                    }
                    for strategy, local_s, ray_s, rep, again_s, second, picks in rows
                },
                "load_average_start": load_start,
                "load_average_end": os.getloadavg(),
            }
            Path(args.json).write_text(json.dumps(record, indent=1))
            print(f"figures written to {args.json}")
    finally:
        ray.shutdown()
        shutil.rmtree(ray_dir, ignore_errors=True)
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
