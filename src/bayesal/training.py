"""Fit a fresh model on the labelled examples.

Training is deterministic under its ``seed`` and leaves the global RNG untouched: the
shuffles come from a private ``torch.Generator``, and dropout (which in train mode
reads torch's global CPU generator) runs inside ``torch.random.fork_rng`` with that
generator re-seeded, so the caller's global random state is restored afterwards.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from bayesal.errors import InvalidInputError


class TrainConfig(BaseModel):
    """How to train one model on the labelled set.

    The number of passes is ``max(epochs, ceil(min_steps / steps_per_epoch))`` whole
    epochs: ``epochs`` governs large labelled sets, ``min_steps`` small ones (10 labels at
    batch size 64 make one step per epoch, so 50 epochs alone would be 50 steps, far too
    few to fit anything). Defaults: Adam at its standard 1e-3 needs no tuning of a
    momentum or schedule; 500 steps fit the small MLPs and CNNs used here on tiny
    labelled sets; batch 64 is the common choice in the BALD / BatchBALD experiments;
    no weight decay unless asked (its right value depends on the data set size).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(default=0.0, ge=0, description="L2 penalty (optimizer's)")
    momentum: float = Field(default=0.9, ge=0, lt=1, description="SGD momentum (sgd only)")
    epochs: int = Field(default=50, ge=1, description="minimum passes over the labelled set")
    batch_size: int = Field(default=64, ge=1)
    min_steps: int = Field(default=500, ge=0, description="minimum gradient steps")

    def num_epochs(self, num_examples: int) -> int:
        """Whole epochs run on ``num_examples`` labelled examples."""
        steps_per_epoch = math.ceil(num_examples / self.batch_size)
        return max(self.epochs, math.ceil(self.min_steps / steps_per_epoch))


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _seeds(seed: int) -> tuple[int, int]:
    """Two independent 63-bit seeds (shuffling, dropout) derived from ``seed``."""
    state = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint64)
    return int(state[0] >> np.uint64(1)), int(state[1] >> np.uint64(1))


def fit(model: nn.Module, x: Tensor, y: Tensor, config: TrainConfig, *, seed: int) -> nn.Module:
    """Train ``model`` in place on inputs ``x`` ``[N, ...]`` and labels ``y`` ``[N]``.

    Minimises the mean cross-entropy of the model's outputs (logits or log-probs: both
    give the same loss, since log_softmax of log-probs is the identity). Dropout is active
    during training; every epoch draws a fresh shuffle. Deterministic under ``seed``;
    the global RNG state is the same after the call as before. Returns the model in
    eval mode. CPU training (the model's device must be the CPU).
    """
    if x.ndim < 1 or y.ndim != 1 or len(x) != len(y):
        raise InvalidInputError(
            f"x must be [N, ...] and y [N] with the same N, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if len(y) == 0:
        raise InvalidInputError("cannot train on an empty labelled set")
    shuffle_seed, dropout_seed = _seeds(seed)
    shuffle_gen = torch.Generator().manual_seed(shuffle_seed)
    optimizer = _make_optimizer(model, config)
    n = len(y)
    y = y.long()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(dropout_seed)
        model.train()
        for _ in range(config.num_epochs(n)):
            perm = torch.randperm(n, generator=shuffle_gen)
            for start in range(0, n, config.batch_size):
                batch = perm[start : start + config.batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
    model.eval()
    return model
