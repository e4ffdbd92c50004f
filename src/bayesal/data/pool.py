"""The pool: which training ids are labelled and which are not.

Ids are dataset row ids (rows of ``Dataset.train_x``), never positions in a filtered
list, so an id means the same example in every round, process and file.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from bayesal.errors import InvalidInputError

IdArray = NDArray[np.int64]


def as_id_array(ids: ArrayLike | torch.Tensor | Iterable[int], what: str = "ids") -> IdArray:
    """Convert ``ids`` (list, numpy array or tensor of integers) to a 1-D int64 array."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids if hasattr(ids, "__len__") else list(ids))
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be 1-D, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class Pool:
    """Labelled / unlabelled bookkeeping over a fixed set of item ids.

    ``Pool(n)`` manages ids ``0 .. n-1`` (all unlabelled); ``Pool.from_ids(ids)`` manages
    an arbitrary set of distinct non-negative ids. Both views are returned sorted, as
    fresh int64 arrays (mutating them does not change the pool).
    """

    def __init__(self, num_items: int) -> None:
        if isinstance(num_items, bool) or not isinstance(num_items, int | np.integer):
            raise InvalidInputError(f"num_items must be an int, got {type(num_items).__name__}")
        if num_items < 0:
            raise InvalidInputError(f"num_items must be >= 0, got {num_items}")
        self._ids: IdArray = np.arange(int(num_items), dtype=np.int64)
        self._labelled = np.zeros(int(num_items), dtype=bool)

    @classmethod
    def from_ids(cls, ids: ArrayLike | torch.Tensor, labelled_ids: ArrayLike | None = None) -> Pool:
        """A pool over the distinct non-negative ``ids``; ``labelled_ids`` start labelled."""
        arr = as_id_array(ids)
        if arr.size and arr.min() < 0:
            raise InvalidInputError(f"ids must be >= 0, got {int(arr.min())}")
        uniq = np.unique(arr)
        if len(uniq) != len(arr):
            raise InvalidInputError(f"ids must be distinct: {len(arr) - len(uniq)} duplicates")
        pool = cls(0)
        pool._ids = uniq
        pool._labelled = np.zeros(len(uniq), dtype=bool)
        if labelled_ids is not None:
            pool.label(labelled_ids)
        return pool

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"Pool(items={len(self)}, labelled={self.num_labelled})"

    @property
    def ids(self) -> IdArray:
        """Every id the pool manages, sorted."""
        return self._ids.copy()

    @property
    def labelled_ids(self) -> IdArray:
        """Sorted ids that have a label."""
        return self._ids[self._labelled]

    @property
    def unlabelled_ids(self) -> IdArray:
        """Sorted ids still without a label."""
        return self._ids[~self._labelled]

    @property
    def num_labelled(self) -> int:
        return int(self._labelled.sum())

    @property
    def num_unlabelled(self) -> int:
        return len(self._ids) - self.num_labelled

    def labelled_mask(self) -> NDArray[np.bool_]:
        """Boolean mask over :attr:`ids` (sorted), True where labelled."""
        return self._labelled.copy()

    def _positions(self, ids: IdArray) -> NDArray[np.intp]:
        pos = np.searchsorted(self._ids, ids)
        known = pos < len(self._ids)
        known[known] = self._ids[pos[known]] == ids[known]
        if not known.all():
            raise InvalidInputError(f"unknown ids (not in the pool): {ids[~known][:5].tolist()}")
        return pos

    def is_labelled(self, ids: ArrayLike | torch.Tensor) -> NDArray[np.bool_]:
        """For each id, whether it is labelled; unknown ids raise InvalidInputError."""
        arr = as_id_array(ids)
        return self._labelled[self._positions(arr)]

    def label(self, ids: ArrayLike | torch.Tensor) -> None:
        """Mark ``ids`` labelled. All-or-nothing: on any error the pool is unchanged.

        Raises InvalidInputError for duplicate ids, ids the pool does not manage, and ids
        that are already labelled.
        """
        arr = as_id_array(ids)
        uniq, counts = np.unique(arr, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(
                f"duplicate ids in one label call: {uniq[counts > 1][:5].tolist()}"
            )
        pos = self._positions(arr)
        already = self._labelled[pos]
        if already.any():
            raise InvalidInputError(f"ids already labelled: {arr[already][:5].tolist()}")
        self._labelled[pos] = True

    def subset_unlabelled(self, size: int, rng: np.random.Generator) -> IdArray:
        """A uniformly random subset of ``size`` unlabelled ids (sorted).

        Returns every unlabelled id when ``size`` is at least their number; this is the
        optional random subset scored each round to bound the cost of scoring.
        """
        if size < 1:
            raise InvalidInputError(f"subset size must be >= 1, got {size}")
        unlabelled = self.unlabelled_ids
        if size >= len(unlabelled):
            return unlabelled
        return np.sort(rng.choice(unlabelled, size=size, replace=False))


def balanced_initial_ids(
    labels: ArrayLike | torch.Tensor, n: int, num_classes: int, rng: np.random.Generator
) -> IdArray:
    """``n`` ids drawn without replacement, split as evenly as possible over the classes.

    Every class gets ``n // num_classes`` ids; the ``n % num_classes`` remaining ones go
    to classes chosen at random (so no class is favoured by its index). ``labels[i]`` is
    the label of id ``i``. Returns sorted int64 ids; raises InvalidInputError when a
    class has fewer examples than its share.
    """
    labels_N = as_id_array(labels, "labels")
    if n < 1:
        raise InvalidInputError(f"n must be >= 1, got {n}")
    if num_classes < 1:
        raise InvalidInputError(f"num_classes must be >= 1, got {num_classes}")
    quota_C = np.full(num_classes, n // num_classes, dtype=np.int64)
    extra = n % num_classes
    if extra:
        quota_C[rng.choice(num_classes, size=extra, replace=False)] += 1
    chosen = []
    for c in range(num_classes):
        ids_c = np.flatnonzero(labels_N == c)
        if len(ids_c) < quota_C[c]:
            raise InvalidInputError(
                f"class {c} has {len(ids_c)} examples but the balanced initial set of {n} "
                f"needs {quota_C[c]}; lower initial_labels"
            )
        chosen.append(rng.choice(ids_c, size=int(quota_C[c]), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)
