"""MC-dropout scoring speed: naive K stochastic forward passes vs bayesal's posterior.

Scores a pool of N MNIST-sized random inputs with the Gal et al. (2017) CNN and K samples:

(a) naive: the model in train mode, K full forward passes over the pool, nn.Dropout
    drawing fresh per-input masks (what most libraries do);
(b) bayesal: ``MCDropoutPosterior(model).log_probs(pool, K, generator)`` (consistent masks,
    trunk computed once, masks folded into the dense layers).

It also prints bayesal's time against a compute-bound estimate: the FLOPs of one trunk pass
over N inputs plus K head passes (convolutions counted as their matmul FLOPs), divided by
the sgemm rate measured in the same run. Before timing, bayesal's output on a few inputs
is checked against a brute-force consistent computation (one plain forward per sample k
with mask k applied by hand).

Run (heavy: wrap in the shared lock):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_mc_dropout.py
Options: --n, --k, --threads, --naive-k (time fewer naive passes and extrapolate
linearly), --naive-batch, --trunk-study (time the convolutional trunk under variants),
--json OUT (write the measured figures as JSON: the raw output a README quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from bayesal.models import GalCNN, build_model
from bayesal.posterior import MCDropoutPosterior
from bayesal.posterior.mc_dropout import MCDropoutDraw


def log(message: str) -> None:
    print(message, flush=True)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sgemm_rate(repeats: int = 5) -> tuple[float, str]:
    """FLOP/s of a float32 matmul shaped like the dense head: [2048, 4608] @ [4608, 2048]."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(2048, 4608, generator=generator)
    b = torch.randn(4608, 2048, generator=generator)
    seconds = best_time(lambda: a @ b, repeats)
    return 2 * 2048 * 4608 * 2048 / seconds, "[2048 x 4608] @ [4608 x 2048]"


def layer_flops(model: nn.Sequential, x_1: Tensor) -> list[float]:
    """Multiply-add FLOPs (2 per MAC) of each top-level layer for one input; convolutions
    count as their im2col matmul (out elements x in_channels/groups x kernel area)."""
    flops: list[float] = []
    h = x_1
    with torch.no_grad():
        for layer in model:
            out = layer(h)
            if isinstance(layer, nn.Conv2d):
                kh, kw = layer.kernel_size
                macs = out.numel() * (layer.in_channels // layer.groups) * kh * kw
            elif isinstance(layer, nn.Linear):
                macs = out.numel() * layer.in_features
            else:
                macs = 0
            flops.append(2.0 * macs)
            h = out
    return flops


def brute_force(model: nn.Module, draw: MCDropoutDraw, x: Tensor) -> Tensor:
    """[n, K, C]: for each k, a plain eval-mode forward with mask k multiplied in by hand."""
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout) and m.p > 0]
    was_training = model.training
    model.eval()
    out = []
    for k in range(draw.num_samples):
        handles = [
            m.register_forward_hook(
                lambda mod, args, _out, k=k: args[0] * draw.mask(mod, args[0].shape[1:])[k]
            )
            for m in dropouts
        ]
        try:
            with torch.no_grad():
                out.append(torch.log_softmax(model(x), dim=-1))
        finally:
            for handle in handles:
                handle.remove()
    model.train(was_training)
    return torch.stack(out, dim=1)


def naive_scores(model: nn.Module, pool: Tensor, passes: int, batch: int) -> list[float]:
    """Seconds of each of `passes` train-mode forward passes (fresh masks per input)."""
    model.train()
    out = torch.empty(len(pool), passes, 10)
    times = []
    with torch.no_grad():
        for k in range(passes):
            start = time.perf_counter()
            for i in range(0, len(pool), batch):
                out[i : i + batch, k] = torch.log_softmax(model(pool[i : i + batch]), dim=-1)
            times.append(time.perf_counter() - start)
            if k == 0 or (k + 1) % 10 == 0 or k + 1 == passes:
                log(f"  naive pass {k + 1}/{passes}: {times[-1]:.2f} s")
    model.eval()
    return times


def trunk_study(model: GalCNN, n: int, rate: float, trunk_flops: float) -> list[dict[str, object]]:
    """Time the convolutional trunk (layers before the first dropout) under variants."""
    trunk = nn.Sequential(*list(model)[:5]).eval()
    x = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    channels_last = torch.channels_last

    def run(chunk: int, to_cl: str) -> Callable[[], object]:
        def go() -> object:
            outs = []
            for i in range(0, n, chunk):
                h = x[i : i + chunk]
                for layer in trunk:
                    if to_cl == "conv inputs" and isinstance(layer, nn.Conv2d):
                        h = h.contiguous(memory_format=channels_last)
                    h = layer(h)
                outs.append(h)
            return torch.cat(outs)

        return go

    log(f"trunk study: {n} inputs, {trunk_flops * n / 1e9:.1f} GFLOP, sgemm {rate / 1e9:.0f} GF/s")
    variants: list[tuple[str, Callable[[], object], str]] = []
    for chunk in (64, 128, 256, 512, n):
        for to_cl in ("none", "conv inputs"):
            variants.append(
                (f"chunk {chunk:5d}, channels_last {to_cl:11s}", run(chunk, to_cl), "ng")
            )
    variants.append(("chunk   128, conv inputs, inference_mode", run(128, "conv inputs"), "im"))
    variants.append(("chunk   128, conv inputs, mkldnn off", run(128, "conv inputs"), "nomk"))
    variants.append(("chunk  2000, none, mkldnn off", run(min(n, 2000), "none"), "nomk"))
    rows: list[dict[str, object]] = []
    for name, fn, ctx in variants:
        if ctx == "im":
            with torch.inference_mode():
                seconds = best_time(fn, 3)
        elif ctx == "nomk":
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
                seconds = best_time(fn, 3)
        else:
            with torch.no_grad():
                seconds = best_time(fn, 3)
        log(f"  {name}: {seconds:.3f} s = {trunk_flops * n / seconds / 1e9:6.1f} GFLOP/s")
        rows.append(
            {
                "variant": " ".join(name.split()),
                "inputs": n,
                "seconds": seconds,
                "gflops": trunk_flops * n / seconds / 1e9,
            }
        )
    return rows


def executed_head_factor(model: GalCNN, num_samples: int) -> list[float]:
    """How many dense head passes bayesal does per head layer: K, except for the Linear
    that follows the first dropout, whose input is shared by all samples, so only the
    dropped (p < .5) or kept (p >= .5) columns are multiplied per sample (1 + pK or
    (1 - p)K dense-equivalents; K when that would save little, as in the library)."""
    layers = list(model)
    first = next(i for i, m in enumerate(layers) if isinstance(m, nn.Dropout))
    p = layers[first].p
    factors = []
    shared = True
    for layer in layers[first:]:
        if isinstance(layer, nn.Linear) and shared:
            sparse = min(1 + p * num_samples, (1 - p) * num_samples)
            factors.append(sparse if sparse <= 0.75 * num_samples else num_samples)
            shared = False
        else:
            factors.append(num_samples)
    return factors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="pool size N")
    parser.add_argument("--k", type=int, default=100, help="MC-dropout samples K")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--naive-k",
        type=int,
        default=None,
        help="naive passes to time (default K); fewer -> "
        "the naive time is extrapolated linearly to K passes",
    )
    parser.add_argument("--naive-batch", type=int, default=256, help="naive batch size")
    parser.add_argument("--repeats", type=int, default=3, help="bayesal timings (best of)")
    parser.add_argument("--trunk-study", action="store_true", help="time trunk variants")
    parser.add_argument("--json", type=str, default=None, help="write the figures to this file")
    args = parser.parse_args()
    naive_k = args.k if args.naive_k is None else min(args.naive_k, args.k)

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    log(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}; N={args.n}, K={args.k}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    model = build_model("gal_cnn", seed=0)
    assert isinstance(model, GalCNN)
    model.eval()
    pool = torch.rand(args.n, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    rate, shape = sgemm_rate()
    log(f"sgemm rate {shape}: {rate / 1e9:.1f} GFLOP/s")
    flops = layer_flops(model, pool[:1])
    first_dropout = next(i for i, m in enumerate(model) if isinstance(m, nn.Dropout))
    trunk_flops, head_flops = sum(flops[:first_dropout]), sum(flops[first_dropout:])
    estimate_flops = args.n * (trunk_flops + args.k * head_flops)
    estimate_s = estimate_flops / rate
    factors = executed_head_factor(model, args.k)
    executed_flops = args.n * (
        trunk_flops + sum(f * c for f, c in zip(flops[first_dropout:], factors, strict=True))
    )
    log(
        f"FLOPs per input: trunk {trunk_flops / 1e6:.2f} M, head {head_flops / 1e6:.2f} M; "
        f"compute-bound estimate (trunk once + K dense head passes): "
        f"{estimate_flops / 1e9:.0f} GFLOP -> {estimate_s:.2f} s"
    )
    log(
        f"FLOPs bayesal executes (column-subset fold of the first dense layer): "
        f"{executed_flops / 1e9:.0f} GFLOP -> {executed_flops / rate:.2f} s at the sgemm rate"
    )

    posterior = MCDropoutPosterior(model)
    check = posterior.draw(args.k, torch.Generator().manual_seed(1))
    few = pool[:4]
    error = (check.log_probs(few) - brute_force(model, check, few)).abs().max().item()
    log(f"check vs brute force (4 inputs, K={args.k}): max |diff| = {error:.2e}")
    if error > 1e-4:
        raise SystemExit("bayesal disagrees with the brute-force consistent computation")

    trunk_rows = []
    if args.trunk_study:
        trunk_rows = trunk_study(model, min(args.n, 2000), rate, trunk_flops)

    log(f"bayesal MCDropoutPosterior.log_probs, best of {args.repeats} ...")
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        scores = posterior.log_probs(pool, args.k, torch.Generator().manual_seed(2))
        timings.append(time.perf_counter() - start)
        log(f"  run: {timings[-1]:.2f} s")
    bayesal_s = min(timings)
    assert scores.shape == (args.n, args.k, 10)
    draw = posterior.draw(args.k, torch.Generator().manual_seed(2))
    step = draw._chunk_plan(pool).trunk_inputs_per_step  # diagnostic: the trunk alone
    with torch.no_grad():
        trunk_s = best_time(
            lambda: [draw._run_trunk(pool[i : i + step]) for i in range(0, args.n, step)], 2
        )
    rate_after, _ = sgemm_rate()
    log(
        f"bayesal: {bayesal_s:.2f} s; trunk alone {trunk_s:.2f} s "
        f"({trunk_flops * args.n / trunk_s / 1e9:.0f} GFLOP/s, chunks of {step}); "
        f"sgemm rate re-measured: {rate_after / 1e9:.1f} GFLOP/s"
    )

    log(f"naive: {naive_k} train-mode passes, batch {args.naive_batch} ...")
    pass_times = naive_scores(model, pool, naive_k, args.naive_batch)
    naive_measured = sum(pass_times)
    naive_s = naive_measured * args.k / naive_k
    naive_floor_s = min(pass_times) * args.k  # robust to other jobs slowing some passes
    if naive_k < args.k:
        log(
            f"naive: {naive_measured:.2f} s for {naive_k} passes, EXTRAPOLATED linearly to "
            f"K={args.k}: {naive_s:.1f} s"
        )
    else:
        log(f"naive: {naive_s:.1f} s for all K={args.k} passes (measured, not extrapolated)")

    note = " (extrapolated)" if naive_k < args.k else ""
    log("")
    log(f"{'method':<48s} {'seconds':>9s}")
    log(f"{'naive (K train-mode passes)':<48s} {naive_s:9.1f}{note}")
    log(f"{'naive, K x fastest pass':<48s} {naive_floor_s:9.1f}")
    log(f"{'bayesal MCDropoutPosterior.log_probs':<48s} {bayesal_s:9.2f}")
    log(f"{'compute-bound estimate (trunk + K head passes)':<48s} {estimate_s:9.2f}")
    log(f"speed-up naive / bayesal: {naive_s / bayesal_s:.1f}x (target >= 20x)")
    log(f"speed-up (K x fastest naive pass) / bayesal: {naive_floor_s / bayesal_s:.1f}x")
    log(f"bayesal / compute-bound estimate: {bayesal_s / estimate_s:.2f}x (target <= 1.5x)")
    log(
        f"bayesal / its executed FLOPs at the sgemm rate: "
        f"{bayesal_s / (executed_flops / rate):.2f}x"
    )
    log(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        record = {
            "benchmark": "bench_mc_dropout",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "n": args.n,
            "k": args.k,
            "naive_batch": args.naive_batch,
            "naive_passes_measured": naive_k,
            "naive_extrapolated": naive_k < args.k,
            "naive_pass_seconds": pass_times,
            "naive_seconds": naive_s,
            "naive_floor_seconds": naive_floor_s,
            "bayesal_seconds_runs": timings,
            "bayesal_seconds": bayesal_s,
            "trunk_seconds": trunk_s,
            "sgemm_gflops": rate / 1e9,
            "sgemm_gflops_after": rate_after / 1e9,
            "estimate_gflop": estimate_flops / 1e9,
            "estimate_seconds": estimate_s,
            "executed_gflop": executed_flops / 1e9,
            "check_max_abs_diff": error,
            "speedup": naive_s / bayesal_s,
            "speedup_floor": naive_floor_s / bayesal_s,
            "bayesal_over_estimate": bayesal_s / estimate_s,
            "load_average_start": load_start,
            "load_average_end": os.getloadavg()[0],
            "trunk_study": trunk_rows,
        }
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
        log(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
