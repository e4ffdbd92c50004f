"""The encoder registry, and a dataset's inputs replaced by their features.

A registered encoder factory (or an import path ``package.module:factory``) returns
either

- an :class:`~bayesal.encoders.trainers.EncoderTrainer` (the built-ins ``simclr``
  and ``autoencoder``, also registered as ``simclr_mnist`` and ``autoencoder_mnist``):
  the encoder is trained without labels on the pool's inputs, once per (pool content,
  encoder and parameters, seed), and cached;
- or an ``nn.Module`` mapping inputs ``[N, ...]`` to features ``[N, D]`` (a pretrained
  backbone): used as given, no training step (its features are cached by its weights'
  digest).

:func:`encode_dataset` returns the dataset with ``train_x`` / ``test_x`` (and ``val_x``)
replaced by features, standardised with the pool's mean and std, and the encoder's
record (training time apart from any round's cost).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from torch import nn

from bayesal.data.dataset import Dataset
from bayesal.encoders.cache import CACHE_FORMAT, EncoderCache, _json_key, state_digest
from bayesal.encoders.features import standardize
from bayesal.encoders.reduce import check_reduce
from bayesal.encoders.trainers import AutoencoderTrainer, EncoderTrainer, SimCLRTrainer
from bayesal.errors import InvalidInputError
from bayesal.registry import Registry

#: The encoder registry: ``ENCODERS.register("my_encoder", factory)``.
ENCODERS: Registry[Any] = Registry("encoder")
ENCODERS.register("simclr_mnist", SimCLRTrainer)
ENCODERS.register("autoencoder_mnist", AutoencoderTrainer)
# The same recipes under general names: nothing in them is specific to MNIST (any image
# size and channel count; measured on digits' 8x8 images too, docs/semi_supervised.md).
ENCODERS.register("simclr", SimCLRTrainer)
ENCODERS.register("autoencoder", AutoencoderTrainer)
ENCODERS.mark_builtin()


def register_encoder(name: str, factory: Any, *, overwrite: bool = False) -> None:
    """Register ``factory`` (returning an EncoderTrainer or an ``nn.Module``) as ``name``."""
    ENCODERS.register(name, factory, overwrite=overwrite)


def available_encoders() -> list[str]:
    """The registered encoder names, sorted."""
    return ENCODERS.names()


def build_encoder(name: str, **params: Any) -> EncoderTrainer | nn.Module:
    """``factory(**params)`` of encoder ``name`` (parameters checked first).

    Raises:
        InvalidInputError: an unknown name, parameters the factory does not take, or a
            factory that returns neither an EncoderTrainer nor an ``nn.Module``.
    """
    built = ENCODERS.build(name, **params)
    if not isinstance(built, EncoderTrainer | nn.Module):
        raise InvalidInputError(
            f"encoder {name!r} returned {type(built).__name__}; an encoder factory returns "
            "a torch.nn.Module mapping inputs to features (or a bayesal EncoderTrainer)"
        )
    return built


def encode_dataset(
    dataset: Dataset,
    name: str,
    params: dict[str, Any] | None = None,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    standardize_features: bool = True,
    reduce: dict[str, Any] | None = None,
) -> tuple[Dataset, dict[str, Any]]:
    """``dataset`` with its inputs replaced by features of encoder ``name``.

    A trainable encoder is trained on ``dataset.train_x`` only (never on the test or
    validation inputs, never on any label) under ``seed``, or loaded from the cache
    (:class:`~bayesal.encoders.cache.EncoderCache` in ``cache_dir``). Features of the
    pool, the test set and the validation split are computed once (chunked, without
    gradients) and cached. With ``standardize_features`` every feature is shifted and
    scaled by its mean and std over the pool. With ``reduce`` (``{method: umap | pca,
    dims, params, seed}``) the (standardised) features are then mapped to ``dims``
    dimensions by a map fitted on the pool only (:mod:`bayesal.encoders.reduce`), cached
    beside them.

    Returns ``(dataset of features [N, D], record)``; the record holds the encoder's
    training record (``train_seconds``, ``epochs``, ``loss_per_epoch``, versions, the
    pool's digest) plus whether the encoder and the features were loaded from the cache.
    """
    params = dict(params or {})
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"encoder seed must be a non-negative integer, got {seed!r}")
    if reduce is not None:
        unknown = set(reduce) - {"method", "dims", "params", "seed"}
        if unknown:
            raise InvalidInputError(
                f"reduce takes method, dims, params, seed; got {sorted(unknown)}"
            )
        check_reduce(reduce.get("method"), reduce.get("dims"), reduce.get("params", {}))
    built = build_encoder(name, **params)
    cache = EncoderCache(cache_dir)
    if isinstance(built, EncoderTrainer):
        encoder, record = cache.trained_encoder(name, built, dataset.train_x, seed=seed)
        key = record["key"]
    else:
        encoder = built
        key = _json_key(
            {
                "format": CACHE_FORMAT,
                "encoder": name,
                "params": params,
                "weights": state_digest(encoder),
            }
        )
        record = {
            "key": key,
            "encoder": name,
            "params": params,
            "pretrained": True,
            "train_seconds": 0.0,
            "encoder_loaded": True,
        }
    folder = cache.folder(name, key)
    raw, timing = cache.features(
        folder,
        key,
        encoder,
        {"train": dataset.train_x, "test": dataset.test_x, "val": dataset.val_x},
    )
    train_f, test_f, val_f = raw["train"], raw["test"], raw["val"]
    assert train_f is not None and test_f is not None
    if standardize_features:
        if val_f is not None:
            train_f, test_f, val_f = standardize(train_f, test_f, val_f)
        else:
            train_f, test_f = standardize(train_f, test_f)
    if reduce is not None:
        reduce = {"params": {}, "seed": 0, **reduce}
        mapped, reduce_timing = cache.reduced(
            folder,
            _json_key({"features": key, "standardize": standardize_features}),
            reduce,
            {"train": train_f, "test": test_f, "val": val_f},
        )
        train_f, test_f, val_f = mapped["train"], mapped["test"], mapped["val"]
        assert train_f is not None and test_f is not None
        timing = {**timing, **reduce_timing, "reduce": reduce}
    features = dataclasses.replace(dataset, train_x=train_f, test_x=test_f, val_x=val_f)
    record = {**record, **timing, "feature_dim": int(train_f.shape[1]), "cache_path": str(folder)}
    return features, record
