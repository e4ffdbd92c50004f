"""Negative observations in scoring: "item i is not class c", conditioned on per sample.

A negative observation (``ActiveLearner.teach_negative``, a "no" in a labelling
session's yes/no mode) says the item's label is not class ``c``. For each posterior
sample ``k`` the item's class distribution is conditioned on that:
``p_k(y | x, y not in E) = p_k(y | x) [y not in E] / sum_{y' not in E} p_k(y' | x)``, i.e.
the excluded classes get log-probability ``-inf`` and each sample is renormalised
(:func:`condition_log_probs`). Every strategy then reads the conditioned ``[N, K, C]``.

:class:`Exclusions` carries the excluded classes of the scored items that have any, by
position in the scored pool, so that chunked and sharded scoring
(:func:`~bayesal.scoring.stream.score_range`) condition each block as the in-memory path
conditions the whole pool: rows without a negative observation are left bit for bit as
they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Exclusions", "condition_log_probs"]


def condition_log_probs(log_probs: Tensor, excluded_n_C: Tensor) -> Tensor:
    """Condition log-probabilities on "the label is none of the excluded classes".

    Args:
        log_probs: ``[n, K, C]`` log-probs (one distribution per sample) or ``[n, C]``
            (one predictive per item).
        excluded_n_C: ``[n, C]`` bool, True where the class is excluded; each row must
            leave at least one class.

    Returns:
        The same shape: excluded classes at ``-inf``, each distribution renormalised over
        the others. A distribution that gives every remaining class probability zero
        (the observation is impossible under that sample) becomes uniform over the
        remaining classes: it says nothing about which of them the label is.
    """
    mask = excluded_n_C.to(log_probs.device, torch.bool)
    if log_probs.dim() == 3:
        mask = mask[:, None, :].expand_as(log_probs)
    masked = log_probs.masked_fill(mask, -math.inf)
    norm = torch.logsumexp(masked, dim=-1, keepdim=True)
    impossible = torch.isneginf(norm)
    if impossible.any():
        allowed = (~mask).to(log_probs.dtype)
        uniform = torch.log(allowed / allowed.sum(-1, keepdim=True))
        return torch.where(impossible, uniform, masked - norm)
    return masked - norm


@dataclass(frozen=True)
class Exclusions:
    """The excluded classes of the scored items that have any.

    Attributes:
        positions: ``[P]`` int64, ascending: positions in the scored pool (the order in
            which its items are scored).
        excluded: ``[P, C]`` bool, True where that item is not that class.
    """

    positions: Tensor
    excluded: Tensor

    def __len__(self) -> int:
        return len(self.positions)

    def block(self, start: int, log_probs_n_K_C: Tensor) -> Tensor:
        """The log-probs of positions ``[start, start + n)`` conditioned on the
        exclusions among them (the same tensor when there are none).

        Args:
            start: the position of the block's first row in the scored pool.
            log_probs_n_K_C: the block's log-probs.
        """
        lo = int(torch.searchsorted(self.positions, start))
        hi = int(torch.searchsorted(self.positions, start + len(log_probs_n_K_C)))
        if lo == hi:
            return log_probs_n_K_C
        local = (self.positions[lo:hi] - start).to(log_probs_n_K_C.device)
        out = log_probs_n_K_C.clone()
        out[local] = condition_log_probs(log_probs_n_K_C[local], self.excluded[lo:hi])
        return out
