"""Build a freshly initialised model by name, deterministically from a seed.

Models live in the ``model`` registry (:mod:`bayesal.registry`): a factory takes the
model's keyword parameters and returns a fresh ``nn.Module`` returning logits ``[N, C]``.
A user's model needs no registration: ``build_model("mypkg.nets:make_net", seed=0,
width=64)`` imports ``make_net`` and calls it with ``width=64``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bayesal.errors import InvalidInputError
from bayesal.models.gal_cnn import GalCNN
from bayesal.models.mlp import MLP
from bayesal.models.two_moons import TwoMoonsMLP
from bayesal.models.unet import make_unet
from bayesal.registry import Registry, accepted_parameters

#: The model registry: ``MODELS.register("my_net", make_net)``.
MODELS: Registry[nn.Module] = Registry("model")
MODELS.register("two_moons_mlp", TwoMoonsMLP)
MODELS.register("gal_cnn", GalCNN)
MODELS.register("mlp", MLP)
MODELS.register("unet", make_unet)  # per-pixel logits [N, C, H, W]: task="segmentation"
MODELS.mark_builtin()


def register_model(
    name: str, factory: Callable[..., nn.Module], *, overwrite: bool = False
) -> None:
    """Make ``build_model(name, seed=s, **params)`` return ``factory(**params)`` built
    under seed ``s``."""
    MODELS.register(name, factory, overwrite=overwrite)


def available_models() -> list[str]:
    """The names :func:`build_model` accepts, sorted."""
    return MODELS.names()


def check_model(name: str, params: dict[str, Any]) -> Callable[..., nn.Module]:
    """The factory of ``name`` after checking that it accepts ``params`` (nothing is built)."""
    factory = MODELS.resolve(name)
    accepted = accepted_parameters(factory)
    if accepted is not None:
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise InvalidInputError(
                f"model {name!r} got unexpected argument(s) {', '.join(unknown)}; "
                f"it accepts: {', '.join(accepted) if accepted else 'nothing'}"
            )
    return factory


def build_model(name: str, *, seed: int, **kwargs: Any) -> nn.Module:
    """A new model ``name`` built with ``kwargs``, its parameters initialised from ``seed``.

    ``name`` is a registered model or an import path ``package.module:factory``. The same
    name, kwargs and seed give identical parameters. The global torch RNG is seeded only
    inside a forked RNG scope, so the caller's random state is untouched.

    Raises:
        InvalidInputError: unknown ``name`` (the message lists the known names), a keyword
            argument the model does not take, a bad value, a factory that does not return
            an ``nn.Module``, or a seed that is not an int.
    """
    factory = check_model(name, kwargs)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    # Forking the CPU RNG (devices=[]) keeps global state intact; the models are built on
    # the CPU, so no CUDA RNG is touched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise InvalidInputError(
            f"model {name!r} returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model
