"""ProbCover, the purity radius, coverage and the budget-aware strategy, against brute
force on tiny inputs."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from bayesal.acquisition import get_strategy
from bayesal.acquisition.coverage import coverage, probcover, purity_radius
from bayesal.acquisition.embedding import _random_rank, kmeans
from bayesal.errors import InvalidInputError


def _points(n: int = 40, d: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _brute_probcover(
    pool: torch.Tensor, labelled: torch.Tensor, delta: float, b: int, rank: list[int]
) -> list[int]:
    """Greedy max coverage written out loop by loop; ties go to the higher ``rank``."""
    n = len(pool)
    dist = torch.cdist(pool, pool)
    covered = [any(float(torch.dist(p, q)) <= delta for q in labelled) for p in pool]
    picks: list[int] = []
    for _ in range(b):
        degree = {
            i: sum(1 for j in range(n) if dist[i, j] <= delta and not covered[j])
            for i in range(n)
            if i not in picks
        }
        best = max(degree.values())
        pick = max((i for i, v in degree.items() if v == best), key=lambda i: rank[i])
        picks.append(pick)
        for j in range(n):
            if dist[pick, j] <= delta:
                covered[j] = True
    return picks


def test_probcover_equals_brute_force_greedy_coverage() -> None:
    pool = _points(30)
    labelled = _points(2, seed=1)
    delta = 0.9
    # probcover's tie-breaking order: the generator's first draw (a random rank).
    rank = _random_rank(30, torch.Generator().manual_seed(0), torch.device("cpu")).tolist()
    expected = _brute_probcover(pool, labelled, delta, 6, rank)
    got = probcover(
        pool,
        6,
        generator=torch.Generator().manual_seed(0),
        labelled_embeddings_L_D=labelled,
        delta=delta,
    )
    assert got.indices_B.tolist() == expected


def test_probcover_batch_of_one_is_the_first_pick_and_scores_count_new_cover() -> None:
    pool = _points(30)
    whole = probcover(pool, 4, generator=torch.Generator().manual_seed(0), delta=0.9)
    one = probcover(pool, 1, generator=torch.Generator().manual_seed(0), delta=0.9)
    assert one.indices_B.tolist() == whole.indices_B[:1].tolist()
    assert (whole.scores_B[:-1] >= whole.scores_B[1:]).all()  # greedy: coverage gains fall
    assert len(set(whole.indices_B.tolist())) == 4


def test_probcover_picks_one_point_per_separated_cluster_first() -> None:
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    pool = torch.cat([c + 0.3 * _points(20, seed=i) for i, c in enumerate(centres)])
    picks = probcover(pool, 3, generator=torch.Generator().manual_seed(0), delta=2.0)
    assert sorted(int(i) // 20 for i in picks.indices_B) == [0, 1, 2]


def test_purity_radius_is_the_largest_radius_with_the_required_share_of_pure_balls() -> None:
    points = _points(40)
    delta = purity_radius(points, 3, generator=torch.Generator().manual_seed(5), purity=0.9)
    labels = kmeans(points, 3, generator=torch.Generator().manual_seed(5)).assignments_M
    dist = torch.cdist(points, points)

    def share_pure(r: float) -> float:
        return (
            sum(
                all(labels[j] == labels[i] for j in range(40) if dist[i, j] <= r) for i in range(40)
            )
            / 40
        )

    # The quantile sits on a point's own distance: balls of radius just below are pure.
    assert share_pure(delta * (1 - 1e-9)) >= 0.9
    assert (
        share_pure(delta * 1.05) < share_pure(delta * (1 - 1e-9)) or share_pure(delta * 1.05) < 0.9
    )


def test_coverage_counts_pool_points_within_the_radius() -> None:
    pool = _points(25)
    labelled = _points(3, seed=2)
    expected = sum(any(float(torch.dist(p, q)) <= 0.7 for q in labelled) for p in pool) / 25
    assert coverage(pool, labelled, 0.7) == pytest.approx(expected)
    assert coverage(pool, labelled[:0], 0.7) == 0.0


def test_budget_aware_is_probcover_before_the_switch_and_bald_after() -> None:
    pool = _points(60)
    log_probs = torch.log_softmax(
        torch.randn(60, 5, 3, generator=torch.Generator().manual_seed(3)), -1
    )
    kwargs = {"embeddings_N_D": pool}
    early = get_strategy("budget_aware", switch_coverage=1.0)
    late = get_strategy("budget_aware", switch_coverage=1e-9)
    labelled = pool[:2] + 1e-3
    got_early = early.select(
        log_probs,
        3,
        generator=torch.Generator().manual_seed(0),
        labelled_embeddings_L_D=labelled,
        **kwargs,
    )
    got_late = late.select(
        log_probs,
        3,
        generator=torch.Generator().manual_seed(0),
        labelled_embeddings_L_D=labelled,
        **kwargs,
    )
    probcover_pick = get_strategy("probcover", num_clusters=3).select(
        log_probs,
        3,
        generator=torch.Generator().manual_seed(0),
        labelled_embeddings_L_D=labelled,
        **kwargs,
    )
    bald = get_strategy("bald").select(log_probs, 3, generator=torch.Generator().manual_seed(0))
    assert got_early.indices_B.tolist() == probcover_pick.indices_B.tolist()
    assert got_late.indices_B.tolist() == bald.indices_B.tolist()


def test_budget_aware_refuses_a_late_strategy_that_needs_more_than_log_probs() -> None:
    for late in ("epig", "typiclust", "no_such"):
        with pytest.raises(InvalidInputError, match="late must name"):
            get_strategy("budget_aware", late=late)
    with pytest.raises(InvalidInputError, match="switch_coverage"):
        get_strategy("budget_aware", switch_coverage=0)


@pytest.mark.parametrize("name", ["probcover", "budget_aware"])
def test_coverage_strategies_need_embeddings(name: str) -> None:
    log_probs = torch.log_softmax(torch.randn(10, 2, 3), -1)
    with pytest.raises(InvalidInputError, match="embeddings_N_D"):
        get_strategy(name).select(log_probs, 2, generator=torch.Generator().manual_seed(0))


def test_probcover_is_seeded() -> None:
    pool = _points(50)
    runs = [
        probcover(pool, 5, generator=torch.Generator().manual_seed(s)).indices_B.tolist()
        for s in (1, 1)
    ]
    assert runs[0] == runs[1]
    assert not math.isnan(float(purity_radius(pool, 2, generator=torch.Generator())))
    assert list(itertools.chain(runs[0]))  # five picks
