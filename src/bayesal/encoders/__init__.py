"""Encoders: frozen feature extractors, learned without labels on the pool or pretrained.

``encode_dataset(dataset, "simclr_mnist", seed=0)`` trains (once, cached) a contrastive
encoder on the pool's images and returns the dataset with its inputs replaced by
features, on which a small head (``mlp``) is trained every round. See docs/encoders.md.
"""

from bayesal.encoders.cache import EncoderCache, EncoderCacheWarning, default_cache_dir
from bayesal.encoders.features import compute_features, standardize
from bayesal.encoders.registry import (
    ENCODERS,
    available_encoders,
    build_encoder,
    encode_dataset,
    register_encoder,
)
from bayesal.encoders.trainers import (
    AutoencoderTrainer,
    EncoderTrainer,
    SimCLRTrainer,
    TrainingLog,
    nt_xent,
)

#: The built-in training recipes by short name (benchmarks).
BUILTIN_TRAINERS = {"simclr": SimCLRTrainer, "autoencoder": AutoencoderTrainer}

__all__ = [
    "BUILTIN_TRAINERS",
    "ENCODERS",
    "AutoencoderTrainer",
    "EncoderCache",
    "EncoderCacheWarning",
    "EncoderTrainer",
    "SimCLRTrainer",
    "TrainingLog",
    "available_encoders",
    "build_encoder",
    "compute_features",
    "default_cache_dir",
    "encode_dataset",
    "nt_xent",
    "register_encoder",
    "standardize",
]
