"""BatchBALD, BALD and entropy: bayesal side by side with batchbald_redux and scikit-activeml.

One seeded random ``[N, K, C]`` log-probability tensor (log_softmax of Gaussian logits with
a per-point mean and a per-point spread across the K samples, so that points differ) is
fed to:

* bayesal: ``bayesal.acquisition.batchbald.batchbald`` and ``bayesal.acquisition.scores``;
* batchbald_redux 2.0.5: ``get_batchbald_batch``, ``compute_entropy``,
  ``compute_conditional_entropy`` (torch, float32 unless stated);
* scikit-activeml: ``skactiveml.pool.batch_bald`` (NumPy float64; the function behind
  ``skactiveml.pool.BatchBALD`` and ``GreedyBALD``; takes probabilities ``[K, N, C]``;
  its picks are the arg-max of each row of the returned utilities) and
  ``skactiveml.pool._uncertainty_sampling.uncertainty_scores(method="entropy")``.

Sections:

1. BALD and entropy scores: max |difference| between the libraries (float64 input).
2. Exact regime (C=3, batch 4, K=20: every joint entropy is enumerated exactly by all
   three): the picks and scores of each library.
3. Sampled regime, full size (N=10,000, K=100, C=10, batch 10, 10,000 configurations):
   bayesal vs batchbald_redux, both timed on the full tensor.
4. Same size, smaller pools (the first 1,000, 2,000 and 4,000 points): bayesal and
   scikit-activeml at each, batchbald_redux at 2,000. scikit-activeml materialises
   ``[N, num_samples, C]`` float64 arrays (~8 GB each, three at once, at N=10,000: more
   than this machine's memory), so its full-size time is extrapolated by a least-squares
   line through the measured sizes; its cost is affine in N (a loop over the N
   candidates per step, sampling independent of N), so this is exact up to noise.
   Each scikit-activeml call runs in a fresh process (see ``run_skactiveml_isolated``).

Every batch is also scored by one common estimator (500,000 configurations sampled from
the joint predictive, minus the exact conditional entropies; printed ± its standard
error), so that the quality of the batches can be compared, not only their speed. With
K=100 the joint MI of any batch is at most log K = 4.605 nats, reached after ~5 picks on
this data, so later picks are near-ties for every library.

Run (heavy, minutes: wrap in the shared lock):
    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/bench_batch_acquisition.py
Options: --n --k --c --batch-size --num-samples --seed --threads --repeats --small-n
--tiny-n --mid-n --skip-full-peers (skip the ~3-minute full-size batchbald_redux run),
--json OUT (write the measured figures as JSON: the raw output a README quotes).
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # batchbald_redux prints tqdm bars otherwise

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from importlib.metadata import version  # noqa: E402
from multiprocessing import get_context  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from bayesal.acquisition.batchbald import _Particles, batchbald  # noqa: E402
from bayesal.acquisition.scores import bald, entropy  # noqa: E402

#: Every figure the run prints, for ``--json``.
RECORD: dict[str, object] = {}


def log(message: str = "") -> None:
    print(message, flush=True)


def make_log_probs(N: int, K: int, C: int, seed: int, dtype: torch.dtype) -> Tensor:
    """log_softmax(2 m_n + s_n ε_nk): per-point mean logits m_n and spread s_n in [0.5, 4.5]."""
    generator = torch.Generator().manual_seed(seed)
    mean_N_1_C = 2.0 * torch.randn(N, 1, C, generator=generator, dtype=torch.float64)
    scale_N_1_1 = 0.5 + 4.0 * torch.rand(N, 1, 1, generator=generator, dtype=torch.float64)
    noise_N_K_C = torch.randn(N, K, C, generator=generator, dtype=torch.float64)
    return torch.log_softmax(mean_N_1_C + scale_N_1_1 * noise_N_K_C, dim=-1).to(dtype)


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def best_of(fn: Callable[[], object], repeats: int) -> tuple[object, float]:
    result, best = timed(fn)
    for _ in range(repeats - 1):
        result, seconds = timed(fn)
        best = min(best, seconds)
    return result, best


# --- the three libraries, called on the same tensor ------------------------------------


def run_bayesal(lp: Tensor, batch: int, num_samples: int, seed: int, prune: bool = True):
    selection = batchbald(
        lp,
        batch,
        num_samples=num_samples,
        generator=torch.Generator().manual_seed(seed),
        prune=prune,
    )
    return selection.indices_B.tolist(), selection.scores_B.tolist()


def run_redux(lp: Tensor, batch: int, num_samples: int, seed: int, dtype: torch.dtype):
    from batchbald_redux.batchbald import get_batchbald_batch

    torch.manual_seed(seed)  # batchbald_redux samples with the global torch RNG
    candidates = get_batchbald_batch(lp.to(dtype), batch, num_samples, dtype=dtype)
    return list(candidates.indices), list(candidates.scores)


def skactiveml_probas(lp: Tensor) -> np.ndarray:
    """scikit-activeml wants probabilities [K, N, C] (float64); it clips them in place."""
    return np.ascontiguousarray(lp.to(torch.float64).exp().permute(1, 0, 2).numpy())


def run_skactiveml(lp: Tensor, batch: int, num_samples: int, seed: int):
    from skactiveml.pool import batch_bald

    utilities = batch_bald(
        skactiveml_probas(lp), batch, n_MC_samples=num_samples, random_state=seed, eps=1e-300
    )
    # BatchBALD.query picks the arg-max of each row (earlier picks are NaN in later rows).
    indices = [int(np.nanargmax(row)) for row in utilities]
    return indices, [float(row[i]) for row, i in zip(utilities, indices, strict=True)]


def _skactiveml_child(lp: Tensor, batch: int, num_samples: int, seed: int, threads: int):
    torch.set_num_threads(threads)
    import skactiveml.pool  # noqa: F401  (import time is not part of the timing)

    return timed(lambda: run_skactiveml(lp, batch, num_samples, seed))


def run_skactiveml_isolated(lp: Tensor, batch: int, num_samples: int, seed: int, threads: int):
    """``run_skactiveml`` timed in a fresh spawned process.

    In the benchmark process torch's OpenMP threads keep spinning after torch work and
    slow NumPy's BLAS threads down (measured: 41-65 s in-process vs 13-18 s alone at
    N=1,000); a fresh process times scikit-activeml at its best.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_skactiveml_child, lp, batch, num_samples, seed, threads).result()


def common_joint_mi(lp: Tensor, picks: list[int], runs: int = 5, num_samples: int = 100_000) -> str:
    """One estimator for every library's batch: Ĥ(y_B) - Σ_i E_k H[p_k(y_i)], ± its SE.

    ``runs`` independent runs of ``num_samples`` ancestral samples each (memory stays that
    of one run); the SE is that of the pooled mean.
    """
    chosen = lp[picks].to(torch.float64)
    K = lp.shape[1]
    joints, variances = [], []
    for run in range(runs):
        particles = _Particles(num_samples, K, torch.Generator().manual_seed(123 + run), lp.device)
        for i in range(len(picks)):
            particles.append(chosen[i])
        configs = particles.configurations(chosen)
        surprise_U = math.log(K) - torch.logsumexp(configs.log_joint_U_K, dim=1)
        joint = float((configs.weights_U * surprise_U).sum())
        joints.append(joint)
        variances.append(float((configs.weights_U * (surprise_U - joint) ** 2).sum()))
    expected = float(-(chosen.exp() * chosen).nan_to_num().sum(dim=2).mean(dim=1).sum())
    standard_error = math.sqrt(sum(variances) / runs / (runs * num_samples))
    return f"{sum(joints) / runs - expected:.4f} ± {standard_error:.4f}"


# --- sections ---------------------------------------------------------------------------


def section_scores(lp64: Tensor) -> None:
    from batchbald_redux.batchbald import compute_conditional_entropy, compute_entropy
    from skactiveml.pool import batch_bald
    from skactiveml.pool._uncertainty_sampling import uncertainty_scores

    N, K, C = lp64.shape
    log(f"\n== 1. BALD and entropy scores (N={N}, K={K}, C={C}, float64) ==")
    ours_bald, t_ours_bald = best_of(lambda: bald(lp64), 3)
    ours_entropy, t_ours_entropy = best_of(lambda: entropy(lp64), 3)
    (redux_h, redux_ch), t_redux = timed(
        lambda: (compute_entropy(lp64), compute_conditional_entropy(lp64))
    )
    redux_bald = redux_h - redux_ch
    sk_bald, t_sk_bald = timed(
        lambda: batch_bald(skactiveml_probas(lp64), 1, n_MC_samples=K, random_state=0, eps=1e-300)[
            0
        ]
    )
    mean_probs = lp64.exp().mean(dim=1).numpy()
    sk_entropy, t_sk_entropy = timed(lambda: uncertainty_scores(mean_probs, method="entropy"))
    sk_bald_t = torch.from_numpy(np.asarray(sk_bald))
    sk_entropy_t = torch.from_numpy(np.asarray(sk_entropy))
    log(f"BALD    max |bayesal - batchbald_redux| = {(ours_bald - redux_bald).abs().max():.2e}")
    log(f"BALD    max |bayesal - scikit-activeml| = {(ours_bald - sk_bald_t).abs().max():.2e}")
    log(f"entropy max |bayesal - batchbald_redux| = {(ours_entropy - redux_h).abs().max():.2e}")
    log(
        f"entropy max |bayesal - scikit-activeml| = {(ours_entropy - sk_entropy_t).abs().max():.2e}"
    )
    RECORD["scores"] = {
        "n": N,
        "k": K,
        "c": C,
        "bald_max_abs_diff_batchbald_redux": float((ours_bald - redux_bald).abs().max()),
        "bald_max_abs_diff_skactiveml": float((ours_bald - sk_bald_t).abs().max()),
        "entropy_max_abs_diff_batchbald_redux": float((ours_entropy - redux_h).abs().max()),
        "entropy_max_abs_diff_skactiveml": float((ours_entropy - sk_entropy_t).abs().max()),
        "bald_argmax": [
            int(ours_bald.argmax()),
            int(redux_bald.argmax()),
            int(sk_bald_t.argmax()),
        ],
        "seconds": {
            "bayesal_bald": t_ours_bald,
            "bayesal_entropy": t_ours_entropy,
            "batchbald_redux": t_redux,
            "skactiveml_bald": t_sk_bald,
            "skactiveml_entropy": t_sk_entropy,
        },
    }
    log(
        f"BALD argmax: bayesal {int(ours_bald.argmax())}, batchbald_redux "
        f"{int(redux_bald.argmax())}, scikit-activeml {int(sk_bald_t.argmax())}"
    )
    log(
        f"time: bayesal bald {t_ours_bald:.3f}s + entropy {t_ours_entropy:.3f}s | "
        f"batchbald_redux entropy+cond. entropy {t_redux:.3f}s | scikit-activeml "
        f"batch_bald(batch 1) {t_sk_bald:.3f}s, entropy (mean probs given) {t_sk_entropy:.3f}s"
    )


def section_exact(N: int, K: int, C: int, batch: int, num_samples: int, seed: int) -> None:
    log(f"\n== 2. Exact regime (N={N}, K={K}, C={C}, batch {batch}, float64) ==")
    log(f"every library enumerates all C^(b-1) <= {C ** (batch - 1)} configurations exactly")
    lp = make_log_probs(N, K, C, seed + 1, torch.float64)
    (ours, ours_scores), t_ours = best_of(lambda: run_bayesal(lp, batch, num_samples, seed), 3)
    (redux, redux_scores), t_redux = timed(
        lambda: run_redux(lp, batch, num_samples, seed, torch.float64)
    )
    (sk, sk_scores), t_sk = timed(lambda: run_skactiveml(lp, batch, num_samples, seed))
    log(f"bayesal         picks {ours}  scores {[round(s, 6) for s in ours_scores]}  {t_ours:.3f}s")
    log(
        f"batchbald_redux picks {redux}  scores {[round(s, 6) for s in redux_scores]}  "
        f"{t_redux:.3f}s"
    )
    log(f"scikit-activeml picks {sk}  scores {[round(s, 6) for s in sk_scores]}  {t_sk:.3f}s")
    same = ours == redux == sk
    diff_redux = max(abs(a - b) for a, b in zip(ours_scores, redux_scores, strict=True))
    diff_sk = max(abs(a - b) for a, b in zip(ours_scores, sk_scores, strict=True))
    log(
        f"same picks in all three: {same}; max |score diff| vs batchbald_redux {diff_redux:.2e}, "
        f"vs scikit-activeml {diff_sk:.2e}"
    )
    RECORD["exact"] = {
        "k": K,
        "c": C,
        "batch": batch,
        "picks": {"bayesal": ours, "batchbald_redux": redux, "skactiveml": sk},
        "same_picks": same,
        "max_abs_score_diff_batchbald_redux": diff_redux,
        "max_abs_score_diff_skactiveml": diff_sk,
        "seconds": {"bayesal": t_ours, "batchbald_redux": t_redux, "skactiveml": t_sk},
    }
    log(
        f"ratios: batchbald_redux/bayesal {t_redux / t_ours:.1f}x, "
        f"scikit-activeml/bayesal {t_sk / t_ours:.1f}x"
    )


def describe(name: str, picks: list[int], scores: list[float], seconds: float, lp: Tensor) -> str:
    common = common_joint_mi(lp, picks)
    batches = RECORD.setdefault("batches", [])
    assert isinstance(batches, list)
    batches.append(
        {
            "name": name,
            "n": lp.shape[0],
            "seconds": seconds,
            "picks": picks,
            "own_joint_mi": scores[-1],
            "common_joint_mi": common,
        }
    )
    return (
        f"{name:<28} {seconds:8.2f}s  final joint MI (own estimate) {scores[-1]:.4f}, "
        f"(common estimate) {common}\n{'':<30}picks {picks}"
    )


def section_sampled_full(args: argparse.Namespace, lp: Tensor) -> dict[str, float]:
    N, K, C = lp.shape
    log(
        f"\n== 3. Sampled regime, full size (N={N}, K={K}, C={C}, batch {args.batch_size}, "
        f"{args.num_samples} configurations, float32 input) =="
    )
    times: dict[str, float] = {}
    full: dict[str, object] = {"n": N, "k": K, "c": C, "seconds": times, "picks": {}}
    RECORD["full"] = full
    (picks, scores), times["bayesal"] = best_of(
        lambda: run_bayesal(lp, args.batch_size, args.num_samples, args.seed), args.repeats
    )
    log(describe(f"bayesal (best of {args.repeats})", picks, scores, times["bayesal"], lp))
    full["picks"]["bayesal"] = picks  # type: ignore[index]
    (picks, scores), times["bayesal exhaustive"] = timed(
        lambda: run_bayesal(lp, args.batch_size, args.num_samples, args.seed, prune=False)
    )
    log(describe("bayesal prune=False", picks, scores, times["bayesal exhaustive"], lp))
    if args.skip_full_peers:
        log("batchbald_redux full size: skipped (--skip-full-peers)")
        return times
    (picks, scores), times["batchbald_redux"] = timed(
        lambda: run_redux(lp, args.batch_size, args.num_samples, args.seed, torch.float32)
    )
    log(describe("batchbald_redux (float32)", picks, scores, times["batchbald_redux"], lp))
    full["picks"]["batchbald_redux"] = picks  # type: ignore[index]
    full["ratio_batchbald_redux"] = times["batchbald_redux"] / times["bayesal"]
    log(
        f"ratio batchbald_redux / bayesal = {times['batchbald_redux'] / times['bayesal']:.1f}x "
        f"(target >= 10x); vs bayesal prune=False "
        f"{times['batchbald_redux'] / times['bayesal exhaustive']:.1f}x"
    )
    return times


def section_same_size(args: argparse.Namespace, lp: Tensor, full_times: dict[str, float]) -> None:
    N_full = lp.shape[0]
    sizes = sorted({args.tiny_n, args.small_n, args.mid_n} - {0})
    times: dict[tuple[str, int], float] = {}
    for n in sizes:
        sub = lp[:n]
        log(
            f"\n== 4. Same size: the first {n} points (batch {args.batch_size}, "
            f"{args.num_samples} configurations) =="
        )
        (picks, scores), times["bayesal", n] = best_of(
            lambda sub=sub: run_bayesal(sub, args.batch_size, args.num_samples, args.seed),
            args.repeats,
        )
        log(describe("bayesal", picks, scores, times["bayesal", n], sub))
        if n == args.small_n:
            (picks, scores), times["batchbald_redux", n] = timed(
                lambda sub=sub: run_redux(
                    sub, args.batch_size, args.num_samples, args.seed, torch.float32
                )
            )
            log(
                describe(
                    "batchbald_redux (float32)", picks, scores, times["batchbald_redux", n], sub
                )
            )
            log(
                f"ratio batchbald_redux / bayesal at N={n}: "
                f"{times['batchbald_redux', n] / times['bayesal', n]:.1f}x"
            )
        (picks, scores), times["scikit-activeml", n] = run_skactiveml_isolated(
            sub.clone(), args.batch_size, args.num_samples, args.seed, args.threads
        )
        log(describe("scikit-activeml (float64)", picks, scores, times["scikit-activeml", n], sub))
        log(
            f"ratio scikit-activeml / bayesal at N={n}: "
            f"{times['scikit-activeml', n] / times['bayesal', n]:.1f}x"
        )
    # scikit-activeml's cost is affine in N: a least-squares line through the measured
    # sizes, extrapolated to the full pool (and, for comparison, proportional scaling
    # from the largest size, which ignores the N-independent part and so overestimates).
    ns = np.array(sizes, dtype=np.float64)
    ts = np.array([times["scikit-activeml", n] for n in sizes])
    slope, intercept = np.polyfit(ns, ts, 1) if len(sizes) > 1 else (ts[0] / ns[0], 0.0)
    linear = intercept + slope * N_full
    largest = sizes[-1]
    proportional = times["scikit-activeml", largest] * N_full / largest
    extrapolated = min(linear, proportional)
    RECORD["same_size"] = {
        "sizes": sizes,
        "seconds": {f"{name} N={n}": t for (name, n), t in times.items()},
        "skactiveml_extrapolated_full_seconds": extrapolated,
        "skactiveml_fit": {"intercept_s": float(intercept), "slope_s_per_item": float(slope)},
    }
    if "bayesal" in full_times:
        RECORD["same_size"]["ratio_skactiveml_extrapolated"] = (  # type: ignore[index]
            extrapolated / full_times["bayesal"]
        )
    log(
        f"\nscikit-activeml at N={N_full}: not run (needs several [N, {args.num_samples}, C] "
        f"float64 arrays of {N_full * args.num_samples * lp.shape[2] * 8 / 1e9:.0f} GB each)."
    )
    log(
        f"EXTRAPOLATED from N={', '.join(str(n) for n in sizes)}: least-squares line "
        f"{intercept:.1f}s + {slope * 1e3:.2f} ms per pool point -> {linear:.0f}s; "
        f"proportional from N={largest}: {proportional:.0f}s; using the smaller, "
        f"{extrapolated:.0f}s"
    )
    if "bayesal" in full_times:
        log(
            f"ratio scikit-activeml (extrapolated) / bayesal (measured) at N={N_full}: "
            f"{extrapolated / full_times['bayesal']:.0f}x (target >= 50x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--c", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="best-of for bayesal timings")
    parser.add_argument("--small-n", type=int, default=2_000)
    parser.add_argument("--tiny-n", type=int, default=1_000)
    parser.add_argument(
        "--mid-n",
        type=int,
        default=4_000,
        help="largest size for scikit-activeml (~3.2 GB per [N, 10k, 10] array; 0: skip)",
    )
    parser.add_argument("--skip-full-peers", action="store_true")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log(
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
        f"batchbald_redux {version('batchbald_redux')}, scikit-activeml "
        f"{version('scikit-activeml')}; {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}; {platform.processor() or platform.machine()}"
    )
    log(f"load average at the start (1, 5, 15 min): {os.getloadavg()}")
    RECORD["load_average_start"] = os.getloadavg()
    lp = make_log_probs(args.n, args.k, args.c, args.seed, torch.float32)

    def write(complete: bool) -> None:
        """The figures so far (after every section: a run cut short keeps them)."""
        if not args.json:
            return
        RECORD.update(
            benchmark="bench_batch_acquisition",
            args=vars(args),
            torch=torch.__version__,
            numpy=np.__version__,
            batchbald_redux=version("batchbald_redux"),
            skactiveml=version("scikit-activeml"),
            cpus=os.cpu_count(),
            load_average_end=os.getloadavg(),
            complete=complete,
        )
        with open(args.json, "w") as f:
            json.dump(RECORD, f, indent=1, default=str)

    section_scores(lp.to(torch.float64))
    write(False)
    section_exact(args.n, 20, 3, 4, args.num_samples, args.seed)
    write(False)
    full_times = section_sampled_full(args, lp)
    write(False)
    section_same_size(args, lp, full_times)
    log(f"\nload average at the end (1, 5, 15 min): {os.getloadavg()}")
    log(f"K={args.k}: joint MI of any batch is at most log K = {math.log(args.k):.4f} nats")
    write(True)
    if args.json:
        log(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
