"""Label stores for tasks whose labels are not class indices.

:class:`~bayesal.data.pool.Pool` keeps one int64 class index per id (``-1`` missing).
A multi-label label is a 0/1 vector ``[L]`` and a regression label a float, so those tasks
keep their values in a :class:`ValuePool`: the same bookkeeping of ids and of which are
labelled (every :class:`~bayesal.data.pool.Pool` method but the three that touch values
is inherited), with values of any fixed shape and dtype and a ``missing`` value of the
task's choice (multi-label: rows of ``-1``; regression: NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from bayesal.data.pool import Pool, as_id_array
from bayesal.errors import InvalidInputError

__all__ = ["ValuePool"]


class ValuePool(Pool):
    """A :class:`~bayesal.data.pool.Pool` whose label values are arrays ``[*shape]`` of
    ``dtype`` (``missing`` where an id has no label).

    Args:
        pool: the pool whose ids (and labelled flags) it takes over.
        shape: the shape of one label value (``()`` for a float, ``(L,)`` for a vector).
        dtype: the values' numpy dtype.
        missing: the value of every entry of an unlabelled id.
    """

    def __init__(self, pool: Pool, shape: tuple[int, ...], dtype: Any, missing: float) -> None:
        super().__init__(0)
        self._ids = pool.ids
        self._labelled = pool.labelled_mask()
        self.value_shape = tuple(shape)
        self.missing = missing
        self._store: NDArray[Any] = np.full((len(self._ids), *shape), missing, dtype=dtype)

    def label(
        self,
        ids: ArrayLike | torch.Tensor,
        values: ArrayLike | torch.Tensor | None = None,
        *,
        overwrite: bool = False,
    ) -> None:
        """Mark ``ids`` labelled with ``values`` (``[n, *shape]``, already checked by the
        task). All-or-nothing. A repeat of the same value is accepted; another value needs
        ``overwrite=True``.

        Raises:
            InvalidInputError: duplicate or unknown ids, no values, values of another
                length, or a conflicting value without ``overwrite``.
        """
        arr = as_id_array(ids)
        uniq, counts = np.unique(arr, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(
                f"duplicate ids in one label call: {uniq[counts > 1][:5].tolist()}"
            )
        pos = self._positions(arr)
        if values is None:
            raise InvalidInputError("this task's labels need values (ids alone are not a label)")
        vals = np.asarray(values, dtype=self._store.dtype).reshape(len(arr), *self.value_shape)
        old = self._store[pos]
        differs = (old != vals).reshape(len(arr), -1).any(axis=1)
        conflict = self._labelled[pos] & differs
        if conflict.any() and not overwrite:
            first = np.flatnonzero(conflict)[:5]
            raise InvalidInputError(
                "ids already labelled with another label (pass overwrite=True to correct): "
                + ", ".join(
                    f"{arr[i]} has {old[i].tolist()}, got {vals[i].tolist()}" for i in first
                )
            )
        self._labelled[pos] = True
        self._store[pos] = vals

    def unlabel(self, ids: ArrayLike | torch.Tensor) -> None:
        """Forget the labels of ``ids`` (all-or-nothing; unknown ids raise)."""
        pos = self._positions(as_id_array(ids))
        self._labelled[pos] = False
        self._store[pos] = self.missing

    def labels(self, ids: ArrayLike | torch.Tensor | None = None) -> NDArray[Any]:
        """Label values ``[n, *shape]`` of ``ids`` (default: every id, in :attr:`ids`
        order); ``missing`` where an id has no label."""
        if ids is None:
            return self._store.copy()
        return self._store[self._positions(as_id_array(ids))]
