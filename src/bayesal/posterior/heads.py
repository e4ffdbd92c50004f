"""Output heads: what a network's raw output means for a task other than classification.

A classifier's network returns logits ``[N, C]``; the posteriors turn each sample's logits
into ``log_softmax`` log-probabilities ``[N, K, C]`` and training minimises the
cross-entropy. That is the default (no head) and its code path is unchanged. A head
replaces the two task-specific steps, and nothing else, for the posterior methods that
accept one (:attr:`~bayesal.posterior.PosteriorMethod.supports_heads`: MC dropout and
deep ensembles):

* :meth:`OutputHead.sample_output`: one parameter sample's raw output ``[..., W]`` ->
  the task's per-sample posterior output (the ``[N, K, W]`` every score of
  :mod:`bayesal.tasks` reads);
* :meth:`OutputHead.loss`: the training loss of a batch of raw outputs and labels
  (used by :func:`bayesal.training.fit` instead of the cross-entropy).

Heads:

* :class:`MultilabelHead`: ``L`` logits -> Bernoulli log-probabilities
  ``log p(y_l = 1) = logsigmoid(z_l)``; loss: binary cross-entropy with logits, averaged
  over items and labels;
* :class:`GaussianHead`: ``[mean, log-variance]`` -> the same pair, the log-variance
  floored at :data:`LOG_VAR_MIN` (a variance of ``1e-6``); loss: the Gaussian negative
  log-likelihood ``½ (log σ² + (y - μ)² / σ²)`` averaged over items (the constant
  ``½ log 2π`` left out). A network with one output (the mean) is wrapped in
  :class:`LearnedNoise`, which appends one learned log-variance shared by every input
  (homoscedastic noise, trained jointly with the network by the same loss).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LOG_VAR_MIN", "GaussianHead", "LearnedNoise", "MultilabelHead", "OutputHead"]

#: The smallest log-variance a Gaussian head gives (variance ``1e-6``): a network that
#: drives its log-variance lower (overfitting a few labels) cannot make the NLL infinite.
LOG_VAR_MIN = math.log(1e-6)


class OutputHead:
    """The task-specific steps of a posterior over networks (see the module docstring)."""

    #: The head's name (for messages).
    name: str = "head"

    def sample_output(self, raw: Tensor, dtype: torch.dtype) -> Tensor:
        """One or more samples' raw outputs ``[..., W]`` -> the posterior output
        ``[..., W]`` in ``dtype``."""
        raise NotImplementedError

    def loss(self, raw_n_W: Tensor, y_n: Tensor) -> Tensor:
        """The mean training loss of raw outputs ``[n, W]`` against labels ``y_n``."""
        raise NotImplementedError


class MultilabelHead(OutputHead):
    """L independent binary labels: logits ``[..., L]`` -> ``logsigmoid`` ``[..., L]``;
    loss: ``binary_cross_entropy_with_logits`` against labels ``[n, L]`` in {0, 1}."""

    name = "multilabel"

    def sample_output(self, raw: Tensor, dtype: torch.dtype) -> Tensor:
        return F.logsigmoid(raw.to(dtype))

    def loss(self, raw_n_W: Tensor, y_n: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(raw_n_W, y_n.to(raw_n_W.dtype))


class GaussianHead(OutputHead):
    """A Gaussian per input: ``[..., 2]`` (mean, log-variance) -> the same pair with the
    log-variance floored at :data:`LOG_VAR_MIN`; loss: Gaussian NLL against float labels
    ``[n]`` (or ``[n, 1]``)."""

    name = "regression"

    def sample_output(self, raw: Tensor, dtype: torch.dtype) -> Tensor:
        out = raw.to(dtype)
        return torch.stack([out[..., 0], out[..., 1].clamp_min(LOG_VAR_MIN)], dim=-1)

    def loss(self, raw_n_W: Tensor, y_n: Tensor) -> Tensor:
        mean, log_var = raw_n_W[:, 0], raw_n_W[:, 1].clamp_min(LOG_VAR_MIN)
        y = y_n.reshape(len(y_n)).to(raw_n_W.dtype)
        return (0.5 * (log_var + (y - mean).square() * torch.exp(-log_var))).mean()


class LearnedNoise(nn.Module):
    """``[n, 1]`` means -> ``[n, 2]`` (mean, one learned log-variance for every input).

    Appended to a regression network that returns only a mean; its ``log_var`` parameter
    (initially 0, a variance of 1) is trained with the network by the Gaussian NLL and
    saved with its weights. Under MC dropout it is deterministic (the noise variance is
    the same in every sample); an ensemble member learns its own.
    """

    def __init__(self) -> None:
        super().__init__()
        self.log_var = nn.Parameter(torch.zeros(1))

    def forward(self, mean_n_1: Tensor) -> Tensor:
        """``[n, 1] -> [n, 2]``."""
        return torch.cat([mean_n_1, self.log_var.to(mean_n_1.dtype).expand_as(mean_n_1)], dim=-1)
