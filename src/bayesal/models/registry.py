"""Build a freshly initialised model by name, deterministically from a seed."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bayesal.errors import InvalidInputError
from bayesal.models.gal_cnn import GalCNN
from bayesal.models.two_moons import TwoMoonsMLP

_MODELS: dict[str, Callable[..., nn.Module]] = {
    "two_moons_mlp": TwoMoonsMLP,
    "gal_cnn": GalCNN,
}


def available_models() -> list[str]:
    """The names :func:`build_model` accepts, sorted."""
    return sorted(_MODELS)


def build_model(name: str, *, seed: int, **kwargs: Any) -> nn.Module:
    """A new model ``name`` built with ``kwargs``, its parameters initialised from ``seed``.

    The same name, kwargs and seed give identical parameters. The global torch RNG is
    seeded only inside a forked RNG scope, so the caller's random state is untouched.

    Raises:
        InvalidInputError: unknown ``name`` (the message lists the known names), a keyword
            argument the model does not take, a bad value, or a seed that is not an int.
    """
    if name not in _MODELS:
        raise InvalidInputError(
            f"unknown model {name!r}; available models: {', '.join(available_models())}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    factory = _MODELS[name]
    accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise InvalidInputError(
            f"model {name!r} got unexpected argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted)}"
        )
    # Forking the CPU RNG (devices=[]) keeps global state intact; the models are built on
    # the CPU, so no CUDA RNG is touched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory(**kwargs)
