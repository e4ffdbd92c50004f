"""Embedding strategies: BADGE, coreset (greedy k-center) and TypiClust.

These choose a batch by the geometry of the inputs in a feature space (the model's
penultimate layer), not by one score per input, so a batch is diverse by construction.
They suit the low-budget / cold-start regime, where the model's uncertainty is not yet
worth much (Hacohen et al. 2022) and where top-k of an uncertainty score picks
near-duplicates.

* :func:`badge`: k-means++ seeding on gradient embeddings (Ash, Zhang, Krishnamurthy,
  Langford & Agarwal 2020, "Deep Batch Active Learning by Diverse, Uncertain Gradient
  Lower Bounds", ICLR). Reads the pool's log-probs and embeddings.
* :func:`coreset`: greedy k-center (Sener & Savarese 2018, "Active Learning for
  Convolutional Neural Networks: A Core-Set Approach", ICLR). Reads the pool's and the
  labelled inputs' embeddings.
* :func:`typiclust`: the most typical point of the largest uncovered k-means cluster
  (Hacohen, Dekel & Weinshall 2022, "Active Learning on a Budget: Opposite Strategies
  Suit High and Low Budgets", ICML). Reads the pool's and the labelled inputs' embeddings.

Distances are Euclidean. Embeddings are ``embeddings_N_D`` ``[N, D]`` (pool, one row per
row of ``log_probs_N_K_C``) and ``labelled_embeddings_L_D`` ``[L, D]`` (labelled inputs,
``L = 0`` allowed), from the same feature extractor. Computation is in float64 for float64
input and float32 otherwise; points are centred on their mean first (distances do not
change, the round-off of ``|a|^2 + |b|^2 - 2 a.b`` does). Pairwise distances are computed
in blocks of at most ``chunk_budget`` elements (or one ``[N]`` column when N is larger).

Randomness comes only from the ``generator`` argument. Ties are broken by a uniformly
random order of the pool drawn from it (never by position), except where a docstring says
otherwise.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_log_probs
from bayesal.acquisition.base import (
    EMBEDDINGS,
    LABELLED_EMBEDDINGS,
    POOL_LOG_PROBS,
    TARGET_LOG_PROBS,
    Selection,
)
from bayesal.acquisition.information import mean_log_probs
from bayesal.errors import InvalidInputError

__all__ = [
    "DEFAULT_DISTANCE_CHUNK_BUDGET",
    "BADGEStrategy",
    "CoresetStrategy",
    "KMeansResult",
    "TypiClustStrategy",
    "badge",
    "coreset",
    "kmeans",
    "typicality",
    "typiclust",
]

#: Largest block of pairwise distances held at once (elements).
DEFAULT_DISTANCE_CHUNK_BUDGET = 2**22


# ------------------------------------------------------------------------------ checks


def _check_positive_int(value: object, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InvalidInputError(f"{name} must be {kind}, got {value!r}.")
    return int(value)


def _check_embeddings(
    embeddings: object,
    name: str,
    *,
    rows: int | None = None,
    rows_source: str = "",
    columns: int | None = None,
    like: Tensor | None = None,
) -> Tensor:
    """Check an embedding matrix ``[R, D]``: a finite floating-point rank-2 tensor with
    ``D >= 1``, ``rows`` rows and ``columns`` columns when given, on ``like``'s device."""
    symbol = name.rsplit("_", 2)[-2] if name.count("_") >= 2 else "N"
    if not isinstance(embeddings, Tensor):
        raise InvalidInputError(
            f"{name} must be a torch.Tensor of shape [{symbol}, D], "
            f"got {type(embeddings).__name__}."
        )
    if not embeddings.is_floating_point():
        raise InvalidInputError(
            f"{name} must be a floating-point tensor of embeddings, got dtype "
            f"{embeddings.dtype}; convert with .float()."
        )
    if embeddings.dim() != 2:
        raise InvalidInputError(
            f"{name} must have shape [{symbol}, D] (one embedding row per input), got shape "
            f"{list(embeddings.shape)}; flatten features to two dimensions, e.g. x.flatten(1)."
        )
    if embeddings.shape[1] == 0:
        raise InvalidInputError(
            f"{name} must have at least one feature column (D >= 1), got shape "
            f"{list(embeddings.shape)}."
        )
    if rows is not None and embeddings.shape[0] != rows:
        raise InvalidInputError(
            f"{name} has {embeddings.shape[0]} row(s) but {rows_source} has {rows}; pass "
            "one embedding per pool input, in the same order."
        )
    if columns is not None and embeddings.shape[1] != columns:
        raise InvalidInputError(
            f"{name} has D = {embeddings.shape[1]} column(s) but embeddings_N_D has "
            f"{columns}; compute both with the same feature extractor."
        )
    if like is not None and embeddings.device != like.device:
        raise InvalidInputError(
            f"{name} is on {embeddings.device} but the pool's tensors are on {like.device}; "
            "move them to one device."
        )
    finite_R = torch.isfinite(embeddings).all(dim=1)
    if not bool(finite_R.all()):
        bad = torch.nonzero(~finite_R).flatten()[:5].tolist()
        raise InvalidInputError(
            f"{name} contains NaN or inf in row(s) {bad}; check the feature extractor "
            "(e.g. a diverged training run)."
        )
    return embeddings


def _check_labelled(labelled: object, embeddings_N_D: Tensor) -> Tensor:
    """``labelled`` checked against the pool's embeddings; ``None`` is ``[0, D]``."""
    if labelled is None:
        return embeddings_N_D.new_zeros(0, embeddings_N_D.shape[1])
    return _check_embeddings(
        labelled, "labelled_embeddings_L_D", columns=embeddings_N_D.shape[1], like=embeddings_N_D
    )


def _missing(who: str, name: str) -> InvalidInputError:
    if name == "embeddings_N_D":
        what = (
            "embeddings_N_D (pool embeddings [N, D], one row per pool input, e.g. the "
            "model's penultimate-layer features)"
        )
        how = "pass embeddings_N_D=... to select"
    else:
        what = (
            "labelled_embeddings_L_D (embeddings [L, D] of the labelled inputs, from the "
            "same feature extractor as the pool's)"
        )
        how = (
            "pass labelled_embeddings_L_D=... to select, an empty [0, D] tensor when "
            "nothing is labelled yet"
        )
    return InvalidInputError(
        f"{who} reads {what} but got none; {how} (strategy_inputs(strategy) lists the "
        "inputs to compute)."
    )


def _compute_dtype(*tensors: Tensor) -> torch.dtype:
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


# ------------------------------------------------------------------ shared machinery


def _uniform(generator: torch.Generator) -> float:
    """One draw from U[0, 1) (float64) from ``generator``."""
    return float(torch.rand((), generator=generator, device=generator.device, dtype=torch.float64))


def _sample_index(weights_N: Tensor, u: float) -> int:
    """Inverse-CDF sample: the first ``n`` with ``Σ_{m<=n} w_m > u Σ_m w_m``, so that ``n``
    has probability ``w_n / Σ_m w_m`` for ``u ~ U[0, 1)``; weights ``>= 0`` with a positive
    sum (a weight of 0 is never drawn)."""
    cumulative_N = torch.cumsum(weights_N.to(torch.float64), dim=0)
    target = cumulative_N[-1:] * u
    index = int(torch.searchsorted(cumulative_N, target, right=True))
    if index >= len(weights_N) or not bool(weights_N[index] > 0):  # u * total rounded up
        index = int(torch.nonzero(weights_N > 0).max())
    return index


def _random_rank(N: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A uniformly random ranking of ``N`` positions (``rank_N[n]``: place of ``n``)."""
    perm_N = torch.randperm(N, generator=generator, device=generator.device).to(device)
    rank_N = torch.empty_like(perm_N)
    rank_N[perm_N] = torch.arange(N, device=device)
    return rank_N


def _argmax(values_N: Tensor, rank_N: Tensor, allowed_N: Tensor | None = None) -> int:
    """The position of the largest value among ``allowed_N``; ties go to the lowest rank."""
    if allowed_N is not None:
        values_N = values_N.masked_fill(~allowed_N, -math.inf)
    top = values_N.max()
    best_N = values_N == top
    if allowed_N is not None:
        best_N &= allowed_N
    beyond = torch.iinfo(rank_N.dtype).max  # above every rank, even of a subset
    return int(torch.where(best_N, rank_N, beyond).argmin())


def _squared_norms(points_M_D: Tensor) -> Tensor:
    return (points_M_D * points_M_D).sum(dim=1)


def _squared_distances(
    points_n_D: Tensor, norms_n: Tensor, centres_J_D: Tensor, centre_norms_J: Tensor
) -> Tensor:
    """``|x_i - c_j|^2`` ``[n, J]`` as ``|x|^2 + |c|^2 - 2 x.c``, clamped at 0."""
    cross_n_J = points_n_D @ centres_J_D.T
    return (norms_n[:, None] + centre_norms_J[None, :] - 2.0 * cross_n_J).clamp_min(0.0)


def _centred(*tensors: Tensor, dtype: torch.dtype) -> list[Tensor]:
    """The tensors in ``dtype``, centred on the mean of all their rows together."""
    converted = [t.to(dtype) for t in tensors]
    total = sum(len(t) for t in converted)
    if total == 0:
        return converted
    mean_D = sum(t.sum(dim=0) for t in converted) / total
    return [t - mean_D for t in converted]


def _d2_seeding(
    num_centres: int,
    first: int,
    squared_distances_to: Callable[[int], Tensor],
    N: int,
    generator: torch.Generator,
    device: torch.device,
) -> tuple[list[int], list[float]]:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) from the centre ``first``: each next
    centre is drawn with probability proportional to ``D(x)^2``, the squared distance of
    ``x`` to its nearest chosen centre (chosen points have weight 0). When every unchosen
    point has ``D = 0`` (duplicates), the next centre is uniform over the unchosen points.
    One ``u ~ U[0, 1)`` is drawn per centre after the first.

    Returns the centres in order and ``D(x)`` of each when it was drawn (``nan`` for the
    first, which the caller fills).
    """
    chosen_N = torch.zeros(N, dtype=torch.bool, device=device)
    chosen_N[first] = True
    indices, distances = [first], [math.nan]
    min_d2_N = torch.full((N,), math.inf, dtype=torch.float64, device=device)
    last = first
    for _ in range(1, num_centres):
        min_d2_N = torch.minimum(min_d2_N, squared_distances_to(last).to(torch.float64))
        weights_N = min_d2_N.masked_fill(chosen_N, 0.0)
        u = _uniform(generator)
        if bool(weights_N.sum() > 0):
            last = _sample_index(weights_N, u)
        else:
            last = _sample_index((~chosen_N).to(torch.float64), u)
        chosen_N[last] = True
        indices.append(last)
        distances.append(math.sqrt(float(weights_N[last])))
    return indices, distances


# --------------------------------------------------------------------------------- BADGE


def badge(
    log_probs_N_K_C: Tensor,
    embeddings_N_D: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
) -> Selection:
    """BADGE: k-means++ seeding on gradient embeddings.

    Ash, Zhang, Krishnamurthy, Langford & Agarwal (2020), "Deep Batch Active Learning by
    Diverse, Uncertain Gradient Lower Bounds", ICLR.

    With the predictive mean ``p̄_n = (1/K) Σ_k p_k(· | x_n)`` (mean over the K samples in
    probability space), its arg-max ``ŷ_n`` and the penultimate-layer embedding ``h_n``,
    the gradient embedding of ``x_n`` is the gradient of the cross-entropy loss at the
    hypothesised label ŷ_n with respect to the last layer's weights:

        g_n = u_n ⊗ h_n  (a C x D matrix),  u_n = p̄_n - onehot(ŷ_n).

    Its norm ``|g_n| = |u_n| |h_n|`` grows with the uncertainty and the size of the
    embedding. The batch is k-means++ seeding on the ``g_n``:

    * first pick: the largest ``|g_n|``, as in the authors' code (``init_centers`` in
      github.com/JordanAsh/badge: ``argmax`` of the norms; the paper's k-means++ would
      draw it uniformly); ties at random;
    * next picks: ``n`` drawn with probability ``D(n)^2 / Σ_m D(m)^2``, where ``D(n)`` is
      the distance of ``g_n`` to its nearest picked ``g``; uniform over the unpicked
      points when all those distances are 0 (e.g. every prediction is one-hot).

    ``[N, C*D]`` is never formed: squared distances between outer products factor as

        |g_a - g_b|^2 = |u_a|^2 |h_a|^2 + |u_b|^2 |h_b|^2 - 2 (u_a.u_b)(h_a.h_b),

    so each pick costs ``O(N (C + D))`` time and ``O(N)`` memory.

    Random draws, in order: a random order of the N positions (``torch.randperm``, for
    ties), then one ``u ~ U[0, 1)`` per pick after the first; the pick is the first ``n``
    with ``Σ_{m<=n} D(m)^2 > u Σ_m D(m)^2``. Because of this order a permutation of the
    pool does not permute the batch draw by draw, only in distribution (the first pick,
    and so a batch of one, is permutation-equivariant when the largest norm is unique).

    Args:
        log_probs_N_K_C: ``[N, K, C]`` log-probabilities of the pool.
        embeddings_N_D: ``[N, D]`` penultimate-layer embeddings of the same inputs.
        batch_size: ``1 <= batch_size <= N``.
        generator: the source of randomness; required.

    Returns:
        :class:`Selection`: ``indices_B`` (int64, distinct, pick order) and ``scores_B``
        (float64): ``|g_n|`` for the first pick, then ``D(n)``, the distance of the pick's
        gradient embedding to the nearest earlier pick's when it was drawn.

    Raises:
        InvalidInputError: for malformed log-probs or embeddings, a row-count mismatch, a
            bad batch size or a missing generator.
    """
    check_generator(generator, "badge")
    log_mean_N_C = mean_log_probs(log_probs_N_K_C)  # validates
    N = log_probs_N_K_C.shape[0]
    h_N_D = _check_embeddings(
        embeddings_N_D,
        "embeddings_N_D",
        rows=N,
        rows_source="log_probs_N_K_C",
        like=log_probs_N_K_C,
    )
    check_batch_size(batch_size, N)
    device = h_N_D.device
    dtype = _compute_dtype(log_probs_N_K_C, h_N_D)
    p_N_C = log_mean_N_C.to(dtype).exp()
    u_N_C = p_N_C.clone()
    u_N_C[torch.arange(N, device=device), p_N_C.argmax(dim=1)] -= 1.0
    h_N_D = h_N_D.to(dtype)
    norms2_N = _squared_norms(u_N_C) * _squared_norms(h_N_D)

    def squared_distances_to(i: int) -> Tensor:
        cross_N = (u_N_C @ u_N_C[i]) * (h_N_D @ h_N_D[i])
        return (norms2_N + norms2_N[i] - 2.0 * cross_N).clamp_min(0.0)

    rank_N = _random_rank(N, generator, device)
    first = _argmax(norms2_N, rank_N)
    indices, distances = _d2_seeding(batch_size, first, squared_distances_to, N, generator, device)
    distances[0] = math.sqrt(float(norms2_N[first]))
    return Selection(
        torch.tensor(indices, dtype=torch.long, device=device),
        torch.tensor(distances, dtype=torch.float64, device=device),
    )


# ------------------------------------------------------------------------------- coreset


def _min_squared_distances(
    points_N_D: Tensor, norms_N: Tensor, centres_L_D: Tensor, chunk_budget: int
) -> Tensor:
    """``min_l |x_n - c_l|^2`` ``[N]`` (``+inf`` when there is no centre), in blocks."""
    N = len(points_N_D)
    result_N = torch.full((N,), math.inf, dtype=points_N_D.dtype, device=points_N_D.device)
    if len(centres_L_D) == 0 or N == 0:
        return result_N
    centre_norms_L = _squared_norms(centres_L_D)
    step = max(1, chunk_budget // N)
    for start in range(0, len(centres_L_D), step):
        block_N_l = _squared_distances(
            points_N_D,
            norms_N,
            centres_L_D[start : start + step],
            centre_norms_L[start : start + step],
        )
        result_N = torch.minimum(result_N, block_N_l.min(dim=1).values)
    return result_N


def coreset(
    embeddings_N_D: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    labelled_embeddings_L_D: Tensor | None = None,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> Selection:
    """Coreset: greedy k-center on embeddings.

    Sener & Savarese (2018), "Active Learning for Convolutional Neural Networks: A Core-Set
    Approach", ICLR (the greedy algorithm, a 2-approximation of the minimax facility
    location / k-center problem; the paper's robust mixed-integer refinement is not done).

    With ``S`` the labelled points and the points picked so far, each pick is

        n* = argmax_{n unpicked} min_{s ∈ S} |x_n - x_s|,

    the pool point farthest from its nearest labelled-or-picked point; ties at random.
    When nothing is labelled (``L = 0``) every distance of the first pick is ``+inf``: it
    is uniform over the pool (a seeded random choice, not the point farthest from the
    mean, which would be an outlier); later picks follow the rule.

    Cost: ``O(N L D)`` for the distances to the labelled points (in blocks of at most
    ``chunk_budget`` elements) and ``O(N D)`` per pick.

    Random draws: one random order of the N positions (``torch.randperm``) for ties and
    the first pick when ``L = 0``. With ``L > 0`` and no ties the batch is deterministic
    and permuting the pool permutes the picks; with ``L = 0`` the first pick (and so the
    batch) is equivariant only in distribution.

    Args:
        embeddings_N_D: ``[N, D]`` pool embeddings.
        batch_size: ``1 <= batch_size <= N``.
        generator: the source of randomness; required.
        labelled_embeddings_L_D: ``[L, D]`` embeddings of the labelled points; ``None``
            means ``L = 0``.
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        :class:`Selection`: ``indices_B`` (int64, distinct, pick order) and ``scores_B``
        (float64, non-increasing): the pick's distance to its nearest labelled-or-picked
        point when picked (``+inf`` for the first pick when ``L = 0``).

    Raises:
        InvalidInputError: for malformed embeddings, a D mismatch, a bad batch size or
            ``chunk_budget``, or a missing generator.
    """
    check_generator(generator, "coreset")
    chunk_budget = _check_positive_int(chunk_budget, "chunk_budget")
    pool_N_D = _check_embeddings(embeddings_N_D, "embeddings_N_D")
    labelled_L_D = _check_labelled(labelled_embeddings_L_D, pool_N_D)
    N = pool_N_D.shape[0]
    check_batch_size(batch_size, N)
    device = pool_N_D.device
    x_N_D, x_L_D = _centred(pool_N_D, labelled_L_D, dtype=_compute_dtype(pool_N_D, labelled_L_D))
    norms_N = _squared_norms(x_N_D)
    min_d2_N = _min_squared_distances(x_N_D, norms_N, x_L_D, chunk_budget)
    rank_N = _random_rank(N, generator, device)
    unpicked_N = torch.ones(N, dtype=torch.bool, device=device)
    indices: list[int] = []
    scores: list[float] = []
    for _ in range(batch_size):
        pick = _argmax(min_d2_N, rank_N, unpicked_N)
        indices.append(pick)
        scores.append(math.sqrt(float(min_d2_N[pick])))
        unpicked_N[pick] = False
        d2_N = (norms_N + norms_N[pick] - 2.0 * (x_N_D @ x_N_D[pick])).clamp_min(0.0)
        min_d2_N = torch.minimum(min_d2_N, d2_N)
    return Selection(
        torch.tensor(indices, dtype=torch.long, device=device),
        torch.tensor(scores, dtype=torch.float64, device=device),
    )


# ----------------------------------------------------------------------------- TypiClust


class KMeansResult(NamedTuple):
    """The result of :func:`kmeans`."""

    #: ``[M]`` int64: the cluster of each point, in ``0..J-1``.
    assignments_M: Tensor
    #: ``[J, D]``: the cluster centres (means of their points), in the compute dtype.
    centres_J_D: Tensor
    #: Lloyd iterations run (centre updates).
    num_iterations: int


def _nearest_centres(
    x_M_D: Tensor, norms_M: Tensor, centres_J_D: Tensor, chunk_budget: int
) -> Tensor:
    """The nearest centre of each point ``[M]`` (ties: the lowest centre index)."""
    centre_norms_J = _squared_norms(centres_J_D)
    step = max(1, chunk_budget // max(1, len(centres_J_D)))
    parts = [
        _squared_distances(
            x_M_D[start : start + step], norms_M[start : start + step], centres_J_D, centre_norms_J
        ).argmin(dim=1)
        for start in range(0, len(x_M_D), step)
    ]
    return torch.cat(parts)


def kmeans(
    points_M_D: Tensor,
    num_clusters: int,
    *,
    generator: torch.Generator,
    max_iter: int = 100,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> KMeansResult:
    """k-means (Lloyd's algorithm) with k-means++ seeding, on a seeded generator.

    Minimises ``Σ_m |x_m - c_{a(m)}|^2`` over assignments ``a`` and centres ``c``:

    * seeding (Arthur & Vassilvitskii 2007, "k-means++: The Advantages of Careful
      Seeding", SODA): the first centre uniform over the points, each next one drawn with
      probability proportional to the squared distance to the nearest chosen centre
      (uniform over the unchosen points when those are all 0: fewer distinct points than
      clusters); one ``u ~ U[0, 1)`` per centre;
    * Lloyd: assign every point to its nearest centre (ties: the lowest centre index),
      move every centre to the mean of its points (a cluster left empty keeps its
      centre), until the assignments stop changing or ``max_iter`` updates.

    On return each point is assigned to its nearest centre and, unless ``max_iter`` ran
    out, every non-empty cluster's centre is the mean of its points (a fixed point).
    Cluster ``j`` is the ``j``-th seeded centre. Cost ``O(M J D)`` per iteration, in
    blocks of at most ``chunk_budget`` distances. Not permutation-equivariant draw by
    draw (the seeding draws by position), only in distribution.

    Args:
        points_M_D: ``[M, D]`` finite floating-point points, ``M >= 1``.
        num_clusters: ``J``, ``1 <= J <= M``.
        generator: the source of randomness; required.
        max_iter: most centre updates.
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        :class:`KMeansResult` (assignments ``[M]`` int64, centres ``[J, D]``, iterations).

    Raises:
        InvalidInputError: for malformed points or an out-of-range parameter.
    """
    check_generator(generator, "kmeans")
    points_M_D = _check_embeddings(points_M_D, "points_M_D")
    M = points_M_D.shape[0]
    num_clusters = _check_positive_int(num_clusters, "num_clusters")
    if num_clusters > M:
        raise InvalidInputError(
            f"num_clusters {num_clusters} is larger than the number of points {M}."
        )
    max_iter = _check_positive_int(max_iter, "max_iter")
    chunk_budget = _check_positive_int(chunk_budget, "chunk_budget")
    dtype = _compute_dtype(points_M_D)
    mean_D = points_M_D.to(dtype).mean(dim=0)
    x_M_D = points_M_D.to(dtype) - mean_D
    norms_M = _squared_norms(x_M_D)
    device = x_M_D.device

    def squared_distances_to(i: int) -> Tensor:
        return (norms_M + norms_M[i] - 2.0 * (x_M_D @ x_M_D[i])).clamp_min(0.0)

    first = _sample_index(torch.ones(M, dtype=torch.float64, device=device), _uniform(generator))
    seeds, _ = _d2_seeding(num_clusters, first, squared_distances_to, M, generator, device)
    centres_J_D = x_M_D[torch.tensor(seeds, dtype=torch.long, device=device)].clone()
    assignments_M = _nearest_centres(x_M_D, norms_M, centres_J_D, chunk_budget)
    iterations = 0
    for _ in range(max_iter):
        sums_J_D = torch.zeros_like(centres_J_D).index_add_(0, assignments_M, x_M_D)
        counts_J = torch.bincount(assignments_M, minlength=num_clusters)
        nonempty_J = counts_J > 0
        centres_J_D = torch.where(
            nonempty_J[:, None], sums_J_D / counts_J.clamp_min(1)[:, None].to(dtype), centres_J_D
        )
        iterations += 1
        updated_M = _nearest_centres(x_M_D, norms_M, centres_J_D, chunk_budget)
        if torch.equal(updated_M, assignments_M):
            break
        assignments_M = updated_M
    return KMeansResult(assignments_M, centres_J_D + mean_D, iterations)


def typicality(
    points_n_D: Tensor,
    num_neighbours: int,
    *,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> Tensor:
    """Typicality: the inverse mean distance to the nearest neighbours.

    Hacohen, Dekel & Weinshall (2022), "Active Learning on a Budget: Opposite Strategies
    Suit High and Low Budgets", ICML:

        Typicality(x) = ( (1/k) Σ_{x_i ∈ kNN(x)} |x - x_i| )^(-1),

    with ``kNN(x)`` the ``k = num_neighbours`` nearest *other* points (Euclidean; the
    authors' code uses faiss's squared distances). A point with ``k`` exact duplicates has
    typicality ``+inf``. Cost ``O(n^2 D)``, in blocks of at most ``chunk_budget``
    distances. Permuting the points permutes the result.

    Args:
        points_n_D: ``[n, D]`` finite floating-point points, ``n >= 2``.
        num_neighbours: ``k``, ``1 <= k <= n - 1``.
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        ``typicality_n`` ``[n]`` float64, positive.

    Raises:
        InvalidInputError: for malformed points or an out-of-range ``num_neighbours``.
    """
    points_n_D = _check_embeddings(points_n_D, "points_n_D")
    n = points_n_D.shape[0]
    num_neighbours = _check_positive_int(num_neighbours, "num_neighbours")
    if num_neighbours > n - 1:
        raise InvalidInputError(
            f"num_neighbours {num_neighbours} needs at least {num_neighbours + 1} points, got {n}."
        )
    chunk_budget = _check_positive_int(chunk_budget, "chunk_budget")
    (x_n_D,) = _centred(points_n_D, dtype=_compute_dtype(points_n_D))
    norms_n = _squared_norms(x_n_D)
    step = max(1, chunk_budget // n)
    mean_distance_n = torch.empty(n, dtype=torch.float64, device=x_n_D.device)
    for start in range(0, n, step):
        stop = min(n, start + step)
        d2_r_n = _squared_distances(x_n_D[start:stop], norms_n[start:stop], x_n_D, norms_n)
        rows_r = torch.arange(stop - start, device=x_n_D.device)
        d2_r_n[rows_r, rows_r + start] = math.inf  # not its own neighbour
        nearest_r_k = d2_r_n.topk(num_neighbours, dim=1, largest=False).values
        mean_distance_n[start:stop] = nearest_r_k.to(torch.float64).sqrt().mean(dim=1)
    return 1.0 / mean_distance_n


def typiclust(
    embeddings_N_D: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator,
    labelled_embeddings_L_D: Tensor | None = None,
    max_clusters: int = 500,
    min_cluster_size: int = 5,
    num_neighbours: int = 20,
    max_iter: int = 100,
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET,
) -> Selection:
    """TypiClust: the most typical point of the largest uncovered cluster.

    Hacohen, Dekel & Weinshall (2022), "Active Learning on a Budget: Opposite Strategies
    Suit High and Low Budgets", ICML (TPC_RP: clustering on the given embeddings).

    1. Cluster the labelled and pool embeddings together (labelled rows first) with
       :func:`kmeans` into ``J = min(L + B, max_clusters)`` clusters (also at most the
       number of points), B the batch size. ``max_clusters = 500`` is the authors' cap
       (``MAX_NUM_CLUSTERS``), which keeps the clustering affordable on large pools; they
       use mini-batch k-means beyond 50 clusters, here full Lloyd iterations are run.
    2. Pick B points one at a time. Each pick takes, among the clusters that still have
       an unlabelled unpicked point, the one with the fewest labelled-or-picked points,
       then the largest (total size, labelled included), then the lowest cluster index
       (the k-means++ seeding order, random through the generator). Clusters of at most
       ``min_cluster_size`` points (5 in the authors' code, which drops them) come after
       every larger cluster. Within the cluster it picks the unlabelled unpicked point of
       highest :func:`typicality` with ``k = min(num_neighbours, n // 2)`` nearest
       neighbours among the cluster's ``n`` unlabelled unpicked points, as in the authors'
       code (``min(K_NN, len(indices) // 2)``, ``K_NN = 20``); a lone point (``n = 1``)
       is taken with typicality 0. Ties at random.

    The cluster rule is re-evaluated after every pick (the authors' code cycles through
    an order fixed before the first pick). The two agree as long as every pick goes to a
    cluster with no labelled or earlier picked point, which holds when at least B
    clusters larger than ``min_cluster_size`` hold no labelled point; they can differ
    once clusters must be revisited (above the cap, or with few large clusters).

    Cost: k-means ``O((L + N) J D)`` per iteration, plus ``O(n^2 D)`` for each picked
    cluster of ``n`` candidates (the whole pool when ``J = 1``).

    Random draws: the k-means seeding (:func:`kmeans`), then a random order of the N
    positions (``torch.randperm``) for ties. Not permutation-equivariant draw by draw
    (the seeding draws by position).

    Args:
        embeddings_N_D: ``[N, D]`` pool embeddings.
        batch_size: ``1 <= batch_size <= N``.
        generator: the source of randomness; required.
        labelled_embeddings_L_D: ``[L, D]`` embeddings of the labelled points; ``None``
            means ``L = 0``.
        max_clusters: most k-means clusters.
        min_cluster_size: clusters of at most this many points are used last (``>= 0``).
        num_neighbours: most nearest neighbours of the typicality.
        max_iter: most k-means iterations.
        chunk_budget: largest block of distances held at once (elements).

    Returns:
        :class:`Selection`: ``indices_B`` (int64, distinct, pick order) and ``scores_B``
        (float64): the pick's typicality within its cluster when picked.

    Raises:
        InvalidInputError: for malformed embeddings, a D mismatch, a bad batch size or
            parameter, or a missing generator.
    """
    check_generator(generator, "typiclust")
    max_clusters = _check_positive_int(max_clusters, "max_clusters")
    min_cluster_size = _check_positive_int(min_cluster_size, "min_cluster_size", minimum=0)
    num_neighbours = _check_positive_int(num_neighbours, "num_neighbours")
    max_iter = _check_positive_int(max_iter, "max_iter")
    chunk_budget = _check_positive_int(chunk_budget, "chunk_budget")
    pool_N_D = _check_embeddings(embeddings_N_D, "embeddings_N_D")
    labelled_L_D = _check_labelled(labelled_embeddings_L_D, pool_N_D)
    N, L = pool_N_D.shape[0], labelled_L_D.shape[0]
    check_batch_size(batch_size, N)
    device = pool_N_D.device
    dtype = _compute_dtype(pool_N_D, labelled_L_D)
    points_M_D = torch.cat([labelled_L_D.to(dtype), pool_N_D.to(dtype)])
    J = min(L + batch_size, max_clusters, L + N)
    clusters_M = kmeans(
        points_M_D, J, generator=generator, max_iter=max_iter, chunk_budget=chunk_budget
    ).assignments_M
    rank_N = _random_rank(N, generator, device)
    pool_clusters_N = clusters_M[L:]
    sizes = torch.bincount(clusters_M, minlength=J).tolist()
    covered = torch.bincount(clusters_M[:L], minlength=J).tolist()
    available = torch.bincount(pool_clusters_N, minlength=J).tolist()
    unpicked_N = torch.ones(N, dtype=torch.bool, device=device)
    indices: list[int] = []
    scores: list[float] = []
    for _ in range(batch_size):
        j = min(
            (j for j in range(J) if available[j] > 0),
            key=lambda j: (sizes[j] <= min_cluster_size, covered[j], -sizes[j], j),
        )
        members_n = torch.nonzero((pool_clusters_N == j) & unpicked_N).flatten()
        n = len(members_n)
        k = min(num_neighbours, n // 2)
        if k == 0:
            typicality_n = torch.zeros(n, dtype=torch.float64, device=device)
        else:
            typicality_n = typicality(pool_N_D[members_n], k, chunk_budget=chunk_budget)
        best = _argmax(typicality_n, rank_N[members_n])
        pick = int(members_n[best])
        indices.append(pick)
        scores.append(float(typicality_n[best]))
        unpicked_N[pick] = False
        covered[j] += 1
        available[j] -= 1
    return Selection(
        torch.tensor(indices, dtype=torch.long, device=device),
        torch.tensor(scores, dtype=torch.float64, device=device),
    )


# ----------------------------------------------------------------------------- strategies


def _check_log_probs_rows(log_probs_N_K_C: object, embeddings_N_D: Tensor) -> None:
    """Log-probs given to a strategy that does not read them (already checked) must still
    describe the same N inputs as the embeddings."""
    if not isinstance(log_probs_N_K_C, Tensor):
        return
    if log_probs_N_K_C.shape[0] != embeddings_N_D.shape[0]:
        raise InvalidInputError(
            f"embeddings_N_D has {embeddings_N_D.shape[0]} row(s) but log_probs_N_K_C has "
            f"{log_probs_N_K_C.shape[0]}; pass one embedding per pool input, in the same order."
        )


class _EmbeddingStrategy:
    """``needs_target`` for the embedding strategies (they never read targets)."""

    inputs: ClassVar[frozenset[str]]

    @property
    def needs_target(self) -> bool:
        """``TARGET_LOG_PROBS in inputs``: False."""
        return TARGET_LOG_PROBS in self.inputs


@dataclass(frozen=True)
class BADGEStrategy(_EmbeddingStrategy):
    """The :class:`~bayesal.acquisition.base.Strategy` for :func:`badge`.

    Registered as ``badge``. Reads the pool's log-probs and embeddings
    (``inputs = {POOL_LOG_PROBS, EMBEDDINGS}``); ``select`` takes the embeddings as
    ``embeddings_N_D=``.
    """

    name: str = field(default="badge", init=False)
    inputs: ClassVar[frozenset[str]] = frozenset({POOL_LOG_PROBS, EMBEDDINGS})

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
        embeddings_N_D: Tensor | None = None,
        labelled_embeddings_L_D: Tensor | None = None,
    ) -> Selection:
        """:func:`badge` of ``log_probs_N_K_C [N, K, C]`` and ``embeddings_N_D [N, D]``
        (required); the target log-probs and labelled embeddings are ignored."""
        check_generator(generator, f"strategy {self.name!r}")
        if embeddings_N_D is None:
            check_log_probs(log_probs_N_K_C)  # a bad tensor is the first thing to report
            raise _missing(f"strategy {self.name!r}", "embeddings_N_D")
        return badge(log_probs_N_K_C, embeddings_N_D, batch_size, generator=generator)


@dataclass(frozen=True)
class CoresetStrategy(_EmbeddingStrategy):
    """The :class:`~bayesal.acquisition.base.Strategy` for :func:`coreset`.

    Registered as ``coreset``. Reads the pool's and the labelled inputs' embeddings
    (``inputs = {EMBEDDINGS, LABELLED_EMBEDDINGS}``), not the log-probs: ``select`` takes
    ``embeddings_N_D=`` and ``labelled_embeddings_L_D=`` (both required; ``[0, D]`` when
    nothing is labelled) and ``log_probs_N_K_C`` may be None (a tensor is checked and must
    have N rows).

    Attributes:
        chunk_budget: largest block of distances held at once (elements).
    """

    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET
    name: str = field(default="coreset", init=False)
    inputs: ClassVar[frozenset[str]] = frozenset({EMBEDDINGS, LABELLED_EMBEDDINGS})

    def __post_init__(self) -> None:
        try:
            _check_positive_int(self.chunk_budget, "chunk_budget")
        except InvalidInputError as error:
            raise InvalidInputError(f"strategy {self.name!r}: {error}") from None

    def select(
        self,
        log_probs_N_K_C: Tensor | None,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
        embeddings_N_D: Tensor | None = None,
        labelled_embeddings_L_D: Tensor | None = None,
    ) -> Selection:
        """:func:`coreset` of ``embeddings_N_D [N, D]`` given ``labelled_embeddings_L_D
        [L, D]``; the log-probs are checked when given but not read."""
        embeddings, labelled = _embedding_inputs(
            self.name, generator, log_probs_N_K_C, embeddings_N_D, labelled_embeddings_L_D
        )
        return coreset(
            embeddings,
            batch_size,
            generator=generator,
            labelled_embeddings_L_D=labelled,
            chunk_budget=self.chunk_budget,
        )


@dataclass(frozen=True)
class TypiClustStrategy(_EmbeddingStrategy):
    """The :class:`~bayesal.acquisition.base.Strategy` for :func:`typiclust`.

    Registered as ``typiclust``. Reads the pool's and the labelled inputs' embeddings
    (``inputs = {EMBEDDINGS, LABELLED_EMBEDDINGS}``), as :class:`CoresetStrategy` does.

    Attributes:
        max_clusters, min_cluster_size, num_neighbours, max_iter, chunk_budget: see
            :func:`typiclust`.
    """

    max_clusters: int = 500
    min_cluster_size: int = 5
    num_neighbours: int = 20
    max_iter: int = 100
    chunk_budget: int = DEFAULT_DISTANCE_CHUNK_BUDGET
    name: str = field(default="typiclust", init=False)
    inputs: ClassVar[frozenset[str]] = frozenset({EMBEDDINGS, LABELLED_EMBEDDINGS})

    def __post_init__(self) -> None:
        try:
            for attribute in ("max_clusters", "num_neighbours", "max_iter", "chunk_budget"):
                _check_positive_int(getattr(self, attribute), attribute)
            _check_positive_int(self.min_cluster_size, "min_cluster_size", minimum=0)
        except InvalidInputError as error:
            raise InvalidInputError(f"strategy {self.name!r}: {error}") from None

    def select(
        self,
        log_probs_N_K_C: Tensor | None,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
        embeddings_N_D: Tensor | None = None,
        labelled_embeddings_L_D: Tensor | None = None,
    ) -> Selection:
        """:func:`typiclust` of ``embeddings_N_D [N, D]`` given ``labelled_embeddings_L_D
        [L, D]``; the log-probs are checked when given but not read."""
        embeddings, labelled = _embedding_inputs(
            self.name, generator, log_probs_N_K_C, embeddings_N_D, labelled_embeddings_L_D
        )
        return typiclust(
            embeddings,
            batch_size,
            generator=generator,
            labelled_embeddings_L_D=labelled,
            max_clusters=self.max_clusters,
            min_cluster_size=self.min_cluster_size,
            num_neighbours=self.num_neighbours,
            max_iter=self.max_iter,
            chunk_budget=self.chunk_budget,
        )


def _embedding_inputs(
    name: str,
    generator: object,
    log_probs_N_K_C: object,
    embeddings_N_D: Tensor | None,
    labelled_embeddings_L_D: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """Check the inputs of a strategy that reads pool and labelled embeddings."""
    who = f"strategy {name!r}"
    check_generator(generator, who)
    if log_probs_N_K_C is not None:
        check_log_probs(log_probs_N_K_C)
    if embeddings_N_D is None:
        raise _missing(who, "embeddings_N_D")
    if labelled_embeddings_L_D is None:
        raise _missing(who, "labelled_embeddings_L_D")
    embeddings = _check_embeddings(embeddings_N_D, "embeddings_N_D")
    _check_log_probs_rows(log_probs_N_K_C, embeddings)
    return embeddings, _check_labelled(labelled_embeddings_L_D, embeddings)
