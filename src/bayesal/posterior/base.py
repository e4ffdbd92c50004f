"""The contract every posterior approximation meets: inputs -> log-probs ``[N, K, C]``.

A posterior first *draws* K parameter samples (dropout masks, ensemble members, ...).
A draw is then applied to any number of input batches, so that pool chunks and target
inputs (EPIG) all see the same K parameter samples ("consistent" sampling).

Devices: a posterior computes on the device of its model (see :func:`model_device`).
Inputs may live anywhere (typically the CPU): they are moved to the model's device, chunk
by chunk, and floating-point inputs are converted to the model's parameter dtype
(:func:`to_model_input`); the log-probs come back on the model's device.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from bayesal.device import model_device, model_dtype, to_model_input
from bayesal.errors import InvalidInputError

__all__ = [
    "Posterior",
    "PosteriorDraw",
    "check_chunk_size",
    "check_generator",
    "check_inputs",
    "check_num_samples",
    "evaluation_mode",
    "log_probs_in_chunks",
    "model_device",
    "model_dtype",
    "to_model_input",
]


class PosteriorDraw(ABC):
    """K fixed parameter samples. ``log_probs`` gives the same samples on every call."""

    @property
    @abstractmethod
    def num_samples(self) -> int:
        """K, the number of parameter samples in this draw."""

    @abstractmethod
    def log_probs(self, inputs_N: Tensor) -> Tensor:
        """Log-probabilities ``[N, K, C]`` of a batch of N inputs under the K samples, on
        the model's device (inputs on any device are moved there)."""


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
        """``[N, K, C]`` log-probs of ``inputs_N``, one draw shared by all chunks; on the
        model's device, whatever the device of ``inputs_N``."""
        check_chunk_size(chunk_size)
        draw = self.draw(num_samples, generator)
        return log_probs_in_chunks(draw, inputs_N, chunk_size)


def log_probs_in_chunks(draw: PosteriorDraw, inputs_N: Tensor, chunk_size: int) -> Tensor:
    """Apply one draw to ``inputs_N`` chunk by chunk and concatenate the ``[N, K, C]``."""
    check_chunk_size(chunk_size)
    check_inputs(inputs_N)
    if len(inputs_N) <= chunk_size:
        return draw.log_probs(inputs_N)
    chunks = [
        draw.log_probs(inputs_N[i : i + chunk_size]) for i in range(0, len(inputs_N), chunk_size)
    ]
    return torch.cat(chunks, dim=0)


def check_chunk_size(chunk_size: object) -> None:
    """Raise :class:`InvalidInputError` unless ``chunk_size`` is a positive int."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def check_num_samples(num_samples: object) -> int:
    """Return ``num_samples`` if it is a positive int, else raise :class:`InvalidInputError`."""
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise InvalidInputError(f"num_samples must be a positive integer, got {num_samples!r}")
    return num_samples


def choose_members(
    m: int, num_samples: int, generator: torch.Generator, *, what: str, hint: str = ""
) -> list[int]:
    """The members of a draw of ``num_samples`` out of a fixed set of ``m`` (trees,
    bootstrap members): all of them in order, or a sorted random subset chosen by
    ``generator``. ``what`` names the posterior and its members in the error (e.g.
    ``"posterior 'forest' has 3 estimators"``), ``hint`` says how to get more."""
    check_num_samples(num_samples)
    if num_samples > m:
        raise InvalidInputError(
            f"{what}, so at most {m} samples; got num_samples={num_samples}"
            + (f" ({hint})" if hint else "")
        )
    if num_samples == m:
        return list(range(m))
    return sorted(torch.randperm(m, generator=generator)[:num_samples].tolist())


def check_generator(generator: object) -> torch.Generator:
    """Return ``generator`` if it is a :class:`torch.Generator`, else raise."""
    if not isinstance(generator, torch.Generator):
        raise InvalidInputError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(generator).__name__}"
        )
    return generator


def check_inputs(inputs_N: object) -> Tensor:
    """Return ``inputs_N`` if it is a tensor with a leading batch dimension, else raise."""
    if not isinstance(inputs_N, Tensor):
        raise InvalidInputError(f"inputs must be a torch.Tensor, got {type(inputs_N).__name__}")
    if inputs_N.dim() < 1:
        raise InvalidInputError("inputs must have a leading batch dimension N, got a scalar")
    return inputs_N


@contextmanager
def evaluation_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` and all its submodules in eval mode; restore each one's own mode on exit.

    Restoring flag by flag (not ``module.train(mode)``) keeps a mixed state, such as a
    frozen BatchNorm inside a training model, exactly as the caller left it.
    """
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training
