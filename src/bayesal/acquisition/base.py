"""What every acquisition strategy looks like to the loop.

A *score* is a pure function ``log_probs_N_K_C -> scores_N`` (higher = acquire first).
A *strategy* turns log-probs into the positions of a batch to acquire: top-k of a score,
a stochastic sample from a score, or a joint batch method such as BatchBALD. Strategies
are looked up by name in the registry (``bayesal.acquisition.registry``). Strategies built
on one score per input also satisfy :class:`PointwiseStrategy`, so a large pool can be
scored chunk by chunk and selected from once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass(frozen=True)
class Selection:
    """A chosen batch: ``indices_B`` are positions along N of the scored tensor, in pick
    order; ``scores_B`` is the score of each pick (the greedy joint score for batch
    methods)."""

    indices_B: Tensor
    scores_B: Tensor


@runtime_checkable
class Strategy(Protocol):
    """A named way to choose ``batch_size`` of N scored inputs."""

    name: str
    #: True when the strategy also needs ``log_probs_target_M_K_C`` (EPIG).
    needs_target: bool

    def select(
        self,
        log_probs_N_K_C: Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: Tensor | None = None,
    ) -> Selection:
        """Choose ``batch_size`` distinct positions along N."""
        ...


@runtime_checkable
class PointwiseStrategy(Strategy, Protocol):
    """A strategy whose batch depends on the pool only through one score per input.

    The loop can then score a large pool chunk by chunk (never holding the whole
    ``[N, K, C]``), concatenate the ``scores_N`` and select once at the end;
    ``select(log_probs, b, generator=g)`` equals
    ``select_from_scores(score(log_probs, generator=g), b, generator=g)``.
    """

    def score(self, log_probs_N_K_C: Tensor, *, generator: torch.Generator) -> Tensor:
        """``scores_N`` of shape ``[N]`` for ``log_probs_N_K_C`` of shape ``[N, K, C]``;
        higher = acquire first."""
        ...

    def select_from_scores(
        self, scores_N: Tensor, batch_size: int, *, generator: torch.Generator
    ) -> Selection:
        """Choose ``batch_size`` distinct positions along N from precomputed scores."""
        ...
