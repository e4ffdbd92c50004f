"""Embedding strategies (BADGE, coreset, TypiClust) against brute force on tiny inputs.

Brute force means explicit objects and loops: BADGE's gradient embeddings as explicit
``C x D`` outer products, coreset's distances as an explicit distance matrix, typicality
by sorting each point's distances to all others. The random draws are replayed from the
same seed in the order the docstrings state.
"""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from bayesal.acquisition import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    BADGEStrategy,
    CoresetStrategy,
    KMeansResult,
    TypiClustStrategy,
    badge,
    coreset,
    get_strategy,
    is_pointwise,
    kmeans,
    strategy_inputs,
    typicality,
    typiclust,
)
from bayesal.errors import InvalidInputError

Tensor = torch.Tensor


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _log_probs(N: int = 10, K: int = 4, C: int = 3, seed: int = 0) -> Tensor:
    logits = 2.0 * torch.randn(N, K, C, generator=_gen(seed), dtype=torch.float64)
    return torch.log_softmax(logits, dim=-1)


def _points(N: int = 10, D: int = 3, seed: int = 1) -> Tensor:
    return torch.randn(N, D, generator=_gen(seed), dtype=torch.float64)


def _blobs(sizes: list[int], D: int = 2, spread: float = 0.3, seed: int = 2) -> Tensor:
    """Blobs of the given sizes around well-separated centres (10 apart)."""
    g = _gen(seed)
    parts = []
    for b, size in enumerate(sizes):
        centre = torch.zeros(D, dtype=torch.float64)
        centre[0] = 10.0 * b
        parts.append(centre + spread * torch.randn(size, D, generator=g, dtype=torch.float64))
    return torch.cat(parts)


def _inverse_cdf(weights: list[float], u: float) -> int:
    """The first n with cumulative weight > u * total (the documented sampling rule)."""
    total = sum(weights)
    cumulative = 0.0
    for n, w in enumerate(weights):
        cumulative += w
        if cumulative > u * total:
            return n
    return max(n for n, w in enumerate(weights) if w > 0)


# ------------------------------------------------------------------------------- BADGE


def _explicit_gradient_embeddings(log_probs: Tensor, embeddings: Tensor) -> list[Tensor]:
    """g_n = (p̄_n - onehot(argmax p̄_n)) ⊗ h_n, flattened to C * D, one by one."""
    N, _, C = log_probs.shape
    out = []
    for n in range(N):
        p = log_probs[n].exp().mean(dim=0)  # mean over K in probability space
        onehot = torch.zeros(C, dtype=torch.float64)
        onehot[int(p.argmax())] = 1.0
        out.append(torch.outer(p - onehot, embeddings[n]).flatten())
    return out


def _badge_brute(log_probs: Tensor, embeddings: Tensor, B: int, seed: int):
    g = _gen(seed)
    N = log_probs.shape[0]
    grads = _explicit_gradient_embeddings(log_probs, embeddings)
    torch.randperm(N, generator=g)  # the tie order, drawn first
    norms = [float(v.norm()) for v in grads]
    first = max(range(N), key=lambda n: norms[n])
    chosen, scores = [first], [norms[first]]
    for _ in range(1, B):
        distances = [
            0.0 if n in chosen else min(float((grads[n] - grads[c]).norm()) for c in chosen)
            for n in range(N)
        ]
        u = float(torch.rand((), generator=g, dtype=torch.float64))
        pick = _inverse_cdf([d * d for d in distances], u)
        chosen.append(pick)
        scores.append(distances[pick])
    return chosen, scores


@pytest.mark.parametrize(
    ("N", "K", "C", "D", "B", "seed"), [(8, 1, 3, 2, 4, 0), (12, 5, 4, 3, 6, 1), (6, 3, 2, 5, 6, 2)]
)
def test_badge_equals_k_means_pp_on_explicit_outer_products(N, K, C, D, B, seed) -> None:
    log_probs = _log_probs(N, K, C, seed=seed)
    embeddings = _points(N, D, seed=seed + 10)
    selection = badge(log_probs, embeddings, B, generator=_gen(seed + 20))
    indices, scores = _badge_brute(log_probs, embeddings, B, seed + 20)
    assert selection.indices_B.tolist() == indices
    torch.testing.assert_close(selection.scores_B, torch.tensor(scores, dtype=torch.float64))
    assert selection.indices_B.dtype == torch.int64
    assert selection.scores_B.dtype == torch.float64


def test_badge_draws_the_second_pick_with_probability_proportional_to_d_squared() -> None:
    log_probs = _log_probs(5, 3, 3, seed=3)
    embeddings = _points(5, 2, seed=4)
    grads = _explicit_gradient_embeddings(log_probs, embeddings)
    first = max(range(5), key=lambda n: float(grads[n].norm()))
    d2 = torch.tensor([float((grads[n] - grads[first]).norm() ** 2) for n in range(5)])
    expected = d2 / d2.sum()
    runs = 3000
    counts = torch.zeros(5)
    for seed in range(runs):
        picks = badge(log_probs, embeddings, 2, generator=_gen(seed)).indices_B.tolist()
        assert picks[0] == first
        counts[picks[1]] += 1
    assert counts[first] == 0
    std = (expected * (1 - expected) / runs).sqrt()
    assert ((counts / runs - expected).abs() <= 4 * std + 1e-9).all(), (counts / runs, expected)


def test_badge_batch_of_one_is_the_largest_gradient_norm_and_permutation_equivariant() -> None:
    log_probs = _log_probs(15, 4, 5, seed=5)
    embeddings = _points(15, 3, seed=6)
    norms = torch.stack([v.norm() for v in _explicit_gradient_embeddings(log_probs, embeddings)])
    pick = badge(log_probs, embeddings, 1, generator=_gen(0))
    assert pick.indices_B.tolist() == [int(norms.argmax())]
    torch.testing.assert_close(pick.scores_B, norms.max().reshape(1))
    perm = torch.randperm(15, generator=_gen(7))
    permuted = badge(log_probs[perm], embeddings[perm], 1, generator=_gen(3))
    assert int(perm[permuted.indices_B[0]]) == int(norms.argmax())


def test_badge_averages_the_k_samples_in_probability_space() -> None:
    log_probs = _log_probs(10, 6, 3, seed=8)
    mean_log_probs = torch.logsumexp(log_probs, dim=1, keepdim=True) - math.log(6)
    embeddings = _points(10, 4, seed=9)
    a = badge(log_probs, embeddings, 5, generator=_gen(1))
    b = badge(mean_log_probs, embeddings, 5, generator=_gen(1))
    assert torch.equal(a.indices_B, b.indices_B)
    torch.testing.assert_close(a.scores_B, b.scores_B)


def test_badge_with_confident_predictions_falls_back_to_uniform_picks() -> None:
    # One-hot predictions: u_n = 0, every gradient embedding is 0.
    log_probs = torch.full((6, 2, 3), -math.inf, dtype=torch.float64)
    log_probs[:, :, 0] = 0.0
    selection = badge(log_probs, _points(6, 2), 6, generator=_gen(0))
    assert sorted(selection.indices_B.tolist()) == list(range(6))
    assert selection.scores_B.tolist() == [0.0] * 6
    firsts = {
        badge(log_probs, _points(6, 2), 1, generator=_gen(s)).indices_B.item() for s in range(30)
    }
    assert len(firsts) > 1  # the tie of the first pick is broken at random


def test_badge_duplicates_are_not_picked_twice_before_other_points() -> None:
    log_probs = _log_probs(6, 3, 3, seed=10)
    embeddings = _points(6, 2, seed=11)
    log_probs = torch.cat([log_probs, log_probs])
    embeddings = torch.cat([embeddings, embeddings])
    for seed in range(10):
        picks = badge(log_probs, embeddings, 6, generator=_gen(seed)).indices_B.tolist()
        assert len({p % 6 for p in picks}) == 6


class _LargestStorage(TorchDispatchMode):
    """Records the largest storage (in elements) of any tensor an aten op returns while
    active: every tensor BADGE creates, views (whose storage is their base's) included."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0
        self.op = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                elements = t.untyped_storage().nbytes() // t.element_size()
                if elements > self.elements:
                    self.elements, self.op = elements, f"{func} -> {tuple(t.shape)}"
        return out


# N x K x C log-probs and N x D embeddings: [N, C*D] would hold N*C*D = 30M elements, 50
# times the larger input (600k); a factored pick needs a few [N] vectors.
_BADGE_N, _BADGE_K, _BADGE_C, _BADGE_D = 2000, 2, 50, 300


def _badge_inputs() -> tuple[Tensor, Tensor]:
    g = _gen(0)
    log_probs = torch.randn(_BADGE_N, _BADGE_K, _BADGE_C, generator=g).log_softmax(-1)
    return log_probs, torch.randn(_BADGE_N, _BADGE_D, generator=g)


def _naive_badge_distances(log_probs: Tensor, embeddings: Tensor) -> Tensor:
    """The [N, C*D] gradient embeddings BADGE must not form, and the first pick's D^2."""
    p = log_probs.exp().mean(1)
    u = p - torch.nn.functional.one_hot(p.argmax(1), p.shape[1])
    g_N_CD = (u[:, :, None] * embeddings[:, None, :]).flatten(1)
    return (g_N_CD - g_N_CD[0]).pow(2).sum(1)


def test_the_largest_storage_spy_sees_an_n_by_c_times_d_matrix() -> None:
    log_probs, embeddings = _badge_inputs()
    with _LargestStorage() as spy:
        _naive_badge_distances(log_probs, embeddings)
    assert spy.elements >= _BADGE_N * _BADGE_C * _BADGE_D, spy.op


def test_badge_never_forms_the_n_by_c_times_d_matrix() -> None:
    # Every tensor BADGE's ops create is at most as large as its larger input (here the
    # [N, D] embeddings; [N, K, C] in other shapes): no [N, C*D], and no [N, N] either.
    log_probs, embeddings = _badge_inputs()
    inputs = max(log_probs.numel(), embeddings.numel())
    with _LargestStorage() as spy:
        selection = badge(log_probs, embeddings, 4, generator=_gen(1))
    assert len(set(selection.indices_B.tolist())) == 4
    assert 0 < spy.elements <= inputs, spy.op
    assert 50 * inputs <= _BADGE_N * _BADGE_C * _BADGE_D  # far below [N, C*D]


def test_badge_errors() -> None:
    log_probs, embeddings = _log_probs(), _points()
    with pytest.raises(InvalidInputError, match="has 9 row"):
        badge(log_probs, embeddings[:9], 2, generator=_gen(0))
    with pytest.raises(InvalidInputError, match="normalised log-probabilities"):
        badge(log_probs.exp(), embeddings, 2, generator=_gen(0))
    with pytest.raises(InvalidInputError, match="larger than the pool size 10"):
        badge(log_probs, embeddings, 11, generator=_gen(0))
    with pytest.raises(InvalidInputError, match=r"torch\.Generator"):
        badge(log_probs, embeddings, 2, generator=None)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ coreset


def _coreset_brute(pool: Tensor, labelled: Tensor, B: int, seed: int):
    N, L = len(pool), len(labelled)
    everything = torch.cat([labelled, pool])
    distance = [
        [float((everything[i] - everything[j]).norm()) for j in range(L + N)] for i in range(L + N)
    ]
    centres = list(range(L))  # rows of `everything`
    order = torch.randperm(N, generator=_gen(seed)).tolist()  # ties / cold start
    picks, scores = [], []
    for _ in range(B):
        best, best_value = None, -1.0
        for n in order:  # random order: the first of equal values wins
            if n in picks:
                continue
            value = min((distance[L + n][c] for c in centres), default=math.inf)
            if value > best_value:
                best, best_value = n, value
        picks.append(best)
        scores.append(best_value)
        centres.append(L + best)
    return picks, scores


@pytest.mark.parametrize(
    ("N", "L", "D", "B"), [(9, 3, 2, 4), (12, 1, 3, 12), (7, 0, 2, 5), (5, 6, 4, 3)]
)
def test_coreset_equals_greedy_k_center_on_an_explicit_distance_matrix(N, L, D, B) -> None:
    for seed in range(3):
        pool = _points(N, D, seed=seed)
        labelled = _points(L, D, seed=seed + 100)
        selection = coreset(pool, B, generator=_gen(seed), labelled_embeddings_L_D=labelled)
        indices, scores = _coreset_brute(pool, labelled, B, seed)
        assert selection.indices_B.tolist() == indices
        torch.testing.assert_close(selection.scores_B, torch.tensor(scores, dtype=torch.float64))


def test_coreset_batch_of_one_is_the_point_farthest_from_the_labelled_set() -> None:
    pool, labelled = _points(20, 3, seed=3), _points(4, 3, seed=4)
    farthest = torch.cdist(pool, labelled).min(dim=1).values
    selection = coreset(pool, 1, generator=_gen(0), labelled_embeddings_L_D=labelled)
    assert selection.indices_B.tolist() == [int(farthest.argmax())]
    torch.testing.assert_close(selection.scores_B, farthest.max().reshape(1))


def test_coreset_scores_do_not_increase_and_the_picks_cover_the_pool() -> None:
    pool, labelled = _points(30, 2, seed=5), _points(2, 2, seed=6)
    selection = coreset(pool, 30, generator=_gen(0), labelled_embeddings_L_D=labelled)
    scores = selection.scores_B
    assert (scores[1:] <= scores[:-1] + 1e-12).all()
    # k-center radius after b picks = the next pick's score
    for b in range(1, 29):
        centres = torch.cat([labelled, pool[selection.indices_B[:b]]])
        radius = torch.cdist(pool, centres).min(dim=1).values.max()
        torch.testing.assert_close(radius, scores[b])


def test_coreset_is_permutation_equivariant_with_labelled_points() -> None:
    pool, labelled = _points(15, 3, seed=7), _points(3, 3, seed=8)
    selection = coreset(pool, 6, generator=_gen(0), labelled_embeddings_L_D=labelled)
    perm = torch.randperm(15, generator=_gen(9))
    permuted = coreset(pool[perm], 6, generator=_gen(5), labelled_embeddings_L_D=labelled)
    assert perm[permuted.indices_B].tolist() == selection.indices_B.tolist()
    torch.testing.assert_close(permuted.scores_B, selection.scores_B)


def test_coreset_cold_start_first_pick_is_a_seeded_uniform_choice() -> None:
    pool = _points(6, 2, seed=10)
    firsts = [coreset(pool, 2, generator=_gen(s)).indices_B[0].item() for s in range(300)]
    counts = torch.bincount(torch.tensor(firsts), minlength=6)
    assert (counts > 20).all()  # each about 50 times
    a = coreset(pool, 4, generator=_gen(3))
    b = coreset(pool, 4, generator=_gen(3))
    assert torch.equal(a.indices_B, b.indices_B)
    assert a.scores_B[0] == math.inf
    assert torch.isfinite(a.scores_B[1:]).all()


def test_coreset_ties_are_broken_at_random() -> None:
    # Two copies of the pool point farthest from the single labelled point.
    pool = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.1, 0.0]], dtype=torch.float64)
    labelled = torch.zeros(1, 2, dtype=torch.float64)
    firsts = {
        coreset(pool, 1, generator=_gen(s), labelled_embeddings_L_D=labelled).indices_B.item()
        for s in range(20)
    }
    assert firsts == {0, 1}


def test_coreset_picks_a_copy_of_a_labelled_point_last() -> None:
    pool, labelled = _points(8, 2, seed=11), _points(2, 2, seed=12)
    pool = torch.cat([pool, labelled[:1]])  # index 8 duplicates a labelled point
    selection = coreset(pool, 9, generator=_gen(0), labelled_embeddings_L_D=labelled)
    assert selection.indices_B[-1].item() == 8
    assert selection.scores_B[-1].item() < 1e-6


def test_coreset_small_chunk_budget_gives_the_same_batch() -> None:
    pool, labelled = _points(40, 3, seed=13), _points(25, 3, seed=14)
    whole = coreset(pool, 8, generator=_gen(0), labelled_embeddings_L_D=labelled)
    blocks = coreset(pool, 8, generator=_gen(0), labelled_embeddings_L_D=labelled, chunk_budget=7)
    assert torch.equal(whole.indices_B, blocks.indices_B)
    torch.testing.assert_close(whole.scores_B, blocks.scores_B)


def test_coreset_errors() -> None:
    pool = _points()
    with pytest.raises(InvalidInputError, match="D = 2 column"):
        coreset(pool, 2, generator=_gen(0), labelled_embeddings_L_D=_points(3, 2))
    with pytest.raises(InvalidInputError, match="chunk_budget must be a positive integer"):
        coreset(pool, 2, generator=_gen(0), chunk_budget=0)
    with pytest.raises(InvalidInputError, match="at least 1, got 0"):
        coreset(pool, 0, generator=_gen(0))
    with pytest.raises(InvalidInputError, match=r"shape \[N, D\]"):
        coreset(pool.flatten(), 2, generator=_gen(0))


# ------------------------------------------------------------------------------ k-means


def test_kmeans_recovers_well_separated_blobs() -> None:
    points = _blobs([7, 5, 9, 6])
    truth = torch.repeat_interleave(torch.arange(4), torch.tensor([7, 5, 9, 6]))
    for seed in range(5):
        result = kmeans(points, 4, generator=_gen(seed))
        assert isinstance(result, KMeansResult)
        # the same partition, up to the names of the clusters
        pairs = {(int(t), int(a)) for t, a in zip(truth, result.assignments_M, strict=True)}
        assert len(pairs) == 4 and len({a for _, a in pairs}) == 4


def test_kmeans_ends_at_a_lloyd_fixed_point() -> None:
    points = _points(40, 3, seed=15)
    result = kmeans(points, 5, generator=_gen(0))
    assert result.num_iterations < 100
    for m in range(40):  # every point at its nearest centre (explicit loop)
        distances = [float((points[m] - c).norm()) for c in result.centres_J_D]
        assert distances[int(result.assignments_M[m])] == pytest.approx(min(distances))
    for j in range(5):  # every centre the mean of its points
        members = points[result.assignments_M == j]
        assert len(members) > 0
        torch.testing.assert_close(result.centres_J_D[j], members.mean(dim=0))


def test_kmeans_is_seeded_and_handles_duplicates() -> None:
    points = _points(30, 2, seed=16)
    a, b = kmeans(points, 4, generator=_gen(1)), kmeans(points, 4, generator=_gen(1))
    assert torch.equal(a.assignments_M, b.assignments_M)
    assert torch.equal(a.centres_J_D, b.centres_J_D)
    # 3 distinct points, 5 clusters: two clusters stay empty, nothing breaks.
    duplicates = _points(3, 2, seed=17).repeat(4, 1)
    result = kmeans(duplicates, 5, generator=_gen(0))
    assert len(torch.unique(result.assignments_M)) == 3
    every = kmeans(points, 30, generator=_gen(2))  # one cluster per point
    assert sorted(every.assignments_M.tolist()) == list(range(30))


def test_kmeans_errors() -> None:
    with pytest.raises(InvalidInputError, match="larger than the number of points 10"):
        kmeans(_points(), 11, generator=_gen(0))
    with pytest.raises(InvalidInputError, match="max_iter must be a positive integer"):
        kmeans(_points(), 2, generator=_gen(0), max_iter=0)


# ------------------------------------------------------------------------------ typicality


def _typicality_brute(points: Tensor, k: int) -> list[float]:
    out = []
    for i in range(len(points)):
        others = sorted(float((points[i] - points[j]).norm()) for j in range(len(points)) if j != i)
        out.append(1.0 / (sum(others[:k]) / k))
    return out


@pytest.mark.parametrize(("n", "k"), [(2, 1), (7, 3), (12, 11), (25, 20)])
def test_typicality_equals_explicit_nearest_neighbours(n: int, k: int) -> None:
    points = _points(n, 3, seed=n)
    expected = torch.tensor(_typicality_brute(points, k), dtype=torch.float64)
    torch.testing.assert_close(typicality(points, k), expected)
    torch.testing.assert_close(typicality(points, k, chunk_budget=5), expected)
    torch.testing.assert_close(typicality(points.float(), k), expected, rtol=1e-4, atol=0)


def test_typicality_is_permutation_equivariant_and_inf_for_duplicates() -> None:
    points = _points(9, 2, seed=18)
    perm = torch.randperm(9, generator=_gen(0))
    torch.testing.assert_close(typicality(points[perm], 3), typicality(points, 3)[perm])
    twice = torch.cat([points, points[:1]])
    assert typicality(twice, 1)[0] == math.inf


def test_typicality_errors() -> None:
    with pytest.raises(InvalidInputError, match="needs at least 5 points, got 4"):
        typicality(_points(4), 4)
    with pytest.raises(InvalidInputError, match="num_neighbours must be a positive integer"):
        typicality(_points(4), 0)


# ------------------------------------------------------------------------------ TypiClust


def _typiclust_brute(
    pool: Tensor,
    labelled: Tensor,
    B: int,
    seed: int,
    *,
    max_clusters: int = 500,
    min_cluster_size: int = 5,
    num_neighbours: int = 20,
):
    """The documented rule with explicit loops, on the clusters of the same k-means run,
    then the same random tie order (ties are common: with k = 1, two mutual nearest
    neighbours have the same typicality)."""
    N, L = len(pool), len(labelled)
    J = min(L + B, max_clusters, L + N)
    g = _gen(seed)
    clusters = kmeans(torch.cat([labelled, pool]), J, generator=g).assignments_M.tolist()
    order = torch.randperm(N, generator=g).tolist()
    sizes = [clusters.count(j) for j in range(J)]
    covered = [clusters[:L].count(j) for j in range(J)]
    picked: list[int] = []
    scores: list[float] = []
    for _ in range(B):
        candidates_of = {
            j: [n for n in range(N) if clusters[L + n] == j and n not in picked] for j in range(J)
        }
        j = min(
            (j for j in range(J) if candidates_of[j]),
            key=lambda j: (sizes[j] <= min_cluster_size, covered[j], -sizes[j], j),
        )
        members = candidates_of[j]
        k = min(num_neighbours, len(members) // 2)
        values = [0.0] * len(members) if k == 0 else _typicality_brute(pool[members], k)
        top = max(values)
        best = min(
            (i for i in range(len(members)) if values[i] >= top * (1 - 1e-12)),
            key=lambda i: order.index(members[i]),
        )
        picked.append(members[best])
        scores.append(values[best])
        covered[j] += 1
    return picked, scores


@pytest.mark.parametrize(
    ("N", "L", "B", "params"),
    [
        (30, 0, 3, {}),
        (40, 4, 5, {}),
        (25, 2, 10, {"min_cluster_size": 2}),
        (30, 3, 8, {"max_clusters": 3}),  # capped: several picks per cluster
        (12, 0, 12, {"num_neighbours": 3}),  # the whole pool, small clusters, lone points
    ],
)
def test_typiclust_equals_the_rule_with_explicit_nearest_neighbours(N, L, B, params) -> None:
    for seed in range(2):
        pool = _points(N, 2, seed=seed + 30)
        labelled = _points(L, 2, seed=seed + 40)
        selection = typiclust(
            pool, B, generator=_gen(seed), labelled_embeddings_L_D=labelled, **params
        )
        indices, scores = _typiclust_brute(pool, labelled, B, seed, **params)
        assert selection.indices_B.tolist() == indices
        torch.testing.assert_close(selection.scores_B, torch.tensor(scores, dtype=torch.float64))


def test_typiclust_takes_the_densest_point_of_each_uncovered_blob() -> None:
    # Four blobs; the labelled point sits in the largest one (blob 2). A batch of three
    # covers the three other blobs, largest first, each at a dense (typical) point.
    sizes = [12, 9, 15, 10]
    pool = _blobs(sizes, seed=19)
    blob_of = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    labelled = torch.tensor([[20.0, 0.0]], dtype=torch.float64)
    for seed in range(4):
        selection = typiclust(pool, 3, generator=_gen(seed), labelled_embeddings_L_D=labelled)
        blobs = blob_of[selection.indices_B].tolist()
        assert blobs == [0, 3, 1]
        for pick, blob in zip(selection.indices_B.tolist(), blobs, strict=True):
            members = torch.nonzero(blob_of == blob).flatten()
            values = typicality(pool[members], min(20, len(members) // 2))
            assert pick == int(members[values.argmax()])


def test_typiclust_batch_of_one_in_a_cold_start() -> None:
    pool = _blobs([20, 8], seed=20)
    selection = typiclust(pool, 1, generator=_gen(0))
    # one cluster: the whole pool; the most typical point is in the large blob
    values = typicality(pool, 14)
    assert selection.indices_B.tolist() == [int(values.argmax())]
    torch.testing.assert_close(selection.scores_B, values.max().reshape(1))


def test_typiclust_small_clusters_come_last() -> None:
    # An outlier pair forms its own cluster of 2 <= min_cluster_size: it is used only
    # once the large clusters are covered.
    pool = torch.cat([_blobs([10, 10], seed=21), torch.tensor([[5.0, 40.0], [5.0, 40.2]])])
    picks = typiclust(pool, 3, generator=_gen(0)).indices_B.tolist()
    assert 20 not in picks[:2] and 21 not in picks[:2]
    keep = typiclust(pool, 3, generator=_gen(0), min_cluster_size=0).indices_B.tolist()
    assert {20, 21} & set(keep)  # without the rule the outliers' cluster is an equal


def test_typiclust_is_seeded() -> None:
    pool, labelled = _points(40, 3, seed=22), _points(3, 3, seed=23)
    a = typiclust(pool, 6, generator=_gen(5), labelled_embeddings_L_D=labelled)
    b = typiclust(pool, 6, generator=_gen(5), labelled_embeddings_L_D=labelled)
    assert torch.equal(a.indices_B, b.indices_B) and torch.equal(a.scores_B, b.scores_B)


def test_typiclust_errors() -> None:
    pool = _points()
    with pytest.raises(InvalidInputError, match="max_clusters must be a positive integer"):
        typiclust(pool, 2, generator=_gen(0), max_clusters=0)
    with pytest.raises(InvalidInputError, match="min_cluster_size must be an integer >= 0"):
        typiclust(pool, 2, generator=_gen(0), min_cluster_size=-1)
    with pytest.raises(InvalidInputError, match="larger than the pool size 10"):
        typiclust(pool, 11, generator=_gen(0), labelled_embeddings_L_D=_points(5))
    with pytest.raises(InvalidInputError, match="is on"):
        typiclust(pool, 2, generator=_gen(0), labelled_embeddings_L_D=_points(2).to("meta"))


# ----------------------------------------------------------------------------- strategies


def test_strategies_declare_their_inputs_and_select_as_the_functions() -> None:
    log_probs, pool, labelled = _log_probs(20), _points(20, 3), _points(4, 3, seed=24)
    badge_strategy = get_strategy("badge")
    assert isinstance(badge_strategy, BADGEStrategy)
    assert strategy_inputs(badge_strategy) == {POOL_LOG_PROBS, EMBEDDINGS}
    got = badge_strategy.select(log_probs, 5, generator=_gen(0), embeddings_N_D=pool)
    want = badge(log_probs, pool, 5, generator=_gen(0))
    assert torch.equal(got.indices_B, want.indices_B)

    for name, cls, function in [
        ("coreset", CoresetStrategy, coreset),
        ("typiclust", TypiClustStrategy, typiclust),
    ]:
        strategy = get_strategy(name)
        assert isinstance(strategy, cls)
        assert strategy_inputs(strategy) == {EMBEDDINGS, LABELLED_EMBEDDINGS}
        assert not is_pointwise(strategy) and not is_pointwise(strategy, given_target=True)
        got = strategy.select(
            None, 5, generator=_gen(0), embeddings_N_D=pool, labelled_embeddings_L_D=labelled
        )
        want = function(pool, 5, generator=_gen(0), labelled_embeddings_L_D=labelled)
        assert torch.equal(got.indices_B, want.indices_B), name
        assert pickle.loads(pickle.dumps(strategy)) == strategy


def test_strategy_parameters_reach_the_function() -> None:
    pool, labelled = _points(30, 2, seed=25), _points(2, 2, seed=26)
    strategy = get_strategy("typiclust", max_clusters=3, min_cluster_size=0, num_neighbours=2)
    got = strategy.select(
        None, 6, generator=_gen(1), embeddings_N_D=pool, labelled_embeddings_L_D=labelled
    )
    want = typiclust(
        pool,
        6,
        generator=_gen(1),
        labelled_embeddings_L_D=labelled,
        max_clusters=3,
        min_cluster_size=0,
        num_neighbours=2,
    )
    assert torch.equal(got.indices_B, want.indices_B)


def test_log_probs_given_to_a_strategy_that_does_not_read_them_must_match_the_pool() -> None:
    strategy = get_strategy("coreset")
    with pytest.raises(
        InvalidInputError, match="embeddings_N_D has 10 row.*log_probs_N_K_C has 12"
    ):
        strategy.select(
            _log_probs(12),
            2,
            generator=_gen(0),
            embeddings_N_D=_points(10),
            labelled_embeddings_L_D=_points(0),
        )
