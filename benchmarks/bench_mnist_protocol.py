"""The Gal et al. (2017) MNIST protocol on this CPU: wall time and where it goes.

Two modes.

**Protocol** (default): one trial of ``configs/mnist_gal2017.yaml`` (BALD, seed 0, by
default) through the experiment runner's own code path (:func:`compute_trial`), printing
every round's training / scoring / selection / evaluation seconds as it ends, then the
totals. ``--rounds N`` stops after N acquisitions and *extrapolates* to the config's full
run, clearly labelled: scoring, selection and evaluation cost the same every round (fixed
pool subset and test set), so their mean per round is multiplied out; training cost is
proportional to the examples a round's training processes
(``TrainConfig.num_epochs(n) * n``), so the measured seconds per processed example are
multiplied by the full run's total.

**Training study** (``--train-study``): how well the model trains at fixed budgets, to
choose the protocol's training settings. For each setting and each number of labels n, a
fresh Gal CNN is trained on n labels (20 class-balanced plus n - 20 uniformly random, as
random acquisition would give), then evaluated on the full 10k test set. Prints test
accuracy, NLL, gradient steps and seconds, and for each setting an estimate of the
training seconds of one full protocol trial (every budget 20, 30, ..., 1020 once).

Run (heavy: wrap in the shared lock):

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_mnist_protocol.py
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_mnist_protocol.py --rounds 10
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_mnist_protocol.py \\
        --train-study --budgets 20,100,500,1000 --seeds 0,1 \\
        --setting e50_s500:epochs=50,min_steps=500 --setting e20_s200:epochs=20,min_steps=200
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bayesal.data.pool import balanced_initial_ids
from bayesal.experiment import load_config
from bayesal.experiment.runner import compute_trial, load_trial_dataset
from bayesal.loop import RoundContext, predictive_log_probs
from bayesal.models import build_model
from bayesal.training import TrainConfig, fit

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist_gal2017.yaml"
TIMINGS = ("train_seconds", "score_seconds", "select_seconds", "eval_seconds")


def log(message: str = "") -> None:
    print(message, flush=True)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load avg {load:.2f}"
    )


def examples_processed(config: TrainConfig, n: int) -> int:
    """Examples one training run on ``n`` labels passes through the network."""
    return config.num_epochs(n) * n


def gradient_steps(config: TrainConfig, n: int) -> int:
    """Gradient steps one training run on ``n`` labels takes."""
    return config.num_epochs(n) * math.ceil(n / config.batch_size)


# ------------------------------------------------------------------------------ protocol


def run_protocol(args: argparse.Namespace) -> None:
    overrides: dict[str, Any] = {"strategies": [args.strategy], "seeds": [args.seed]}
    full = load_config(args.config, overrides)
    if args.rounds is not None:
        overrides["rounds"] = args.rounds
    config = load_config(args.config, overrides)
    log(f"machine: {machine()}")
    log(
        f"config: {args.config} (strategy {args.strategy}, seed {args.seed}, "
        f"{config.rounds} of {full.rounds} acquisitions)"
    )
    start = time.perf_counter()
    load_trial_dataset(config)
    loaded = time.perf_counter()
    log(f"dataset loaded in {loaded - start:.2f} s")
    log(
        f"{'round':>5} {'labels':>6} {'acc':>7} {'train':>7} {'score':>7} {'select':>7} {'eval':>7}"
    )

    def show(ctx: RoundContext) -> None:
        r = ctx.record
        log(
            f"{r.round:>5} {r.n_labels:>6} {r.test_accuracy:>7.4f} {r.train_seconds:>7.2f} "
            f"{r.score_seconds:>7.2f} {r.select_seconds:>7.3f} {r.eval_seconds:>7.2f}"
        )

    result = compute_trial(config, args.strategy, args.seed, on_round=show)
    wall = time.perf_counter() - start
    records = result.records
    totals = {t: sum(getattr(r, t) for r in records) for t in TIMINGS}
    log()
    log(f"measured: {len(records)} rounds ({config.rounds} acquisitions), wall {wall:.1f} s")
    log(f"  dataset load {loaded - start:.1f} s")
    for t in TIMINGS:
        log(f"  {t:<15} total {totals[t]:8.1f} s   per round {totals[t] / len(records):6.2f} s")
    other = wall - (loaded - start) - sum(totals.values())
    log(f"  other (model builds, bookkeeping) {other:.1f} s")
    if config.rounds == full.rounds:
        log(f"FULL PROTOCOL WALL TIME: {wall:.1f} s ({wall / 60:.2f} min)")
        return

    # Extrapolation to the full run (labelled as such).
    train = full.training
    done_examples = sum(examples_processed(train, r.n_labels) for r in records)
    all_budgets = [full.initial_labels + r * full.acquisition_size for r in range(full.rounds + 1)]
    all_examples = sum(examples_processed(train, n) for n in all_budgets)
    acquiring = [r for r in records if r.round < config.rounds]
    per_acq = {
        t: sum(getattr(r, t) for r in acquiring) / max(1, len(acquiring))
        for t in ("score_seconds", "select_seconds")
    }
    estimate = {
        "train_seconds": totals["train_seconds"] / done_examples * all_examples,
        "score_seconds": per_acq["score_seconds"] * full.rounds,
        "select_seconds": per_acq["select_seconds"] * full.rounds,
        "eval_seconds": totals["eval_seconds"] / len(records) * (full.rounds + 1),
    }
    total = (loaded - start) + sum(estimate.values()) + other / len(records) * (full.rounds + 1)
    log()
    log(
        f"EXTRAPOLATED to the full protocol ({full.rounds} acquisitions, {full.rounds + 1} "
        f"rounds) from {len(records)} measured rounds; training scaled by examples processed "
        f"({done_examples} measured, {all_examples} in the full run), the rest per round:"
    )
    for t in TIMINGS:
        log(f"  {t:<15} ~{estimate[t]:8.0f} s")
    log(f"EXTRAPOLATED FULL PROTOCOL WALL TIME: ~{total:.0f} s (~{total / 60:.1f} min)")


# ------------------------------------------------------------------------ training study


@dataclass(frozen=True)
class Setting:
    name: str
    config: TrainConfig


def parse_setting(text: str) -> Setting:
    """``name:epochs=20,min_steps=200,weight_decay=1e-4`` -> a named TrainConfig."""
    name, _, spec = text.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        field = TrainConfig.model_fields.get(key)
        if field is None:
            raise SystemExit(f"unknown training field {key!r} in --setting {text!r}")
        kwargs[key] = value if field.annotation not in (int, float) else field.annotation(value)
    return Setting(name or "default", TrainConfig(**kwargs))


def labelled_ids(train_y: torch.Tensor, n: int, seed: int) -> np.ndarray:
    """20 (or n, if fewer) class-balanced ids, then uniformly random ones up to n."""
    rng = np.random.default_rng([seed, n])
    first = balanced_initial_ids(train_y, min(n, 20), 10, rng)
    rest = np.setdiff1d(np.arange(len(train_y)), first)
    return np.concatenate([first, rng.choice(rest, size=n - len(first), replace=False)])


def run_train_study(args: argparse.Namespace) -> None:
    settings = [parse_setting(s) for s in args.setting] or [Setting("default", TrainConfig())]
    budgets = [int(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    config = load_config(args.config, {"strategies": ["random"], "seeds": [0]})
    dataset = load_trial_dataset(config)
    log(f"machine: {machine()}")
    log(f"test set: {len(dataset.test_y)} examples; model: {config.model.name}")
    log(
        f"{'setting':<16} {'n':>5} {'seed':>4} {'steps':>6} {'acc':>7} {'nll':>7} "
        f"{'train s':>8} {'s/1k ex':>8}"
    )
    rows = []
    for setting in settings:
        for n in budgets:
            for seed in seeds:
                ids = torch.from_numpy(labelled_ids(dataset.train_y, n, seed))
                model = build_model(config.model.name, seed=seed, **config.model.params)
                start = time.perf_counter()
                fit(model, dataset.train_x[ids], dataset.train_y[ids], setting.config, seed=seed)
                seconds = time.perf_counter() - start
                log_probs = predictive_log_probs([model], dataset.test_x)
                acc = (log_probs.argmax(-1) == dataset.test_y).double().mean().item()
                nll = -log_probs.gather(1, dataset.test_y[:, None]).double().mean().item()
                per_k = seconds / examples_processed(setting.config, n) * 1000
                rows.append((setting.name, n, seed, acc, nll, seconds, per_k))
                log(
                    f"{setting.name:<16} {n:>5} {seed:>4} "
                    f"{gradient_steps(setting.config, n):>6} {acc:>7.4f} {nll:>7.4f} "
                    f"{seconds:>8.1f} {per_k:>8.2f}"
                )
    log()
    log("mean test accuracy over seeds; protocol training estimate = every budget")
    log("20, 30, ..., 1020 once, at this setting's median measured seconds per 1k examples")
    header = f"{'setting':<16} " + " ".join(f"{'n=' + str(n):>8}" for n in budgets)
    log(header + f" {'protocol train s':>17}")
    all_budgets = [20 + 10 * r for r in range(101)]
    for setting in settings:
        mine = [r for r in rows if r[0] == setting.name]
        accs = [np.mean([r[3] for r in mine if r[1] == n]) for n in budgets]
        # Median, not mean: on a shared machine a job outside the lock can slow one fit 5x.
        per_example = float(np.median([r[6] for r in mine])) / 1000
        protocol = per_example * sum(examples_processed(setting.config, n) for n in all_budgets)
        log(f"{setting.name:<16} " + " ".join(f"{a:>8.4f}" for a in accs) + f" {protocol:>17.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--strategy", default="bald", help="arm label of the config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=None, help="stop early and extrapolate")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--train-study", action="store_true")
    parser.add_argument("--budgets", default="20,100,500,1000")
    parser.add_argument("--seeds", default="0")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        help="training study setting NAME:field=value,... (repeatable)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.train_study:
        run_train_study(args)
    else:
        run_protocol(args)


if __name__ == "__main__":
    main()
