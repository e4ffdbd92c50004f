"""Network architectures. Each returns logits ``[N, C]`` and is an ``nn.Sequential``, so the
MC-dropout posterior can compute the layers before the first dropout once per input. Each
also has ``features(x)``, its penultimate features (:mod:`bayesal.models.features`), which
embedding strategies read."""

from bayesal.models.features import FeatureModel, sequential_features
from bayesal.models.gal_cnn import GalCNN
from bayesal.models.mlp import MLP
from bayesal.models.registry import available_models, build_model
from bayesal.models.two_moons import TWO_MOONS_DROPOUT, TwoMoonsMLP

__all__ = [
    "MLP",
    "TWO_MOONS_DROPOUT",
    "FeatureModel",
    "GalCNN",
    "TwoMoonsMLP",
    "available_models",
    "build_model",
    "sequential_features",
]
