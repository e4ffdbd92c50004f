"""Oracles: whatever labels the ids a learner asks about (a person, or a simulation's
true labels)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from bayesal.data.pool import IdArray, Pool, as_id_array
from bayesal.errors import InvalidInputError

__all__ = ["Oracle", "SimulatedOracle"]


class Oracle(Protocol):
    """Anything that labels ids: ``oracle(ids) -> labels`` (ints in ``[0, C)``)."""

    def __call__(self, ids: IdArray) -> ArrayLike: ...


class SimulatedOracle:
    """The true labels of a simulation: ``labels[i]`` is the label of id ``ids[i]``
    (default ids ``0 .. N-1``). Class indices ``[N]``, or the label form of another task
    (multi-label rows ``[N, L]``, regression floats ``[N]``, segmentation masks
    ``[N, H, W]``), which the learner's
    ``teach`` checks."""

    def __init__(self, labels: ArrayLike | Tensor, ids: ArrayLike | None = None) -> None:
        raw = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
        self._labels: NDArray[Any] = (
            raw if raw.ndim >= 2 or raw.dtype.kind == "f" else as_id_array(raw, "labels")
        )
        self._pool = Pool(len(self._labels)) if ids is None else Pool.from_ids(as_id_array(ids))
        if len(self._pool) != len(self._labels):
            raise InvalidInputError(f"{len(self._pool)} ids but {len(self._labels)} labels")
        # Pool.from_ids sorts: keep the label of each id with it.
        order = np.argsort(as_id_array(ids)) if ids is not None else None
        self._sorted_labels = self._labels if order is None else self._labels[order]

    def __call__(self, ids: IdArray) -> NDArray[Any]:
        return self._sorted_labels[self._pool.positions(ids)]
