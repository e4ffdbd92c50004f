"""Deterministic batch selection from pointwise scores: top-k with seeded tie-breaking."""

from __future__ import annotations

import torch
from torch import Tensor

from bayesal.acquisition._checks import check_batch_size, check_generator, check_scores
from bayesal.acquisition.base import Selection

__all__ = ["top_k"]


def top_k(scores_N: Tensor, k: int, *, generator: torch.Generator) -> Selection:
    """The ``k`` highest-scoring positions, in descending order of score.

    Equation: ``indices_B = argsort(-scores_N)[:k]``. Equal scores are ordered uniformly
    at random using ``generator`` (never by position, which would favour whatever came
    first in the pool, and never by global RNG). ``±inf`` scores are allowed and rank
    first / last.

    Args:
        scores_N: one score per input, shape ``[N]``; higher = acquire first; no NaN.
        k: batch size, ``1 <= k <= N``.
        generator: the source of randomness for tie-breaking; required.

    Returns:
        :class:`Selection` with ``indices_B`` (int64, shape ``[k]``, distinct positions
        along N) and ``scores_B = scores_N[indices_B]`` (non-increasing).

    Raises:
        InvalidInputError: for a non-1-D or non-float tensor, NaN, a ``k`` out of range or a
            missing generator.
    """
    check_generator(generator, "top_k")
    check_scores(scores_N)
    check_batch_size(k, scores_N.shape[0])
    N = scores_N.shape[0]
    # Shuffle, then stable-sort: equal scores keep their shuffled (uniformly random) order.
    perm_N = torch.randperm(N, generator=generator, device=generator.device).to(scores_N.device)
    order_N = torch.sort(scores_N[perm_N], descending=True, stable=True).indices
    indices_B = perm_N[order_N[:k]]
    return Selection(indices_B=indices_B, scores_B=scores_N[indices_B])
