"""MC-dropout scoring at the hardware's pace: BALD of N MNIST images with K samples.

The Gal et al. CNN (random weights: the cost does not depend on them) scores N images
(MNIST's 70,000 repeated up to N) with K dropout masks, chunk by chunk, keeping only the
BALD scores. The inputs are moved to the device once; the clock stops after the last
kernel (``torch.cuda.synchronize``). Prints seconds, images per second and, with
``--bf16``, the same with the network in bfloat16 with the largest score difference.

    .venv/bin/python benchmarks/bench_gpu_scoring.py --device cuda             # N=100,000, K=100
    .venv/bin/python benchmarks/bench_gpu_scoring.py --device cpu --n 2000     # a smoke test

Part of ``benchmarks/gpu_bench.sh``; the issue's target on a GPU: 100,000 images, K = 100,
in at most 2 s.
"""

from __future__ import annotations

import argparse
import time

import torch

from bayesal.acquisition.scores import bald
from bayesal.data import load_dataset
from bayesal.models import build_model
from bayesal.posterior import MCDropoutPosterior


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def score(
    x: torch.Tensor, k: int, chunk: int, device: torch.device, bf16: bool
) -> tuple[float, torch.Tensor]:
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = build_model("gal_cnn", seed=0).to(device=device, dtype=dtype).eval()
    draw = MCDropoutPosterior(model).draw(k, torch.Generator().manual_seed(0))
    scores = torch.empty(len(x), device=device)
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), chunk):
            # A bfloat16 network's log-probs come back in float32 (log-softmax in float32).
            scores[i : i + chunk] = bald(draw.log_probs(x[i : i + chunk]))
    _sync(device)
    return time.perf_counter() - start, scores.cpu()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=None, help="default: 4096 on CUDA, 256 else")
    parser.add_argument("--bf16", action="store_true", help="also time the network in bfloat16")
    args = parser.parse_args()
    device = torch.device(args.device)
    chunk = args.chunk or (4096 if device.type == "cuda" else 256)
    data = load_dataset("mnist")
    pool = torch.cat([data.train_x, data.test_x])
    x = pool.repeat((args.n + len(pool) - 1) // len(pool), 1, 1, 1)[: args.n].to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}; N={args.n:,}, K={args.k}, chunk {chunk}")
    score(x[:chunk], args.k, chunk, device, False)  # warm-up (kernels, allocator)
    seconds, fp32 = score(x, args.k, chunk, device, False)
    print(f"float32:  {seconds:.3f} s, {args.n / seconds:,.0f} images/s")
    if args.bf16:
        score(x[:chunk], args.k, chunk, device, True)
        seconds16, bf16 = score(x, args.k, chunk, device, True)
        top = 100
        overlap = len(set(fp32.topk(top).indices.tolist()) & set(bf16.topk(top).indices.tolist()))
        print(
            f"bfloat16: {seconds16:.3f} s, {args.n / seconds16:,.0f} images/s "
            f"({seconds / seconds16:.2f}x); max |BALD difference| "
            f"{(fp32 - bf16).abs().max():.4f} nats; top-{top} overlap {overlap}/{top}"
        )


if __name__ == "__main__":
    main()
