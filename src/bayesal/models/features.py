"""Penultimate-layer features: the protocol the learner uses to embed inputs.

Strategies that read embeddings (BADGE, coreset, TypiClust; :mod:`bayesal.acquisition.
embedding`) see each input through the model's *penultimate features*: the input of its
final linear layer. A model exposes them with a ``features(x) -> [N, D]`` method
(:class:`FeatureModel`); every built-in model has one. The learner calls it in eval mode
(dropout off) on the trained model, so the features are deterministic.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor, nn

__all__ = ["FeatureModel", "sequential_features"]


@runtime_checkable
class FeatureModel(Protocol):
    """A model that exposes its penultimate features: ``features(x)`` returns ``[N, D]``,
    the input of the final linear layer for inputs ``x`` (``[N, ...]``), so that
    ``model(x)`` equals ``last_layer(model.features(x))``."""

    def features(self, x: Tensor) -> Tensor:
        """``[N, D]`` penultimate features of ``x``."""
        ...


def sequential_features(model: nn.Sequential, x: Tensor) -> Tensor:
    """``x`` through every layer of ``model`` but the last: the input ``[N, D]`` of the
    final layer (a dropout before it acts as in ``model``'s current mode)."""
    layers = list(model)
    for layer in layers[:-1]:
        x = layer(x)
    return x.flatten(1)
