"""Dense features of texts: TF-IDF or hashing (scikit-learn), or a user's embedding model.

A *featurizer* is fitted on the pool's texts only and then applied to any texts (the
test and validation sets are transformed, never fitted on):

* ``tfidf``: ``sklearn.feature_extraction.text.TfidfVectorizer`` (sublinear tf, word
  1- and 2-grams, at most ``max_features`` terms, accents stripped, lowercase), its
  vocabulary and idf learnt from the pool;
* ``hashing``: ``HashingVectorizer`` (``n_features`` buckets, word 1- and 2-grams,
  non-negative, l2-normalised): stateless, no vocabulary is learnt;
* ``embedding``: any user model given by import path ``package.module:callable`` that
  takes a list of strings and returns an array ``[n, D]`` (a sentence-transformer's
  ``encode``, say), called ``batch_size`` texts at a time.

The sparse TF-IDF / hashing matrices are then reduced by ``TruncatedSVD`` to
``svd_components`` dense columns (fitted on the pool, ``random_state=seed``; at most
``min(pool size, vocabulary) - 1`` columns: a smaller corpus gets fewer), so that the
MLP heads take them; ``svd_components: null`` keeps all ``max_features`` /
``n_features`` columns dense (large). Finally ``standardize`` (default) centres and
scales each column by the pool's mean and standard deviation. Same texts, parameters
and seed: the same features.

Features are computed each time a dataset or session reads its texts (TF-IDF and SVD of
a few thousand short texts take seconds); a user embedding model is not cached either
(the encoder cache keys tensors through ``nn.Module`` encoders, not strings): wrap it in
a cache of your own when it is slow.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bayesal.errors import InvalidInputError
from bayesal.registry import import_object, is_import_path

__all__ = ["FEATURE_METHODS", "TextFeaturizer", "fit_text_features"]

#: The feature methods and the parameters each takes (with their defaults).
FEATURE_METHODS: dict[str, dict[str, Any]] = {
    "tfidf": {
        "max_features": 20000,
        "ngram_range": (1, 2),
        "min_df": 1,
        "sublinear_tf": True,
        "svd_components": 128,
        "standardize": True,
    },
    "hashing": {
        "n_features": 2**18,
        "ngram_range": (1, 2),
        "svd_components": 128,
        "standardize": True,
    },
    "embedding": {"model": None, "batch_size": 64, "standardize": True},
}


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise InvalidInputError(f"text features: {name} must be a positive integer, got {value!r}")
    return int(value)


def _ngram_range(value: Any) -> tuple[int, int]:
    if (
        not isinstance(value, Sequence)
        or isinstance(value, str)
        or len(value) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
        or not 1 <= int(value[0]) <= int(value[1])
    ):
        raise InvalidInputError(
            f"text features: ngram_range must be two integers [low, high] with "
            f"1 <= low <= high, got {value!r}"
        )
    return int(value[0]), int(value[1])


def _check_params(method: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if method not in FEATURE_METHODS:
        raise InvalidInputError(
            f"unknown text features {method!r}; choose one of {sorted(FEATURE_METHODS)}"
        )
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"feature_params must be a mapping, got {type(params).__name__}")
    defaults = FEATURE_METHODS[method]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise InvalidInputError(
            f"text features {method!r}: unknown parameters {unknown}; it takes {sorted(defaults)}"
        )
    out = {**defaults, **params}
    for name in ("max_features", "n_features", "batch_size", "min_df"):
        if name in out:
            out[name] = _positive_int(out[name], name)
    if "ngram_range" in out:
        out["ngram_range"] = _ngram_range(out["ngram_range"])
    if "svd_components" in out and out["svd_components"] is not None:
        out["svd_components"] = _positive_int(out["svd_components"], "svd_components")
    if not isinstance(out["standardize"], bool):
        raise InvalidInputError(
            f"text features: standardize must be true or false, got {out['standardize']!r}"
        )
    if method == "embedding" and not is_import_path(out["model"]):
        raise InvalidInputError(
            "text features 'embedding' need model: an import path 'package.module:callable' "
            f"of a function from a list of strings to an array [n, D], got {out['model']!r}"
        )
    return out


def _embed(
    model: Callable[[list[str]], Any], path: str, texts: Sequence[str], batch_size: int
) -> NDArray[np.float32]:
    """``model`` on ``texts``, ``batch_size`` at a time, checked: ``[n, D]`` finite numbers,
    the same D for every batch."""
    parts: list[NDArray[np.float32]] = []
    width: int | None = None
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        try:
            out = model(batch)
        except Exception as exc:  # noqa: BLE001  the user's model: say whose error it is
            raise InvalidInputError(
                f"embedding model {path!r} failed on texts {start}..{start + len(batch) - 1}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if hasattr(out, "detach"):  # a torch tensor
            out = out.detach().cpu().numpy()
        try:
            array = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"embedding model {path!r} returned {type(out).__name__}, not an array of "
                f"numbers [n, D] ({exc})"
            ) from None
        if array.ndim != 2 or array.shape[0] != len(batch) or array.shape[1] < 1:
            raise InvalidInputError(
                f"embedding model {path!r} returned shape {list(array.shape)} for {len(batch)} "
                f"texts; it must return [n, D] = [{len(batch)}, D], one row per text"
            )
        if width is not None and array.shape[1] != width:
            raise InvalidInputError(
                f"embedding model {path!r} returned {array.shape[1]} columns for texts "
                f"{start}.., {width} before; every batch must have the same width D"
            )
        if not np.isfinite(array).all():
            raise InvalidInputError(
                f"embedding model {path!r} returned NaN or infinite values for texts {start}.."
            )
        width = array.shape[1]
        parts.append(array.astype(np.float32))
    return np.concatenate(parts)


class TextFeaturizer:
    """A featurizer fitted on a pool's texts (see the module docstring): ``transform``
    gives float32 features ``[n, width]`` of any texts. Build one with
    :func:`fit_text_features`."""

    def __init__(self, method: str, params: dict[str, Any], seed: int) -> None:
        self.method, self.params, self.seed = method, params, seed
        self._vectorizer: Any = None
        self._svd: Any = None
        self._model: Callable[[list[str]], Any] | None = None
        self._mean: NDArray[np.float64] | None = None
        self._scale: NDArray[np.float64] | None = None
        self.width = 0

    def _raw(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if self.method == "embedding":
            assert self._model is not None
            return _embed(self._model, self.params["model"], texts, self.params["batch_size"])
        sparse = self._vectorizer.transform(list(texts))
        if self._svd is None:
            return np.asarray(sparse.toarray(), dtype=np.float32)
        return np.asarray(self._svd.transform(sparse), dtype=np.float32)

    def fit(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Fit on ``texts`` (the pool) and return their features."""
        p = self.params
        if len(texts) < 2:
            raise InvalidInputError(f"text features need at least 2 pool texts, got {len(texts)}")
        if self.method == "embedding":
            model = import_object(p["model"], "embedding model")
            if not callable(model):
                raise InvalidInputError(f"embedding model {p['model']!r} is not callable")
            self._model = model
            raw = self._raw(texts)
        else:
            from sklearn.decomposition import TruncatedSVD
            from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

            common = {
                "ngram_range": p["ngram_range"],
                "strip_accents": "unicode",
                "lowercase": True,
            }
            if self.method == "tfidf":
                self._vectorizer = TfidfVectorizer(
                    max_features=p["max_features"],
                    min_df=p["min_df"],
                    sublinear_tf=p["sublinear_tf"],
                    dtype=np.float32,
                    **common,
                )
                try:
                    sparse = self._vectorizer.fit_transform(list(texts))
                except ValueError as exc:  # "empty vocabulary": only stop words, or min_df
                    raise InvalidInputError(f"text features 'tfidf': {exc}") from None
            else:
                self._vectorizer = HashingVectorizer(
                    n_features=p["n_features"],
                    alternate_sign=False,
                    norm="l2",
                    dtype=np.float32,
                    **common,
                )
                sparse = self._vectorizer.transform(list(texts))
            if p["svd_components"] is None:
                raw = np.asarray(sparse.toarray(), dtype=np.float32)
            else:
                used = int((np.asarray(sparse.getnnz(axis=0)) > 0).sum())
                k = max(1, min(p["svd_components"], len(texts) - 1, max(used - 1, 1)))
                self._svd = TruncatedSVD(
                    n_components=k, algorithm="randomized", random_state=self.seed
                )
                raw = np.asarray(self._svd.fit_transform(sparse), dtype=np.float32)
        if p["standardize"]:
            mean = raw.mean(axis=0, dtype=np.float64)
            std = raw.std(axis=0, dtype=np.float64)
            self._mean, self._scale = mean, np.where(std > 1e-12, std, 1.0)
        self.width = int(raw.shape[1])
        return self._finish(raw)

    def _finish(self, raw: NDArray[np.float32]) -> NDArray[np.float32]:
        if self._mean is None or self._scale is None:
            return raw
        out: NDArray[np.float32] = ((raw - self._mean) / self._scale).astype(np.float32)
        return out

    def transform(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Features ``[len(texts), width]`` of ``texts`` with what was fitted on the pool."""
        if self.width == 0:
            raise InvalidInputError("TextFeaturizer.transform before fit")
        if len(texts) == 0:
            return np.zeros((0, self.width), dtype=np.float32)
        return self._finish(self._raw(texts))


def fit_text_features(
    texts: Sequence[str],
    method: str = "tfidf",
    params: Mapping[str, Any] | None = None,
    *,
    seed: int = 0,
) -> tuple[TextFeaturizer, NDArray[np.float32]]:
    """Fit the ``method`` featurizer (``tfidf``, ``hashing``, ``embedding``) with
    ``params`` (see :data:`FEATURE_METHODS` for each method's parameters and defaults)
    on the pool's ``texts``; return it and the pool's features ``[N, width]``.

    Raises:
        InvalidInputError: an unknown method or parameter, a bad value, an embedding
            model that cannot be imported, fails, or returns anything but ``[n, D]``
            finite numbers.
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    featurizer = TextFeaturizer(method, _check_params(method, params or {}), int(seed))
    return featurizer, featurizer.fit(texts)
