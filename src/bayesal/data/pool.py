"""The pool: which items are labelled, and with which label.

Ids are stable item ids (rows of ``Dataset.train_x``, or ids a user gave), never positions
in a filtered list, so an id means the same example in every round, process and file.
Label values are stored per id, with :data:`MISSING` where no label is known; a label
can be recorded in any order and corrected (``overwrite=True``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from bayesal.errors import InvalidInputError

IdArray = NDArray[np.int64]

#: The label value of an item that has no label.
MISSING = -1


def as_id_array(ids: ArrayLike | torch.Tensor | Iterable[int], what: str = "ids") -> IdArray:
    """Convert ``ids`` (list, numpy array or tensor of integers) to a 1-D int64 array."""
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    if not hasattr(ids, "__len__") and isinstance(ids, Iterable):
        ids = list(ids)  # a generator or other iterator of ids
    arr = np.asarray(ids)
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
        # Label values; MISSING where unknown (also for ids marked labelled without a value).
        self._values = np.full(int(num_items), MISSING, dtype=np.int64)

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
        pool._values = np.full(len(uniq), MISSING, dtype=np.int64)
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

    def positions(self, ids: ArrayLike | torch.Tensor) -> NDArray[np.intp]:
        """Positions of ``ids`` in :attr:`ids` (sorted order); unknown ids raise."""
        return self._positions(as_id_array(ids))

    def label(
        self,
        ids: ArrayLike | torch.Tensor,
        values: ArrayLike | torch.Tensor | None = None,
        *,
        overwrite: bool = False,
    ) -> None:
        """Mark ``ids`` labelled, with label ``values`` when given. All-or-nothing: on any
        error the pool is unchanged.

        An id that already has the same label is accepted (a repeat changes nothing); a
        different label needs ``overwrite=True`` (a correction).

        Raises InvalidInputError for duplicate ids, ids the pool does not manage, values
        of another length or below 0, and ids that are already labelled (with another
        value, or at all when no values are given) unless ``overwrite``.
        """
        arr = as_id_array(ids)
        uniq, counts = np.unique(arr, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(
                f"duplicate ids in one label call: {uniq[counts > 1][:5].tolist()}"
            )
        pos = self._positions(arr)
        if values is None:
            already = self._labelled[pos]
            if already.any() and not overwrite:
                raise InvalidInputError(f"ids already labelled: {arr[already][:5].tolist()}")
            self._labelled[pos] = True
            return
        vals = as_id_array(values, "labels")
        if len(vals) != len(arr):
            raise InvalidInputError(f"{len(arr)} ids but {len(vals)} labels")
        if vals.size and vals.min() < 0:
            raise InvalidInputError(f"labels must be >= 0, got {int(vals.min())}")
        old = self._values[pos]
        conflict = self._labelled[pos] & (old != vals)
        if conflict.any() and not overwrite:
            first = np.flatnonzero(conflict)[:5]
            raise InvalidInputError(
                "ids already labelled with another label (pass overwrite=True to correct): "
                + ", ".join(f"{arr[i]} has {old[i]}, got {vals[i]}" for i in first)
            )
        self._labelled[pos] = True
        self._values[pos] = vals

    def unlabel(self, ids: ArrayLike | torch.Tensor) -> None:
        """Forget the labels of ``ids`` (all-or-nothing; unknown ids raise)."""
        pos = self._positions(as_id_array(ids))
        self._labelled[pos] = False
        self._values[pos] = MISSING

    def labels(self, ids: ArrayLike | torch.Tensor | None = None) -> IdArray:
        """Label values of ``ids`` (default: every id, in :attr:`ids` order); :data:`MISSING`
        where an id has no label or was marked labelled without a value."""
        if ids is None:
            return self._values.copy()
        return self._values[self._positions(as_id_array(ids))]

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
