"""top_k: order, seeded random tie-breaking, validation."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from bayesal.acquisition import Selection, top_k
from bayesal.errors import InvalidInputError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_matches_brute_force_on_distinct_scores() -> None:
    values = [0.3, -1.0, 2.5, 0.0, 7.0, 0.31, -0.2]
    brute = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
    scores = torch.tensor(values, dtype=torch.float64)
    for k in range(1, len(values) + 1):
        selection = top_k(scores, k, generator=_gen(0))
        assert isinstance(selection, Selection)
        assert selection.indices_B.tolist() == brute[:k]
        assert selection.scores_B.tolist() == [values[i] for i in brute[:k]]
        assert selection.indices_B.dtype == torch.int64


def test_infinite_scores_rank_first_and_last() -> None:
    scores = torch.tensor([0.0, math.inf, -math.inf, 1.0])
    assert top_k(scores, 4, generator=_gen(0)).indices_B.tolist() == [1, 3, 0, 2]


def test_ties_are_broken_uniformly_at_random_not_by_position() -> None:
    # Position 0 is the unique best; positions 1, 2, 3 tie for second place.
    scores = torch.tensor([1.0, 0.5, 0.5, 0.5, 0.0])
    seconds = Counter()
    for seed in range(600):
        picked = top_k(scores, 2, generator=_gen(seed)).indices_B.tolist()
        assert picked[0] == 0
        seconds[picked[1]] += 1
    assert set(seconds) == {1, 2, 3}
    # Each tied position expects 200 of 600; chi-square with 2 dof, 0.1% critical 13.8.
    chi2 = sum((seconds[i] - 200) ** 2 / 200 for i in (1, 2, 3))
    assert chi2 < 13.8


def test_all_equal_scores_give_a_uniformly_random_batch() -> None:
    scores = torch.zeros(4)
    firsts = Counter(top_k(scores, 1, generator=_gen(s)).indices_B.item() for s in range(800))
    chi2 = sum((firsts[i] - 200) ** 2 / 200 for i in range(4))
    assert chi2 < 16.3  # 3 dof, 0.1%


def test_seeded_runs_repeat_and_global_rng_is_untouched() -> None:
    scores = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    torch.manual_seed(99)
    state = torch.get_rng_state()
    first = top_k(scores, 3, generator=_gen(5)).indices_B
    assert torch.equal(first, top_k(scores, 3, generator=_gen(5)).indices_B)
    assert torch.equal(torch.get_rng_state(), state)
    outcomes = {tuple(top_k(scores, 3, generator=_gen(s)).indices_B.tolist()) for s in range(20)}
    assert len(outcomes) > 1


def test_k_equal_to_pool_returns_a_permutation() -> None:
    scores = torch.tensor([0.2, 0.9, 0.1])
    assert sorted(top_k(scores, 3, generator=_gen(0)).indices_B.tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("scores", "k", "pattern"),
    [
        (torch.zeros(2, 3), 1, r"shape \[N\].*\[2, 3\]"),
        (torch.tensor([0.1, math.nan]), 1, r"NaN at position\(s\) \[1\]"),
        (torch.tensor([1, 2, 3]), 1, "floating-point"),
        ([0.1, 0.2], 1, "torch.Tensor"),
        (torch.zeros(3), 0, "at least 1, got 0"),
        (torch.zeros(3), 4, "batch size 4 is larger than the pool size 3"),
        (torch.zeros(0), 1, "batch size 1 is larger than the pool size 0"),
    ],
)
def test_validation(scores: object, k: int, pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        top_k(scores, k, generator=_gen(0))  # type: ignore[arg-type]


def test_generator_is_required() -> None:
    with pytest.raises(InvalidInputError, match="top_k needs an explicit torch.Generator"):
        top_k(torch.zeros(3), 1, generator=None)  # type: ignore[arg-type]
