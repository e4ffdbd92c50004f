"""Scoring a pool of a million items read from disk: time and peak memory, side by side.

The pool: ``--items`` (default 1,000,000) feature vectors of ``--features`` (64) float32,
a Gaussian mixture of 10 classes, written once to a ``.npy`` file (and to a Parquet file
with row groups of 65,536 rows) and read back memory-mapped. The model: an MLP
``features -> hidden -> hidden -> 10`` with dropout 0.25 after each hidden layer
(``bayesal.models.MLP``), MC dropout with K = ``--k`` (100) consistent masks, C = 10.
Every configuration runs in a fresh process, so that peak memories do not mix:

* ``matmul``: the compute bound: the same forward-pass matrix products (the first layer
  once per input; the two masked layers as K dense passes with per-sample masked
  weights, 1,024 inputs at a time so that activations stay in the caches) on in-memory
  random data of the same shape: no I/O, no log-softmax, no scoring;
* ``forward``: bayesal's MC-dropout forward pass (``draw.log_probs``) on in-memory random
  data of the same shape, chunk by chunk, results dropped: no I/O, no scoring;
* both timed on ``--bound-items`` (200,000) items, best of ``--repeats`` (3), and scaled
  linearly to ``--items`` (the work per item is the same), so that a burst of load
  from jobs outside the lock does not inflate the bound the others are compared with;
* ``npy_bald``: ``ActiveLearner(np.load(path, mmap_mode="r"), strategy="bald")`` then
  ``learner.query(10)``: reading, forward, BALD, streaming top-k (the learner streams
  because ``[N, K, C]`` (4 GB) exceeds ``max_log_probs_bytes``; the script sets it to
  1 byte so that smaller ``--items`` stream too);
* ``npy_power_bald``: the same with PowerBALD (a stochastic selector: all N scores);
* ``npy_batchbald``: BatchBALD (batch 10), the default prefilter: the 2,000 best by BALD;
* ``parquet_bald``: BALD from the Parquet file (``ParquetInputs``);
* ``dataset_bald``: BALD from a torch ``Dataset`` over the memory-mapped file (one item
  per ``__getitem__``), read through a DataLoader with 2 worker processes;
* ``baal_bald``: baal's documented generator path on the same pool and model:
  ``ModelWrapper(MCDropoutModule(model)).predict_on_dataset_generator(dataset, K)`` and
  ``BALD().get_uncertainties_generator(...)`` (fresh dropout masks per input: baal's
  semantics), top 10 by ``argsort`` (batch 64 inputs replicated K times, no DataLoader
  workers). Skipped when baal is not installed.

For the learner configurations the time is the query's scoring and selection
(``last_timings.score + select``; the few-second training on 200 labels is excluded);
peak RSS is the process's ``VmHWM`` (training and all included; file pages of the
memory-mapped pool that were read count too; DataLoader worker processes, forked from it,
are not added). A second section measures the effect of
the prefilter on BatchBALD's picks on a pool where the exact selection is computable
(``--prefilter-items``, default 20,000): overlap with the exact picks and the joint
mutual information of the batch (one common sampled estimator, ± its standard error).

Run (heavy: wrap it in the shared lock; about 8 minutes at full size on 2 cores):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_scale.py
Options: --items --features --hidden --k --chunk --threads --configs a,b --skip-baal
--baal-items M (time baal on M items, scale to --items) --bound-items --repeats
--prefilter-items (0: skip) --data-dir (default: a temporary folder) --seed,
--json OUT (write every configuration's figures as JSON: the raw output a README quotes;
rewritten after every configuration, so that a run cut short keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CONFIGS = (
    "matmul",
    "forward",
    "npy_bald",
    "npy_power_bald",
    "npy_batchbald",
    "parquet_bald",
    "dataset_bald",
    "baal_bald",
)
CLASSES = 10
LABELLED = 200
BATCH = 10


# ---------------------------------------------------------------------------- the pool


def _peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``), in MB. Not ``ru_maxrss``: after a
    fork and exec it also counts the parent's resident memory at the fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (DataLoader
    workers): less sensitive than wall time to other jobs sharing the cores."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _centres(features: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(CLASSES, features)).astype(np.float32)


def write_pool(folder: Path, items: int, features: int, seed: int) -> dict[str, str]:
    """Write the pool (``x.npy``, ``x.parquet``, labels ``y.npy``) chunk by chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    x_path, y_path, pq_path = folder / "x.npy", folder / "y.npy", folder / "x.parquet"
    centres = _centres(features, seed)
    rng = np.random.default_rng(seed + 1)
    x = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=(items, features))
    y = np.empty(items, dtype=np.int64)
    step = 65_536
    for a in range(0, items, step):
        b = min(items, a + step)
        labels = rng.integers(0, CLASSES, b - a)
        x[a:b] = centres[labels] * 0.6 + rng.normal(size=(b - a, features)).astype(np.float32)
        y[a:b] = labels
    x.flush()
    del x
    np.save(y_path, y)
    import pyarrow as pa
    import pyarrow.parquet as pq

    mapped = np.load(x_path, mmap_mode="r")
    writer = None
    for a in range(0, items, step):
        block = np.asarray(mapped[a : a + step])
        table = pa.table({f"f{i}": block[:, i] for i in range(features)})
        if writer is None:
            writer = pq.ParquetWriter(pq_path, table.schema)
        writer.write_table(table, row_group_size=step)
    assert writer is not None
    writer.close()
    return {"x": str(x_path), "y": str(y_path), "parquet": str(pq_path)}


# ---------------------------------------------------------------------------- workers


def _model(features: int, hidden: int) -> Any:
    from bayesal.models import MLP

    return MLP(features, CLASSES, hidden=hidden, depth=2, dropout=0.25)


class _RowDataset:
    """A torch-style map Dataset over the memory-mapped file: one row per item."""

    def __init__(self, path: str, with_label: bool = False) -> None:
        self.path, self.with_label, self._x = path, with_label, None

    def __len__(self) -> int:
        return int(np.load(self.path, mmap_mode="r").shape[0])

    def __getitem__(self, i: int) -> Any:
        import torch

        if self._x is None:
            self._x = np.load(self.path, mmap_mode="r")
        x = torch.from_numpy(np.array(self._x[i]))
        return (x, 0) if self.with_label else x


def _learner_run(args: argparse.Namespace, data: dict[str, str], config: str) -> dict[str, Any]:
    import torch

    from bayesal import ActiveLearner

    source, strategy = config.split("_", 1)
    if source == "npy":
        pool: Any = np.load(data["x"], mmap_mode="r")
    elif source == "parquet":
        from bayesal.data.source import ParquetInputs

        pool = ParquetInputs(data["parquet"])
    else:
        pool = _RowDataset(data["x"])
    params = {"num_samples": 2000} if strategy == "batchbald" else {}
    learner = ActiveLearner(
        pool,
        model=lambda: _model(args.features, args.hidden),
        strategy=strategy,
        strategy_params=params,
        num_samples=args.k,
        training={"epochs": 5, "min_steps": 100, "batch_size": 32, "lr": 1e-3},
        device="cpu",
        seed=args.seed,
        chunk_size=args.chunk,
        num_workers=2 if source == "dataset" else 0,
        # Stream at every --items (at 1,000,000 the default 1 GiB does it anyway: [N, K, C]
        # is 4 GB); the default prefilter is then 2,000 candidates for BatchBALD.
        max_log_probs_bytes=1,
    )
    y = np.load(data["y"])
    first = np.random.default_rng(args.seed).choice(len(y), LABELLED, replace=False)
    learner.teach(first, y[first])
    learner.fit()
    rss_before = _peak_rss_mb()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    ids = learner.query(BATCH)
    wall = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu
    t = learner.last_timings
    report = learner.last_scoring
    assert report is not None
    del torch
    return {
        "seconds": t.score + t.select,
        "cpu_seconds": cpu,
        "query_wall": wall,
        "fit_in_query": t.fit,
        "picks": ids.tolist(),
        "path": report.path,
        "mode": report.mode,
        "candidates": report.candidates,
        "split": dict(report.seconds),
        "peak_before_query_mb": rss_before,
    }


def _best_scaled(run: Any, args: argparse.Namespace) -> tuple[float, float, int]:
    """Best of ``--repeats`` timings of ``run(m)`` on ``m = min(--items, --bound-items)``
    items, scaled linearly to ``--items`` (the work per item is the same): wall seconds,
    CPU seconds (of the fastest repeat) and m. The best of several, so that a moment
    of contention from jobs outside the lock does not inflate the bound."""
    measured = min(args.items, args.bound_items or args.items)
    best: tuple[float, float] | None = None
    for _ in range(args.repeats):
        cpu = _cpu_seconds()
        start = time.perf_counter()
        run(measured)
        timing = (time.perf_counter() - start, _cpu_seconds() - cpu)
        best = timing if best is None or timing[0] < best[0] else best
    assert best is not None
    scale = args.items / measured
    return best[0] * scale, best[1] * scale, measured


def _matmul_run(args: argparse.Namespace) -> dict[str, Any]:
    """The compute bound: the forward pass's matrix products on in-memory random data.

    Per chunk of inputs: the first layer once (``addmm``, ReLU); then, per sample k and
    per sub-block of 1,024 inputs (so that activations stay in the caches), the two
    masked layers as dense products with that sample's masked weights (``addmm``, ReLU,
    ``addmm``). Masked weights are built before the clock starts."""
    import torch

    g = torch.Generator().manual_seed(0)
    F, H, C, K, n = args.features, args.hidden, CLASSES, args.k, args.chunk
    w1, b1 = torch.randn(H, F, generator=g) / F**0.5, torch.zeros(H)
    w2, b2 = torch.randn(H, H, generator=g) / H**0.5, torch.zeros(H)
    w3, b3 = torch.randn(C, H, generator=g) / H**0.5, torch.zeros(C)
    keep2 = (torch.rand(K, H, generator=g) >= 0.25).float() / 0.75
    keep3 = (torch.rand(K, H, generator=g) >= 0.25).float() / 0.75
    w2t = [(w2 * keep2[k]).t().contiguous() for k in range(K)]  # [H, H] per sample
    w3t = [(w3 * keep3[k]).t().contiguous() for k in range(K)]  # [H, C] per sample
    x = torch.randn(n, F, generator=g)
    sub = 1024
    flops = args.items * (2 * F * H + K * (2 * H * H + 2 * H * C))

    def one_chunk(m: int) -> None:
        h1 = torch.addmm(b1, x[:m], w1.t()).relu_()
        for a in range(0, m, sub):
            hs = h1[a : a + sub]
            for k in range(K):
                h2 = torch.addmm(b2, hs, w2t[k]).relu_()
                torch.addmm(b3, h2, w3t[k])

    one_chunk(n)  # warm-up

    def run(items: int) -> None:
        for a in range(0, items, n):
            one_chunk(min(n, items - a))

    seconds, cpu, measured = _best_scaled(run, args)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "measured_items": measured,
        "gflop": flops / 1e9,
        "gflops_rate": flops / 1e9 / seconds,
    }


def _forward_run(args: argparse.Namespace) -> dict[str, Any]:
    """bayesal's MC-dropout forward pass on in-memory random data: no I/O, no scoring."""
    import torch

    from bayesal.posterior.mc_dropout import MCDropoutPosterior

    torch.manual_seed(args.seed)
    model = _model(args.features, args.hidden).eval()
    draw = MCDropoutPosterior(model).draw(args.k, torch.Generator().manual_seed(1))
    x = torch.randn(args.chunk, args.features, generator=torch.Generator().manual_seed(2))
    draw.log_probs(x)  # warm-up (chunk plan, masks)

    def run(items: int) -> None:
        for a in range(0, items, args.chunk):
            draw.log_probs(x[: min(args.chunk, items - a)])

    seconds, cpu, measured = _best_scaled(run, args)
    return {"seconds": seconds, "cpu_seconds": cpu, "measured_items": measured}


def _baal_run(args: argparse.Namespace, data: dict[str, str]) -> dict[str, Any]:
    import torch
    from baal.active.heuristics import BALD
    from baal.bayesian.dropout import MCDropoutModule
    from baal.modelwrapper import ModelWrapper, TrainingArgs

    torch.manual_seed(args.seed)
    model = MCDropoutModule(_model(args.features, args.hidden))
    wrapper = ModelWrapper(
        model, TrainingArgs(batch_size=64, use_cuda=False, workers=0, replicate_in_memory=True)
    )
    dataset: Any = _RowDataset(data["x"], with_label=True)
    measured = min(args.items, args.baal_items or args.items)
    if measured < args.items:
        dataset = torch.utils.data.Subset(dataset, range(measured))
    cpu = _cpu_seconds()
    start = time.perf_counter()
    predictions = wrapper.predict_on_dataset_generator(dataset, iterations=args.k, verbose=False)
    scores = BALD().get_uncertainties_generator(predictions)
    picks = np.argsort(-scores, kind="stable")[:BATCH]
    scale = args.items / measured  # linear in N: the same work per item
    return {
        "seconds": (time.perf_counter() - start) * scale,
        "cpu_seconds": (_cpu_seconds() - cpu) * scale,
        "measured_items": measured,
        "picks": picks.tolist(),
    }


def worker(args: argparse.Namespace) -> None:
    """Run one configuration in this (fresh) process; print one JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    data = json.loads(args.data)
    if args.worker == "matmul":
        out = _matmul_run(args)
    elif args.worker == "forward":
        out = _forward_run(args)
    elif args.worker == "baal_bald":
        out = _baal_run(args, data)
    else:
        out = _learner_run(args, data, args.worker)
    out["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(out))


def run_fresh(args: argparse.Namespace, config: str, data: dict[str, str]) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        config,
        "--data",
        json.dumps(data),
        *(
            f"--{k.replace('_', '-')}={getattr(args, k)}"
            for k in (
                "items",
                "features",
                "hidden",
                "k",
                "chunk",
                "threads",
                "seed",
                "baal_items",
                "bound_items",
                "repeats",
            )
        ),
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"configuration {config} failed (exit {proc.returncode})")
    out = json.loads(lines[-1][len("RESULT ") :])
    out["process_seconds"] = time.perf_counter() - start
    return out


# ---------------------------------------------------------------------------- prefilter


def prefilter_study(args: argparse.Namespace, data: dict[str, str]) -> list[dict[str, Any]]:
    """BatchBALD (batch 10) on the first ``--prefilter-items`` items: exact selection vs
    prefilters of several sizes, picks overlap and the batch's joint MI."""
    import torch

    from bayesal import ActiveLearner
    from bayesal.acquisition import expected_entropy, sampled_joint_entropy

    torch.set_num_threads(args.threads)
    n = args.prefilter_items
    x = np.ascontiguousarray(np.load(data["x"], mmap_mode="r")[:n])
    y = np.load(data["y"])[:n]
    first = np.random.default_rng(args.seed).choice(n, LABELLED, replace=False)
    rows = []
    exact_ids: list[int] = []
    estimate_lp = None
    for m in (None, 2000, 500, 200, 100, 50, 20):
        learner = ActiveLearner(
            x,
            model=lambda: _model(args.features, args.hidden),
            strategy="batchbald",
            strategy_params={"num_samples": 10_000},
            num_samples=args.k,
            training={"epochs": 5, "min_steps": 100, "batch_size": 32, "lr": 1e-3},
            device="cpu",
            seed=args.seed,
            chunk_size=args.chunk,
            prefilter=m,
            max_log_probs_bytes=1 if m else 2**40,
        )
        learner.teach(first, y[first])
        learner.fit()
        start = time.perf_counter()
        ids = learner.query(BATCH)
        seconds = time.perf_counter() - start
        if estimate_lp is None:  # the same draw for every m: the round-0 draw
            draw = learner.draw_for_round(0)
            estimate_lp = draw
        if m is None:
            exact_ids = ids.tolist()
        lp = estimate_lp.log_probs(torch.from_numpy(x[ids]))
        gen = torch.Generator().manual_seed(123)
        joint = [float(sampled_joint_entropy(lp, 50_000, generator=gen)) for _ in range(8)]
        mi = np.array(joint) - float(expected_entropy(lp).sum())
        rows.append(
            {
                "prefilter": m,
                "seconds": seconds,
                "picks": ids.tolist(),
                "overlap": len(set(ids.tolist()) & set(exact_ids)) / BATCH,
                "joint_mi": float(mi.mean()),
                "joint_mi_se": float(mi.std(ddof=1) / np.sqrt(len(mi))),
            }
        )
    return rows


# ---------------------------------------------------------------------------- main


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--skip-baal", action="store_true")
    parser.add_argument(
        "--bound-items",
        type=int,
        default=200_000,
        help="time matmul / forward on this many items, best of --repeats, scaled to --items",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baal-items",
        type=int,
        default=0,
        help="time baal on the first M items and scale linearly to --items (0: all)",
    )
    parser.add_argument("--prefilter-items", type=int, default=20_000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args)
        return

    import torch

    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        raise SystemExit(f"unknown configuration(s) {unknown}; choose from {CONFIGS}")
    if "baal_bald" in configs:
        try:
            import baal  # noqa: F401
        except ImportError:
            print("baal is not installed: the baal_bald configuration is skipped")
            configs.remove("baal_bald")
    if args.skip_baal and "baal_bald" in configs:
        configs.remove("baal_bald")
    print(
        f"bench_scale: {platform.processor() or platform.machine()}, torch "
        f"{torch.__version__}, {args.threads} threads, load average {os.getloadavg()}"
    )
    print(
        f"pool N = {args.items:,} x {args.features} float32 features "
        f"({args.items * args.features * 4 / 2**20:,.0f} MB on disk), MLP "
        f"{args.features}-{args.hidden}-{args.hidden}-{CLASSES}, dropout 0.25, K = {args.k}, "
        f"C = {CLASSES}: [N, K, C] would be {args.items * args.k * CLASSES * 4 / 2**30:.1f} GB"
    )
    load_start = os.getloadavg()
    owned = args.data_dir is None
    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-scale-", dir="/tmp"))
    try:
        t0 = time.perf_counter()
        data = write_pool(folder, args.items, args.features, args.seed)
        print(f"pool written in {time.perf_counter() - t0:.1f} s to {folder}")
        results: dict[str, dict[str, Any]] = {}
        rows: list[dict[str, Any]] = []

        def write(complete: bool) -> None:
            """The figures so far (after every configuration: a run cut short keeps
            what it measured)."""
            if not args.json:
                return
            record = {
                "benchmark": "bench_scale",
                "args": {k: v for k, v in vars(args).items() if k not in ("worker", "data")},
                "torch": torch.__version__,
                "cpus": os.cpu_count(),
                "configurations": results,
                "prefilter": rows,
                "complete": complete,
                "load_average_start": load_start,
                "load_average_end": os.getloadavg(),
            }
            Path(args.json).write_text(json.dumps(record, indent=1))

        for config in configs:
            results[config] = out = run_fresh(args, config, data)
            print(f"  {config}: {json.dumps(out)}", flush=True)
            write(False)
        _print_table(args, results)
        if args.prefilter_items:
            rows = prefilter_study(args, data)
            _print_prefilter(args, rows)
        write(True)
        if args.json:
            print(f"figures written to {args.json}")
    finally:
        if owned:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average at the end: {os.getloadavg()}")


def _print_table(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    bound = results.get("matmul", {}).get("seconds")
    forward = results.get("forward", {}).get("seconds")
    print()
    bound_cpu = results.get("matmul", {}).get("cpu_seconds")
    print(
        "| configuration | seconds | items/s | / compute bound | / forward | CPU seconds "
        "| CPU / compute bound | peak RSS (MB) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for config, out in results.items():
        seconds, cpu = out["seconds"], out["cpu_seconds"]
        ratio_b = f"{seconds / bound:.2f}x" if bound else ""
        ratio_f = f"{seconds / forward:.2f}x" if forward else ""
        ratio_c = f"{cpu / bound_cpu:.2f}x" if bound_cpu else ""
        peak = _mb(out["peak_rss_mb"])
        if out.get("measured_items", args.items) < args.items:
            best = f"best of {args.repeats} " if config in ("matmul", "forward") else ""
            config += f" ({best}on {out['measured_items']:,} items, scaled)"
        print(
            f"| {config} | {seconds:.1f} | {args.items / seconds:,.0f} | {ratio_b} | {ratio_f} "
            f"| {cpu:.1f} | {ratio_c} | {peak} |"
        )
    if "matmul" in results:
        m = results["matmul"]
        print(f"compute bound: {m['gflop']:,.0f} GFLOP at {m['gflops_rate']:.0f} GFLOP/s")
    same = [c for c in ("npy_bald", "parquet_bald", "dataset_bald") if c in results]
    if len(same) > 1:
        agree = all(results[c]["picks"] == results[same[0]]["picks"] for c in same)
        print(f"BALD picks of the {' / '.join(same)} pools identical: {agree}")


def _print_prefilter(args: argparse.Namespace, rows: list[dict[str, Any]]) -> None:
    print()
    print(
        f"BatchBALD (batch {BATCH}, K = {args.k}) on the first {args.prefilter_items:,} items: "
        "prefilter vs exact"
    )
    print("| candidates | seconds | overlap with exact picks | joint MI of the batch (nats) |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        m = "exact (all)" if row["prefilter"] is None else f"{row['prefilter']:,}"
        print(
            f"| {m} | {row['seconds']:.2f} | {row['overlap']:.0%} | "
            f"{row['joint_mi']:.4f} ± {row['joint_mi_se']:.4f} |"
        )


if __name__ == "__main__":
    main()
