"""The compute bound of one Gal et al. (2017) MNIST protocol trial, against its wall time.

The trial (``configs/mnist_gal2017.yaml``, BALD, one seed) was timed by
``bench_mnist_protocol.py`` (docs/mnist.md): ~943 s on 2 cores, of which training ~717 s,
evaluation ~148 s, scoring ~77 s (extrapolated from 21 measured rounds). This script
does not rerun it. It counts the floating-point work the trial cannot avoid and divides
it by rates measured here, now:

* FLOPs (multiply-adds x 2) of the Gal CNN, per input: conv 1->32 4x4 (25 x 25 outputs),
  conv 32->32 4x4 (22 x 22), dense 3,872->128, dense 128->10. Training an example costs
  forward + backward = 3 x forward, less the first convolution's input gradient (never
  computed). Examples processed: ``TrainConfig.num_epochs(n) * n`` for every budget
  n = 20, 30, ..., 1,020 of the config. Evaluation: 101 forward passes over the 10,000
  test images. Scoring: 100 MC-dropout passes over 2,000 images with K = 100, counted
  as bayesal executes them (the convolutions once per input; the first dense layer as
  one shared product plus, per sample, the ~25% of columns its mask drops; the second
  dense layer per sample).
* Rates: the sgemm rate (``[2048 x 4608] @ [4608 x 2048]``, the machine's best), the
  convolutional trunk's forward rate (chunks of 64 channels-last inputs, bayesal's
  scoring layout), and the achieved rate of a training step of the protocol (batch 32,
  forward + backward + Adam, as ``bayesal.training.fit`` runs it). Best of
  ``--repeats``.

Two bounds are printed: every FLOP at the sgemm rate (nothing on this CPU is faster), and
training at the measured training-step rate with evaluation and scoring at the trunk's
forward rate (what the layers reach here when run well); the ratio is the trial's wall
time over each.

Run (about a minute; wrap it in the shared lock):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_protocol_bound.py
Options: --wall (the trial's seconds, default 943), --train-wall, --eval-wall,
--score-wall (its parts, default 717 / 148 / 77), --threads, --repeats, --json OUT
(write the figures as JSON: the raw output a README quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bayesal.experiment import load_config
from bayesal.models import GalCNN

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist_gal2017.yaml"


def gal_flops() -> dict[str, float]:
    """Forward FLOPs per 28 x 28 input, by layer."""
    conv1 = 2 * (1 * 4 * 4) * 32 * 25 * 25
    conv2 = 2 * (32 * 4 * 4) * 32 * 22 * 22
    dense1 = 2 * 3872 * 128
    dense2 = 2 * 128 * 10
    return {"conv1": conv1, "conv2": conv2, "dense1": dense1, "dense2": dense2}


def best(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wall", type=float, default=943.0)
    parser.add_argument("--train-wall", type=float, default=717.0)
    parser.add_argument("--eval-wall", type=float, default=148.0)
    parser.add_argument("--score-wall", type=float, default=77.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()}"
    )

    # ---- work
    config = load_config(CONFIG, {"strategies": ["bald"], "seeds": [0]})
    train = config.training
    budgets = [
        config.initial_labels + r * config.acquisition_size for r in range(config.rounds + 1)
    ]
    examples = sum(train.num_epochs(n) * n for n in budgets)
    layer = gal_flops()
    forward = sum(layer.values())
    train_per_example = 3 * forward - layer["conv1"]
    K, pool, test = config.posterior.num_samples, config.pool_subset or 0, 10_000
    trunk = layer["conv1"] + layer["conv2"]
    # Scoring as executed: trunk once; dense1 shared product + K x 25% column products;
    # dense2 per sample.
    score_per_input = trunk + layer["dense1"] * (1 + 0.25 * K) + K * layer["dense2"]
    work = {
        "train": examples * train_per_example,
        "eval": (config.rounds + 1) * test * forward,
        "score": config.rounds * pool * score_per_input,
    }
    print(
        f"Gal CNN forward: {forward / 1e6:.2f} MFLOP per input (convolutions "
        f"{trunk / 1e6:.2f}); training {train_per_example / 1e6:.1f} MFLOP per example"
    )
    print(
        f"protocol work: training {examples:,} examples = {work['train'] / 1e12:.1f} TFLOP; "
        f"evaluation {config.rounds + 1} x {test:,} = {work['eval'] / 1e12:.1f} TFLOP; "
        f"scoring {config.rounds} x {pool:,} x K={K} = {work['score'] / 1e12:.1f} TFLOP"
    )

    # ---- rates
    a, b = torch.randn(2048, 4608), torch.randn(4608, 2048)
    sgemm = 2 * 2048 * 4608 * 2048 / best(lambda: a @ b, args.repeats)

    model = GalCNN().eval()
    trunk_layers = list(model)[:5]
    x = torch.rand(2048, 1, 28, 28)

    def run_trunk() -> None:
        with torch.no_grad():
            for i in range(0, len(x), 64):
                h = x[i : i + 64].contiguous(memory_format=torch.channels_last)
                for module in trunk_layers:
                    if isinstance(module, torch.nn.Conv2d):
                        h = h.contiguous(memory_format=torch.channels_last)
                    h = module(h)

    trunk_rate = len(x) * trunk / best(run_trunk, args.repeats)

    net = GalCNN().train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    xb, yb = torch.rand(32, 1, 28, 28), torch.randint(0, 10, (32,))
    steps = 50

    def run_steps() -> None:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(xb), yb).backward()
            optimizer.step()

    train_rate = steps * 32 * train_per_example / best(run_steps, args.repeats)
    print(
        f"rates: sgemm {sgemm / 1e9:.0f} GFLOP/s; convolutional trunk forward "
        f"{trunk_rate / 1e9:.0f} GFLOP/s; training step (batch {train.batch_size} in the "
        f"config; measured at 32) {train_rate / 1e9:.0f} GFLOP/s"
    )

    # ---- bounds
    at_sgemm = {k: v / sgemm for k, v in work.items()}
    at_layers = {
        "train": work["train"] / train_rate,
        "eval": work["eval"] / trunk_rate,
        "score": work["score"] / trunk_rate,
    }
    walls = {"train": args.train_wall, "eval": args.eval_wall, "score": args.score_wall}
    print()
    print(
        "| part | wall (s) | bound at sgemm rate (s) | ratio | bound at layer rates (s) | ratio |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for part in ("train", "eval", "score"):
        print(
            f"| {part} | {walls[part]:.0f} | {at_sgemm[part]:.0f} | "
            f"{walls[part] / at_sgemm[part]:.2f}x | {at_layers[part]:.0f} | "
            f"{walls[part] / at_layers[part]:.2f}x |"
        )
    total_sgemm, total_layers = sum(at_sgemm.values()), sum(at_layers.values())
    print(
        f"| **trial** | **{args.wall:.0f}** | {total_sgemm:.0f} "
        f"| **{args.wall / total_sgemm:.2f}x** | {total_layers:.0f} "
        f"| **{args.wall / total_layers:.2f}x** |"
    )
    print(f"load average at the end: {os.getloadavg()}")
    if args.json:
        record = {
            "benchmark": "bench_protocol_bound",
            "args": vars(args),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "forward_mflop": forward / 1e6,
            "trunk_mflop": trunk / 1e6,
            "train_mflop_per_example": train_per_example / 1e6,
            "train_examples": examples,
            "work_tflop": {k: v / 1e12 for k, v in work.items()},
            "sgemm_gflops": sgemm / 1e9,
            "trunk_gflops": trunk_rate / 1e9,
            "train_gflops": train_rate / 1e9,
            "walls": {**walls, "trial": args.wall},
            "bound_sgemm_seconds": {**at_sgemm, "trial": total_sgemm},
            "bound_layers_seconds": {**at_layers, "trial": total_layers},
            "ratio_sgemm": {
                **{k: walls[k] / at_sgemm[k] for k in walls},
                "trial": args.wall / total_sgemm,
            },
            "ratio_layers": {
                **{k: walls[k] / at_layers[k] for k in walls},
                "trial": args.wall / total_layers,
            },
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
        }
        Path(args.json).write_text(json.dumps(record, indent=1))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
