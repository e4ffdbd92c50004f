"""EPIG against explicit loops, its bounds and symmetries, and the EPIG strategies."""

from __future__ import annotations

import math

import pytest
import torch

from bayesal.acquisition.base import Strategy
from bayesal.acquisition.epig import EPIGStrategy, StochasticEPIGStrategy, epig
from bayesal.acquisition.stochastic import STOCHASTIC_MODES, stochastic_batch
from bayesal.errors import InvalidInputError


def random_log_probs(N: int, K: int, C: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mean_N_1_C = 2.0 * torch.randn(N, 1, C, generator=g, dtype=torch.float64)
    scale_N_1_1 = 0.3 + 3.0 * torch.rand(N, 1, 1, generator=g, dtype=torch.float64)
    noise_N_K_C = torch.randn(N, K, C, generator=g, dtype=torch.float64)
    return torch.log_softmax(mean_N_1_C + scale_N_1_1 * noise_N_K_C, dim=-1).to(dtype)


def brute_pair_mi(pool_K_C: torch.Tensor, target_K_C: torch.Tensor) -> float:
    """I(y; y*) = Σ p(y,y*) log p(y,y*)/(p(y)p(y*)), p(y,y*) = mean_k p_k(y) p_k(y*)."""
    p = pool_K_C.exp().tolist()
    q = target_K_C.exp().tolist()
    K, C = len(p), len(p[0])
    total = 0.0
    for y in range(C):
        p_y = sum(p[k][y] for k in range(K)) / K
        for z in range(C):
            q_z = sum(q[k][z] for k in range(K)) / K
            joint = sum(p[k][y] * q[k][z] for k in range(K)) / K
            if joint > 0:
                total += joint * math.log(joint / (p_y * q_z))
    return total


def brute_epig(pool_N_K_C: torch.Tensor, target_M_K_C: torch.Tensor) -> list[float]:
    return [
        sum(brute_pair_mi(pool_N_K_C[n], target_M_K_C[m]) for m in range(len(target_M_K_C)))
        / len(target_M_K_C)
        for n in range(len(pool_N_K_C))
    ]


def brute_bald(log_probs_N_K_C: torch.Tensor) -> torch.Tensor:
    probs = log_probs_N_K_C.exp()
    mean = probs.mean(dim=1)
    return -(mean * mean.log()).sum(-1) + (probs * log_probs_N_K_C).sum(-1).mean(1)


@pytest.mark.parametrize("N,M,K,C", [(3, 4, 5, 3), (2, 1, 3, 2), (4, 3, 2, 5)])
def test_epig_matches_explicit_loops(N, M, K, C):
    pool = random_log_probs(N, K, C, seed=N + 10 * M)
    target = random_log_probs(M, K, C, seed=100 + K)
    assert epig(pool, target).tolist() == pytest.approx(brute_epig(pool, target), abs=1e-12)


def test_epig_with_impossible_labels_matches_loops():
    pool = random_log_probs(3, 4, 3, seed=1)
    pool[0, :, 1] = -math.inf
    pool[0] = torch.log_softmax(pool[0], dim=-1)
    target = random_log_probs(2, 4, 3, seed=2)
    target[1, 2, 0] = -math.inf
    target[1] = torch.log_softmax(target[1], dim=-1)
    scores = epig(pool, target)
    assert bool(torch.isfinite(scores).all())
    assert scores.tolist() == pytest.approx(brute_epig(pool, target), abs=1e-12)


def test_bounds_and_data_processing_inequality():
    pool = random_log_probs(200, 12, 4, seed=3)
    target = random_log_probs(30, 12, 4, seed=4)
    scores = epig(pool, target)
    assert scores.shape == (200,) and scores.dtype == torch.float64
    assert bool((scores >= 0).all()) and bool((scores <= math.log(4)).all())
    # y* depends on y only through θ, so I(y; y*) <= I(y; θ) = BALD.
    assert bool((scores <= brute_bald(pool) + 1e-12).all())
    assert float(scores.max()) > 0.01  # not trivially zero


def test_single_parameter_sample_gives_zero():
    pool = random_log_probs(10, 1, 3, seed=5)
    target = random_log_probs(4, 1, 3, seed=6)
    assert torch.allclose(epig(pool, target), torch.zeros(10, dtype=torch.float64), atol=1e-14)


def test_target_equal_to_the_pool_point():
    # With x* = x, EPIG(x) = I(y; y') between two labels of the same input, which are
    # independent given θ: bounded by BALD(x), and positive when the samples disagree.
    pool = random_log_probs(6, 7, 3, seed=7)
    for n in range(6):
        value = float(epig(pool[n : n + 1], pool[n : n + 1])[0])
        assert value == pytest.approx(brute_pair_mi(pool[n], pool[n]), abs=1e-12)
        assert 0.0 < value <= float(brute_bald(pool[n : n + 1])[0]) + 1e-12


def test_pairwise_symmetry():
    # I(y_a; y_b) = I(y_b; y_a): EPIG of a against target {b} equals b against {a}.
    points = random_log_probs(5, 6, 4, seed=8)
    for a in range(5):
        for b in range(5):
            ab = epig(points[a : a + 1], points[b : b + 1])
            ba = epig(points[b : b + 1], points[a : a + 1])
            assert torch.allclose(ab, ba, atol=1e-14)


def test_invariances():
    pool = random_log_probs(20, 6, 4, seed=9)
    target = random_log_probs(8, 6, 4, seed=10)
    reference = epig(pool, target)
    g = torch.Generator().manual_seed(0)
    # The same permutation of the K samples in both tensors changes nothing.
    perm_K = torch.randperm(6, generator=g)
    assert torch.allclose(epig(pool[:, perm_K], target[:, perm_K]), reference, atol=1e-13)
    # Relabelling classes (separately in pool and target) changes nothing.
    assert torch.allclose(
        epig(
            pool[:, :, torch.randperm(4, generator=g)], target[:, :, torch.randperm(4, generator=g)]
        ),
        reference,
        atol=1e-13,
    )
    # Reordering targets changes nothing; reordering the pool reorders the scores.
    assert torch.allclose(epig(pool, target[torch.randperm(8, generator=g)]), reference, atol=1e-13)
    perm_N = torch.randperm(20, generator=g)
    assert torch.allclose(epig(pool[perm_N], target), reference[perm_N], atol=1e-13)


def test_average_over_target_sets():
    pool = random_log_probs(10, 5, 3, seed=11)
    first, second = random_log_probs(3, 5, 3, seed=12), random_log_probs(5, 5, 3, seed=13)
    combined = epig(pool, torch.cat([first, second]))
    assert torch.allclose(
        combined, (3 * epig(pool, first) + 5 * epig(pool, second)) / 8, atol=1e-13
    )


def test_mismatched_samples_lose_information():
    # Sanity of the "same K draws" contract: shuffling the target's samples independently
    # of the pool's breaks the joint (here it must change the scores).
    pool = random_log_probs(10, 8, 3, seed=14)
    target = random_log_probs(6, 8, 3, seed=15)
    shuffled = target[:, torch.randperm(8, generator=torch.Generator().manual_seed(1))]
    assert not torch.allclose(epig(pool, shuffled), epig(pool, target), atol=1e-3)


@pytest.mark.parametrize("budget", [1, 9, 40, 10**7])
def test_chunking_does_not_change_scores(budget):
    pool = random_log_probs(13, 5, 3, seed=16)
    target = random_log_probs(7, 5, 3, seed=17)
    assert torch.allclose(epig(pool, target, chunk_budget=budget), epig(pool, target), atol=1e-13)


def test_float32_close_to_float64():
    pool = random_log_probs(50, 10, 5, seed=18)
    target = random_log_probs(20, 10, 5, seed=19)
    assert torch.allclose(epig(pool.float(), target.float()), epig(pool, target), atol=1e-5)


def test_bad_inputs_raise():
    pool = random_log_probs(4, 5, 3, seed=0)
    with pytest.raises(InvalidInputError, match="share K"):
        epig(pool, random_log_probs(2, 4, 3, seed=1))
    with pytest.raises(InvalidInputError, match="share K"):
        epig(pool, random_log_probs(2, 5, 2, seed=1))
    with pytest.raises(InvalidInputError, match="M = 0"):
        epig(pool, pool[:0])
    nan = pool.clone()
    nan[0, 0, 0] = math.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        epig(pool, nan)
    with pytest.raises(InvalidInputError, match=r"\[N, K, C\]"):
        epig(pool[0], pool)
    with pytest.raises(InvalidInputError, match="chunk_budget"):
        epig(pool, pool, chunk_budget=0)


def test_strategy():
    strategy = EPIGStrategy()
    assert isinstance(strategy, Strategy)
    assert strategy.name == "epig" and strategy.needs_target is True
    pool = random_log_probs(30, 6, 3, seed=20)
    target = random_log_probs(10, 6, 3, seed=21)
    selection = strategy.select(
        pool, 5, generator=torch.Generator().manual_seed(0), log_probs_target_M_K_C=target
    )
    scores = epig(pool, target)
    assert selection.indices_B.tolist() == torch.argsort(scores, descending=True)[:5].tolist()
    assert torch.equal(selection.scores_B, scores[selection.indices_B])
    with pytest.raises(InvalidInputError, match="log_probs_target_M_K_C"):
        strategy.select(pool, 5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InvalidInputError, match="larger than the pool"):
        strategy.select(
            pool, 31, generator=torch.Generator().manual_seed(0), log_probs_target_M_K_C=target
        )


def test_strategy_breaks_ties_with_the_generator():
    # K = 1: every score is 0, so the batch is a seeded uniform draw.
    pool = random_log_probs(50, 1, 3, seed=22)
    target = random_log_probs(5, 1, 3, seed=23)

    def pick(seed: int) -> list[int]:
        return (
            EPIGStrategy()
            .select(
                pool,
                5,
                generator=torch.Generator().manual_seed(seed),
                log_probs_target_M_K_C=target,
            )
            .indices_B.tolist()
        )

    assert pick(0) == pick(0)
    assert len({tuple(pick(seed)) for seed in range(5)}) > 1
    assert len(set(pick(1))) == 5


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
def test_stochastic_strategy_is_stochastic_batch_of_epig(mode):
    strategy = StochasticEPIGStrategy(mode, temperature=0.5)
    assert isinstance(strategy, Strategy)
    assert strategy.name == f"{mode}_epig" and strategy.needs_target is True
    pool = random_log_probs(30, 6, 3, seed=24)
    target = random_log_probs(10, 6, 3, seed=25)
    selection = strategy.select(
        pool, 6, generator=torch.Generator().manual_seed(3), log_probs_target_M_K_C=target
    )
    expected = stochastic_batch(
        epig(pool, target),
        6,
        mode=mode,
        temperature=0.5,
        generator=torch.Generator().manual_seed(3),
    )
    assert torch.equal(selection.indices_B, expected.indices_B)
    assert torch.equal(selection.scores_B, expected.scores_B)
    with pytest.raises(InvalidInputError, match="log_probs_target_M_K_C"):
        strategy.select(pool, 5, generator=torch.Generator().manual_seed(0))


def test_stochastic_strategy_bad_parameters():
    with pytest.raises(InvalidInputError, match="unknown stochastic mode 'top'"):
        StochasticEPIGStrategy("top")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="temperature"):
        StochasticEPIGStrategy("power", temperature=0.0)
    with pytest.raises(InvalidInputError, match="'softmax_epig': chunk_budget"):
        StochasticEPIGStrategy("softmax", chunk_budget=0)


def test_power_epig_spreads_a_batch_over_copies():
    # Three exact copies of 20 inputs: top-k takes every copy of the best inputs, while
    # power sampling draws without replacement in proportion to the score.
    base = random_log_probs(20, 8, 3, seed=26)
    pool = torch.cat([base, base, base])
    target = random_log_probs(15, 8, 3, seed=27)

    def distinct(strategy, seed: int) -> int:
        picked = strategy.select(
            pool, 9, generator=torch.Generator().manual_seed(seed), log_probs_target_M_K_C=target
        ).indices_B
        return len({i % 20 for i in picked.tolist()})

    assert distinct(EPIGStrategy(), 0) == 3
    power = [distinct(StochasticEPIGStrategy("power"), seed) for seed in range(20)]
    assert sum(power) / 20 > 5
    # EPIG is tiny in nats (here < 0.08), so softmax at temperature 1 is nearly uniform.
    softmax = [distinct(StochasticEPIGStrategy("softmax"), seed) for seed in range(20)]
    uniform = [
        len({i % 20 for i in torch.randperm(60, generator=torch.Generator().manual_seed(s))[:9]})
        for s in range(20)
    ]
    assert abs(sum(softmax) - sum(uniform)) / 20 < 1
