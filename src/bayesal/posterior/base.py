"""The contract every posterior approximation meets: inputs -> log-probs ``[N, K, C]``.

A posterior first *draws* K parameter samples (dropout masks, ensemble members, ...).
A draw is then applied to any number of input batches, so that pool chunks and target
inputs (EPIG) all see the same K parameter samples ("consistent" sampling).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor


class PosteriorDraw(ABC):
    """K fixed parameter samples. ``log_probs`` gives the same samples on every call."""

    @property
    @abstractmethod
    def num_samples(self) -> int:
        """K, the number of parameter samples in this draw."""

    @abstractmethod
    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """Log-probabilities ``[N, K, C]`` of a batch of N inputs under the K samples."""


class Posterior(ABC):
    """An approximate posterior over a classifier's parameters."""

    @abstractmethod
    def draw(self, num_samples: int, generator: torch.Generator) -> PosteriorDraw:
        """Draw ``num_samples`` parameter samples using ``generator`` for randomness."""

    def log_probs(
        self,
        inputs_N: Tensor,
        num_samples: int,
        generator: torch.Generator,
        chunk_size: int = 4096,
    ) -> Tensor:
        """``[N, K, C]`` log-probs of ``inputs_N``, one draw shared by all chunks."""
        draw = self.draw(num_samples, generator)
        return log_probs_in_chunks(draw, inputs_N, chunk_size)


def log_probs_in_chunks(draw: PosteriorDraw, inputs_N: Tensor, chunk_size: int) -> Tensor:
    """Apply one draw to ``inputs_N`` chunk by chunk and concatenate the ``[N, K, C]``."""
    chunks = [draw.log_probs(inputs_N[i : i + chunk_size]) for i in range(0, len(inputs_N), chunk_size)]
    return torch.cat(chunks, dim=0)
