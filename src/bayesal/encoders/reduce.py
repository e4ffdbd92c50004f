"""A learned low-dimensional map of an encoder's features: UMAP or PCA, fitted on the
pool only.

``encoder: {name: simclr_mnist, reduce: {method: umap, dims: 10}}`` gives the trials
the pool's features mapped to ``dims`` dimensions, the map fitted on the pool's
(standardised) features only, never on the test or validation inputs, which it is then
applied to. A graph posterior (``label_spreading``, ``graph_gp``) works far better in
such a space than on the raw 128-d features (``docs/semi_supervised.md``: UMAP-10 of
the SimCLR MNIST features, label spreading: 95.0% at 20 random labels against 88.5%).

UMAP (McInnes, Healy and Melville 2018) comes from umap-learn, an optional extra
(``pip install "bayesal[umap]"``); PCA from scikit-learn. The result is cached beside
the encoder's features (:meth:`bayesal.encoders.cache.EncoderCache.reduced`), keyed by
the features, the method and its parameters, so every trial of a config, and the next
run, reuse one fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bayesal.errors import InvalidInputError

__all__ = ["REDUCE_METHODS", "check_reduce", "fit_reduce"]

REDUCE_METHODS = ("umap", "pca")
#: UMAP's settings unless ``params`` says otherwise: min_dist 0 packs clusters tightly,
#: which suits a k-NN graph (the setting measured in docs/semi_supervised.md).
UMAP_DEFAULTS: dict[str, Any] = {"n_neighbors": 15, "min_dist": 0.0}


def check_reduce(method: object, dims: object, params: object) -> None:
    """Raise :class:`InvalidInputError` for an unknown method, a bad ``dims`` or params."""
    if method not in REDUCE_METHODS:
        raise InvalidInputError(
            f"reduce method must be one of {', '.join(REDUCE_METHODS)}, got {method!r}"
        )
    if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
        raise InvalidInputError(f"reduce dims must be a positive integer, got {dims!r}")
    if not isinstance(params, dict):
        raise InvalidInputError(f"reduce params must be a mapping, got {params!r}")
    if method == "pca" and params:
        raise InvalidInputError(f"reduce method 'pca' takes no params, got {params}")


def _umap(dims: int, params: dict[str, Any], seed: int) -> Any:
    try:
        import umap
    except ImportError:
        raise InvalidInputError(
            "reduce method 'umap' needs umap-learn: pip install \"bayesal[umap]\" "
            "(or `make umap-deps`)"
        ) from None
    try:
        return umap.UMAP(n_components=dims, random_state=seed, **{**UMAP_DEFAULTS, **params})
    except TypeError as exc:
        raise InvalidInputError(f"reduce params {params} are not UMAP's: {exc}") from None


def fit_reduce(
    method: str,
    dims: int,
    params: dict[str, Any],
    seed: int,
    train_x: Tensor,
    others: dict[str, Tensor | None],
) -> tuple[Tensor, dict[str, Tensor | None]]:
    """Fit the map on ``train_x`` (the pool) and apply it to ``others`` (None stays None).

    Returns float32 ``([N, dims], {split: [M, dims] or None})``."""
    check_reduce(method, dims, params)
    x = train_x.detach().cpu().double().numpy()
    if dims >= x.shape[1]:
        raise InvalidInputError(
            f"reduce dims ({dims}) must be below the features' width ({x.shape[1]})"
        )
    if method == "umap":
        reducer = _umap(dims, params, seed)
    else:
        from sklearn.decomposition import PCA

        reducer = PCA(n_components=dims, random_state=seed)
    out: dict[str, Tensor | None] = {}
    with warnings.catch_warnings():
        # UMAP says a seed makes it single-threaded: that is the point of the seed.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        fitted = np.asarray(reducer.fit_transform(x), dtype=np.float32)
        for split, features in others.items():
            if features is None:
                out[split] = None
                continue
            mapped = reducer.transform(features.detach().cpu().double().numpy())
            out[split] = torch.from_numpy(np.asarray(mapped, dtype=np.float32))
    return torch.from_numpy(fitted), out
