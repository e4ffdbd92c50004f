"""BatchBALD against brute-force enumeration, plus its properties and input errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from bayesal.acquisition.base import Strategy
from bayesal.acquisition.batchbald import (
    BatchBALDStrategy,
    _exact_configurations,
    _Particles,
    _Step,
    batchbald,
    exact_joint_entropy,
    sampled_joint_entropy,
)
from bayesal.errors import InvalidInputError


def random_log_probs(N: int, K: int, C: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Points that differ: a per-point mean logit and a per-point spread across samples."""
    g = torch.Generator().manual_seed(seed)
    mean_N_1_C = 2.0 * torch.randn(N, 1, C, generator=g, dtype=torch.float64)
    scale_N_1_1 = 0.3 + 3.0 * torch.rand(N, 1, 1, generator=g, dtype=torch.float64)
    noise_N_K_C = torch.randn(N, K, C, generator=g, dtype=torch.float64)
    return torch.log_softmax(mean_N_1_C + scale_N_1_1 * noise_N_K_C, dim=-1).to(dtype)


# --- brute force, written independently of the implementation -------------------------


def brute_joint_entropy(log_probs_B_K_C: torch.Tensor) -> float:
    """-Σ_y p(y) log p(y) over all C^B label tuples, p(y) = mean_k Π_i p_k(y_i)."""
    B, K, C = log_probs_B_K_C.shape
    probs = log_probs_B_K_C.exp().tolist()
    total = 0.0
    for labels in itertools.product(range(C), repeat=B):
        p = sum(math.prod(probs[i][k][y] for i, y in enumerate(labels)) for k in range(K)) / K
        if p > 0:
            total -= p * math.log(p)
    return total


def brute_expected_entropy(log_probs_K_C: torch.Tensor) -> float:
    probs = log_probs_K_C.exp().tolist()
    return -sum(p * math.log(p) for row in probs for p in row if p > 0) / len(probs)


def brute_joint_mi(log_probs_N_K_C: torch.Tensor, batch: list[int]) -> float:
    return brute_joint_entropy(log_probs_N_K_C[batch]) - sum(
        brute_expected_entropy(log_probs_N_K_C[i]) for i in batch
    )


def brute_greedy(log_probs_N_K_C: torch.Tensor, batch_size: int) -> tuple[list[int], list[float]]:
    """Greedy search that scores every candidate by its full joint MI (ties: lowest index)."""
    chosen: list[int] = []
    scores: list[float] = []
    for _ in range(batch_size):
        best, best_score = -1, -math.inf
        for n in range(log_probs_N_K_C.shape[0]):
            if n in chosen:
                continue
            score = brute_joint_mi(log_probs_N_K_C, chosen + [n])
            if score > best_score:
                best, best_score = n, score
        chosen.append(best)
        scores.append(best_score)
    return chosen, scores


def brute_bald(log_probs_N_K_C: torch.Tensor) -> torch.Tensor:
    probs = log_probs_N_K_C.exp()
    mean = probs.mean(dim=1)
    predictive = -(mean * mean.log()).sum(dim=-1)
    expected = -(probs * log_probs_N_K_C).sum(dim=-1).mean(dim=1)
    return predictive - expected


# --- exact and sampled joint entropy ---------------------------------------------------


@pytest.mark.parametrize("B,K,C", [(1, 3, 4), (2, 5, 3), (3, 4, 3), (4, 2, 2)])
def test_exact_joint_entropy_matches_enumeration(B, K, C):
    log_probs = random_log_probs(B, K, C, seed=B * 100 + K)
    assert float(exact_joint_entropy(log_probs)) == pytest.approx(
        brute_joint_entropy(log_probs), abs=1e-12
    )


def test_exact_joint_entropy_with_impossible_labels():
    log_probs = random_log_probs(3, 4, 3, seed=1)
    # Class 2 of point 0 has probability 0 under every sample; class 0 of point 1 under one.
    log_probs[0, :, 2] = -math.inf
    log_probs[0] = torch.log_softmax(log_probs[0], dim=-1)
    log_probs[1, 0, 0] = -math.inf
    log_probs[1] = torch.log_softmax(log_probs[1], dim=-1)
    value = float(exact_joint_entropy(log_probs))
    assert math.isfinite(value)
    assert value == pytest.approx(brute_joint_entropy(log_probs), abs=1e-12)


def test_joint_entropy_of_one_label_is_predictive_entropy():
    log_probs = random_log_probs(1, 6, 5, seed=3)
    mean = log_probs.exp().mean(dim=1)[0]
    assert float(exact_joint_entropy(log_probs)) == pytest.approx(
        float(-(mean * mean.log()).sum()), abs=1e-12
    )


def _exact_standard_error(log_probs_B_K_C: torch.Tensor, num_samples: int) -> float:
    """sqrt(Var[-log p(Y)] / M) under the joint predictive, by enumeration."""
    configs = _exact_configurations(log_probs_B_K_C)
    K = log_probs_B_K_C.shape[1]
    surprise_U = -(torch.logsumexp(configs.log_joint_U_K, dim=1) - math.log(K))
    mean = (configs.weights_U * surprise_U).sum()
    variance = (configs.weights_U * (surprise_U - mean) ** 2).sum()
    return math.sqrt(float(variance) / num_samples)


def test_sampled_joint_entropy_close_to_exact():
    # 3^6 = 729 configurations: exact is cheap, and sampling has real error to bound.
    log_probs = random_log_probs(6, 10, 3, seed=5)
    exact = float(exact_joint_entropy(log_probs))
    M = 20_000
    # Ancestral sampling is unbiased with standard error sqrt(Var[-log p(Y)] / M) (stratifying
    # k only lowers it), so 4 standard errors fail with probability < 1e-4 for a fresh seed.
    tolerance = 4 * _exact_standard_error(log_probs, M)
    for seed in range(3):
        estimate = float(
            sampled_joint_entropy(log_probs, M, generator=torch.Generator().manual_seed(seed))
        )
        assert abs(estimate - exact) < tolerance, (seed, estimate, exact, tolerance)
    assert 0.005 < tolerance < 0.05  # the check is neither vacuous nor impossible


def test_particles_are_ancestral_samples():
    # Marginal label frequencies of one point equal its mean predictive p̄(c).
    log_probs = random_log_probs(1, 7, 4, seed=9)
    particles = _Particles(70_000, 7, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(torch.bincount(particles.k_M, minlength=7), torch.full((7,), 10_000))
    particles.append(log_probs[0])
    frequency_C = torch.bincount(particles.labels_M_B[:, 0], minlength=4).double() / 70_000
    mean_C = log_probs.exp().mean(dim=1)[0]
    # Binomial standard error of a frequency is <= 0.5 / sqrt(M) ~ 0.0019.
    assert torch.allclose(frequency_C, mean_C, atol=0.01)


def test_particles_never_draw_impossible_labels():
    log_probs = torch.log(torch.tensor([[[0.0, 0.5, 0.5], [0.3, 0.0, 0.7]]], dtype=torch.float64))
    particles = _Particles(5_000, 2, torch.Generator().manual_seed(0), torch.device("cpu"))
    particles.append(log_probs[0])
    labels = particles.labels_M_B[:, 0]
    assert not bool(((particles.k_M == 0) & (labels == 0)).any())
    assert not bool(((particles.k_M == 1) & (labels == 1)).any())


# --- greedy selection -----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("prune", [True, False])
def test_picks_equal_brute_force_greedy(seed, prune):
    log_probs = random_log_probs(8, 5, 3, seed=seed)
    expected_indices, expected_scores = brute_greedy(log_probs, 4)
    selection = batchbald(log_probs, 4, prune=prune)
    assert selection.indices_B.tolist() == expected_indices
    assert selection.scores_B.tolist() == pytest.approx(expected_scores, abs=1e-10)


def test_picks_equal_brute_force_greedy_float32():
    log_probs = random_log_probs(9, 6, 3, seed=11)
    expected_indices, expected_scores = brute_greedy(log_probs, 4)
    selection = batchbald(log_probs.float(), 4)
    assert selection.indices_B.tolist() == expected_indices
    assert selection.scores_B.tolist() == pytest.approx(expected_scores, abs=1e-5)


def test_batch_of_one_is_bald_argmax():
    log_probs = random_log_probs(50, 8, 4, seed=2)
    bald_N = brute_bald(log_probs)
    selection = batchbald(log_probs, 1)
    assert selection.indices_B.tolist() == [int(bald_N.argmax())]
    assert float(selection.scores_B[0]) == pytest.approx(float(bald_N.max()), abs=1e-12)


def test_scores_are_joint_mi_of_the_batch_so_far():
    log_probs = random_log_probs(12, 4, 3, seed=4)
    selection = batchbald(log_probs, 5)
    picks = selection.indices_B.tolist()
    for b in range(5):
        expected = brute_joint_mi(log_probs, picks[: b + 1])
        assert float(selection.scores_B[b]) == pytest.approx(expected, abs=1e-10)
    scores = selection.scores_B
    assert bool((scores[1:] >= scores[:-1] - 1e-12).all())  # MI never decreases
    assert 0.0 <= float(scores[0]) and float(scores[-1]) <= math.log(4) + 1e-12


@pytest.mark.parametrize("K", [1, 4])
def test_whole_pool_gives_distinct_picks(K):
    log_probs = random_log_probs(7, K, 2, seed=K)
    selection = batchbald(log_probs, 7)
    assert sorted(selection.indices_B.tolist()) == list(range(7))


def test_single_sample_has_zero_gains_and_deterministic_picks():
    log_probs = random_log_probs(10, 1, 3, seed=0)
    selection = batchbald(log_probs, 4)
    assert selection.indices_B.tolist() == [0, 1, 2, 3]
    assert selection.scores_B.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_identical_points_tie_to_lowest_index():
    one = random_log_probs(1, 5, 3, seed=6)
    log_probs = one.expand(6, 5, 3).clone()
    # Every point is the same: at every step all gains tie exactly.
    assert batchbald(log_probs, 3).indices_B.tolist() == [0, 1, 2]


def test_permuting_the_pool_permutes_the_picks():
    log_probs = random_log_probs(30, 6, 3, seed=8)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    original = batchbald(log_probs, 5)
    permuted = batchbald(log_probs[perm], 5)
    assert perm[permuted.indices_B].tolist() == original.indices_B.tolist()
    assert torch.allclose(permuted.scores_B, original.scores_B, atol=1e-12)


def test_chunk_budget_does_not_change_the_result():
    log_probs = random_log_probs(40, 6, 3, seed=10)
    reference = batchbald(log_probs, 5)
    for budget in (1, 50, 10**6):
        selection = batchbald(log_probs, 5, chunk_budget=budget)
        assert selection.indices_B.tolist() == reference.indices_B.tolist()
        assert torch.allclose(selection.scores_B, reference.scores_B, atol=1e-12)


# --- sampled regime --------------------------------------------------------------------


def _sampled(log_probs, seed, **kwargs):
    # exact_budget = K * C: only the first two steps are exact; the rest is sampled.
    K, C = log_probs.shape[1:]
    return batchbald(
        log_probs,
        6,
        num_samples=kwargs.pop("num_samples", 4_000),
        generator=torch.Generator().manual_seed(seed),
        exact_budget=K * C,
        **kwargs,
    )


def test_seeded_sampled_runs_repeat_exactly():
    log_probs = random_log_probs(60, 10, 4, seed=12)
    first, second = _sampled(log_probs, 3), _sampled(log_probs, 3)
    assert torch.equal(first.indices_B, second.indices_B)
    assert torch.equal(first.scores_B, second.scores_B)
    assert len(set(first.indices_B.tolist())) == 6


@pytest.mark.parametrize("seed,exact_steps", [(0, 1), (1, 1), (0, 6)])
def test_pruning_gives_the_same_batch_as_evaluating_every_candidate(seed, exact_steps):
    # The bounds are certified for the sampled estimate as for the exact value, so pruning
    # never changes a pick. Large enough that the pooled-table bounds are used, with near
    # ties late in the batch (this case fails if either bound is off by 0.001 nats).
    log_probs = random_log_probs(300, 10, 3, seed=seed)
    kwargs = dict(
        num_samples=3_000,
        generator=torch.Generator().manual_seed(seed),
        exact_budget=10 * 3**exact_steps,
    )
    pruned = batchbald(log_probs, 8, prune=True, **kwargs)
    kwargs["generator"] = torch.Generator().manual_seed(seed)
    full = batchbald(log_probs, 8, prune=False, **kwargs)
    assert pruned.indices_B.tolist() == full.indices_B.tolist()
    assert torch.allclose(pruned.scores_B, full.scores_B, atol=1e-9)


def test_pruning_skips_most_candidates():
    log_probs = random_log_probs(300, 10, 3, seed=0)
    step = _Step(log_probs, chunk_budget=2**20, prune=True)
    configs = _exact_configurations(log_probs[:6])
    previous_N = torch.full((300,), math.inf, dtype=torch.float64)
    previous_N[:6] = -math.inf
    gains_N, evaluated_E = step.run(configs, previous_N, previous_are_bounds=False)
    assert len(evaluated_E) < 100
    exact = step.exact_gains(
        configs.posterior(torch.float64), configs.weights_U[None], torch.arange(6, 300)
    )
    assert torch.allclose(gains_N[evaluated_E], exact[evaluated_E - 6], atol=1e-12)
    assert int(evaluated_E[gains_N[evaluated_E].argmax()]) == int(exact.argmax()) + 6


def test_previous_gains_only_order_the_search_when_they_are_not_bounds():
    # Sampled estimates need not shrink step to step, so stale values must not prune.
    log_probs = random_log_probs(120, 8, 3, seed=3)
    step = _Step(log_probs, chunk_budget=2**20, prune=True)
    configs = _exact_configurations(log_probs[:3])
    exact = step.exact_gains(
        configs.posterior(torch.float64), configs.weights_U[None], torch.arange(3, 120)
    )
    misleading_N = torch.cat([torch.full((3,), -math.inf), -exact.to(torch.float64)])
    gains_N, evaluated_E = step.run(configs, misleading_N, previous_are_bounds=False)
    winner = int(evaluated_E[gains_N[evaluated_E].argmax()])
    assert winner == int(exact.argmax()) + 3


def test_pruning_bounds_hold():
    log_probs = random_log_probs(50, 8, 3, seed=13, dtype=torch.float64)
    step = _Step(log_probs, chunk_budget=2**16, prune=True)
    particles = _Particles(3_000, 8, torch.Generator().manual_seed(0), torch.device("cpu"))
    for i in range(4):
        particles.append(log_probs[i])
    configs = particles.configurations(log_probs[:4])
    posterior = configs.posterior(torch.float64)
    candidates = torch.arange(4, 50)
    exact = step.exact_gains(posterior, configs.weights_U[None], candidates)
    for head in (0, 10, 100):
        upper, lower = step.bounds(configs, head, candidates)
        assert bool((upper >= exact - 1e-12).all()) and bool((lower <= exact + 1e-12).all())
    # With every configuration on its own, both bounds are the exact value.
    upper, lower = step.bounds(configs, len(configs.weights_U), candidates)
    assert torch.allclose(upper, exact, atol=1e-12) and torch.allclose(lower, exact, atol=1e-12)


def test_sampled_scores_close_to_exact_joint_mi():
    log_probs = random_log_probs(40, 8, 3, seed=14)
    M = 20_000
    selection = _sampled(log_probs, 0, num_samples=M)
    picks = selection.indices_B.tolist()
    # Each sampled step estimates E_u H[q_u] with H in [0, log C]: by Popoviciu's inequality
    # its standard error is at most (log C / 2) / sqrt(M). Steps 3..6 are sampled; allow 4
    # standard errors per step, accumulated along the chain rule.
    per_step = 4 * (math.log(3) / 2) / math.sqrt(M)
    for b in range(6):
        tolerance = 1e-10 + per_step * max(0, b - 1)
        expected = brute_joint_mi(log_probs, picks[: b + 1])
        assert abs(float(selection.scores_B[b]) - expected) < tolerance, (b, tolerance)


def test_sampled_picks_match_exact_picks_when_gaps_are_clear():
    log_probs = random_log_probs(20, 8, 3, seed=14)
    M = 50_000
    exact = batchbald(log_probs, 4)
    # The runner-up gap of every exact step must exceed twice the sampling error of a gain
    # (4 standard errors, each <= (log C / 2) / sqrt(M) ~ 0.0025): then the picks agree.
    for b in range(1, 4):
        chosen = exact.indices_B[:b].tolist()
        values = sorted(
            (brute_joint_mi(log_probs, chosen + [n]) for n in range(20) if n not in chosen),
            reverse=True,
        )
        assert values[0] - values[1] > 2 * 4 * (math.log(3) / 2) / math.sqrt(M)
    for seed in range(2):
        sampled = batchbald(
            log_probs,
            4,
            num_samples=M,
            generator=torch.Generator().manual_seed(seed),
            exact_budget=8 * 3,
        )
        assert sampled.indices_B.tolist() == exact.indices_B.tolist()


# --- errors and the strategy --------------------------------------------------------------


def test_bad_inputs_raise():
    log_probs = random_log_probs(5, 3, 2, seed=0)
    with pytest.raises(InvalidInputError, match="larger than the pool"):
        batchbald(log_probs, 6)
    with pytest.raises(InvalidInputError, match="at least 1"):
        batchbald(log_probs, 0)
    with pytest.raises(InvalidInputError, match=r"\[N, K, C\]"):
        batchbald(log_probs[0], 1)
    nan = log_probs.clone()
    nan[2, 1, 0] = math.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        batchbald(nan, 2)
    with pytest.raises(InvalidInputError, match="normalised"):
        batchbald(log_probs.exp(), 2)
    with pytest.raises(InvalidInputError, match="generator"):
        batchbald(log_probs, 4, exact_budget=3)
    with pytest.raises(InvalidInputError, match="num_samples"):
        batchbald(log_probs, 2, num_samples=0)
    with pytest.raises(InvalidInputError, match="exact_budget"):
        batchbald(log_probs, 2, exact_budget=-1)
    with pytest.raises(InvalidInputError, match="generator"):
        batchbald(log_probs, 2, generator=0)  # type: ignore[arg-type]


def test_strategy_matches_function_and_protocol():
    strategy = BatchBALDStrategy(num_samples=2_000, exact_budget=20)
    assert isinstance(strategy, Strategy)
    assert strategy.name == "batchbald" and strategy.needs_target is False
    log_probs = random_log_probs(30, 5, 4, seed=15)
    target = random_log_probs(3, 5, 4, seed=16)
    selection = strategy.select(
        log_probs, 4, generator=torch.Generator().manual_seed(7), log_probs_target_M_K_C=target
    )
    expected = batchbald(
        log_probs,
        4,
        num_samples=2_000,
        exact_budget=20,
        generator=torch.Generator().manual_seed(7),
    )
    assert torch.equal(selection.indices_B, expected.indices_B)
    assert torch.equal(selection.scores_B, expected.scores_B)
    with pytest.raises(InvalidInputError, match="generator"):
        strategy.select(log_probs, 2, generator=None)  # type: ignore[arg-type]
