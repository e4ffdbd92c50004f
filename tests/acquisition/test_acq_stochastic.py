"""Stochastic batch acquisition (Kirsch et al. 2023): sampling law, limits, validation."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch

from bayesal.acquisition import STOCHASTIC_MODES, stochastic_batch, stochastic_log_weights, top_k
from bayesal.errors import InvalidInputError

SCORES = [0.05, 0.4, 0.1, 0.8, 0.25]  # distinct, positive: valid for every mode


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_weights(scores: list[float], mode: str, temperature: float) -> np.ndarray:
    """Normalised sampling weights, written out independently of the library."""
    beta = 1.0 / temperature
    s = np.asarray(scores, dtype=np.float64)
    if mode == "power":
        w = s**beta
    elif mode == "softmax":
        w = np.exp(beta * s)
    else:  # softrank: rank 1 = highest score
        ranks = np.array([1 + sum(other > x for other in scores) for x in scores])
        w = ranks.astype(np.float64) ** (-beta)
    return w / w.sum()


def _chi_square(counts: Counter, probabilities: dict, draws: int) -> float:
    return sum((counts[key] - draws * p) ** 2 / (draws * p) for key, p in probabilities.items())


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_first_pick_frequency_matches_normalised_weights(mode: str, temperature: float) -> None:
    draws = 3000
    generator = _gen(2023)
    scores = torch.tensor(SCORES)
    counts = Counter(
        stochastic_batch(
            scores, 1, mode=mode, temperature=temperature, generator=generator
        ).indices_B.item()
        for _ in range(draws)
    )
    probabilities = dict(enumerate(_reference_weights(SCORES, mode, temperature)))
    # 4 degrees of freedom; 18.47 is the 0.1% critical value. Fixed seed: deterministic.
    assert _chi_square(counts, probabilities, draws) < 18.47


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
def test_ordered_pairs_follow_sampling_without_replacement(mode: str) -> None:
    # P(first = i, second = j) = w_i / W * w_j / (W - w_i), enumerated by brute force.
    scores_list = SCORES[:4]
    w = _reference_weights(scores_list, mode, 1.0)
    probabilities = {
        (i, j): w[i] * w[j] / (1.0 - w[i]) for i, j in itertools.permutations(range(4), 2)
    }
    assert sum(probabilities.values()) == pytest.approx(1.0)
    draws = 3000
    generator = _gen(7)
    scores = torch.tensor(scores_list)
    counts = Counter(
        tuple(stochastic_batch(scores, 2, mode=mode, generator=generator).indices_B.tolist())
        for _ in range(draws)
    )
    assert set(counts) <= set(probabilities)
    assert _chi_square(counts, probabilities, draws) < 31.26  # 11 dof, 0.1%


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
def test_seeded_runs_repeat_and_indices_are_distinct(mode: str) -> None:
    scores = torch.rand(50, generator=_gen(0))
    first = stochastic_batch(scores, 20, mode=mode, generator=_gen(1))
    again = stochastic_batch(scores, 20, mode=mode, generator=_gen(1))
    other = stochastic_batch(scores, 20, mode=mode, generator=_gen(2))
    assert torch.equal(first.indices_B, again.indices_B)
    assert not torch.equal(first.indices_B, other.indices_B)
    assert len(set(first.indices_B.tolist())) == 20
    assert first.indices_B.dtype == torch.int64
    assert torch.equal(first.scores_B, scores[first.indices_B])


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
def test_zero_temperature_limit_is_top_k(mode: str) -> None:
    scores = torch.rand(30, generator=_gen(4)) + 0.01
    expected = top_k(scores, 10, generator=_gen(0)).indices_B
    for seed in range(5):
        got = stochastic_batch(scores, 10, mode=mode, temperature=1e-6, generator=_gen(seed))
        assert torch.equal(got.indices_B, expected)


@pytest.mark.parametrize("mode", STOCHASTIC_MODES)
def test_high_temperature_is_nearly_uniform(mode: str) -> None:
    scores = torch.tensor(SCORES)
    generator = _gen(11)
    draws = 2000
    counts = Counter(
        stochastic_batch(
            scores, 1, mode=mode, temperature=1e6, generator=generator
        ).indices_B.item()
        for _ in range(draws)
    )
    assert _chi_square(counts, {i: 0.2 for i in range(5)}, draws) < 18.47


def test_batch_of_whole_pool_is_a_permutation() -> None:
    scores = torch.tensor(SCORES)
    picked = stochastic_batch(scores, 5, mode="softmax", generator=_gen(0)).indices_B
    assert sorted(picked.tolist()) == [0, 1, 2, 3, 4]


def test_power_zero_scores_are_picked_last_and_at_random() -> None:
    scores = torch.tensor([0.0, 0.0, 1.0, 2.0])
    thirds = set()
    for seed in range(40):
        picked = stochastic_batch(scores, 3, mode="power", generator=_gen(seed)).indices_B
        assert set(picked[:2].tolist()) == {2, 3}
        thirds.add(picked[2].item())
    assert thirds == {0, 1}


def test_power_rejects_negative_scores_and_suggests_other_modes() -> None:
    with pytest.raises(InvalidInputError, match=r"non-negative.*-0\.3.*softmax.*softrank"):
        stochastic_batch(torch.tensor([0.1, -0.3]), 1, mode="power", generator=_gen(0))


def test_softrank_ties_share_a_rank() -> None:
    log_w = stochastic_log_weights(torch.tensor([3.0, 1.0, 3.0, 2.0]), mode="softrank")
    ranks = [1, 4, 1, 3]  # competition ranking: 1 + number of strictly greater scores
    assert log_w.tolist() == pytest.approx([-math.log(r) for r in ranks])


def test_log_weights_by_hand() -> None:
    scores = torch.tensor([0.5, 2.0])
    assert stochastic_log_weights(scores, mode="power", temperature=0.5).tolist() == (
        pytest.approx([2 * math.log(0.5), 2 * math.log(2.0)])
    )
    assert stochastic_log_weights(scores, mode="softmax", temperature=2.0).tolist() == (
        pytest.approx([0.25, 1.0])
    )


def test_global_rng_is_untouched() -> None:
    torch.manual_seed(5)
    state = torch.get_rng_state()
    stochastic_batch(torch.tensor(SCORES), 2, mode="softrank", generator=_gen(0))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf, 1e-320, True, "1"])
def test_bad_temperature(temperature: object) -> None:
    with pytest.raises(InvalidInputError, match="temperature"):
        stochastic_batch(
            torch.tensor(SCORES),
            1,
            mode="softmax",
            temperature=temperature,  # type: ignore[arg-type]
            generator=_gen(0),
        )


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"mode": "gumbel"}, "unknown stochastic mode 'gumbel'; choose one of power"),
        ({"mode": "softmax", "k": 6}, "batch size 6 is larger than the pool size 5"),
        ({"mode": "softmax", "k": 0}, "at least 1"),
        ({"mode": "softmax", "generator": None}, "stochastic_batch needs an explicit"),
    ],
)
def test_validation(kwargs: dict, pattern: str) -> None:
    arguments = {"k": 1, "generator": _gen(0), **kwargs}
    k = arguments.pop("k")
    with pytest.raises(InvalidInputError, match=pattern):
        stochastic_batch(torch.tensor(SCORES), k, **arguments)


def test_nan_scores_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        stochastic_batch(torch.tensor([0.1, math.nan]), 1, mode="softrank", generator=_gen(0))
