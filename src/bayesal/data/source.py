"""Random access to a pool's inputs, whatever holds them.

The learner reads pool inputs by *row* (their position in the user's array or dataset)
and never needs them all at once: :meth:`PoolInputs.take` gathers a few rows (the
labelled set), :meth:`PoolInputs.batches` streams many in chunks (scoring). Sources:

* a numpy array (any numeric dtype, also a memory-mapped ``.npy``) or a tensor: rows are
  gathered and converted to a float tensor chunk by chunk, never copied whole;
* a map-style ``torch.utils.data.Dataset``: items are read through a ``DataLoader``
  (``num_workers`` processes), never materialised; an item may be ``x`` or a tuple /
  list whose first element is ``x`` (as in ``(x, y)`` datasets), or a dict with key
  ``"x"``.

Inputs come back as CPU tensors; float64 stays float64 (the model's dtype is applied
where the model runs), integer arrays (e.g. uint8 pixels) become float32.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.utils.data import DataLoader, Subset, default_collate
from torch.utils.data import Dataset as TorchDataset

from bayesal.errors import InvalidInputError

Rows = NDArray[np.int64]


def _as_float_tensor(values: Any) -> Tensor:
    tensor = values if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values))
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise InvalidInputError(f"pool inputs must be numeric, got dtype {tensor.dtype}")
    if not tensor.is_floating_point():
        return tensor.float()
    # Checked as inputs are read (a chunk at a time): a NaN would poison training and
    # scores silently.
    if not bool(torch.isfinite(tensor).all()):
        bad = (~torch.isfinite(tensor.reshape(len(tensor), -1))).any(dim=1).nonzero()
        raise InvalidInputError(
            f"pool inputs hold NaN or inf ({len(bad)} of {len(tensor)} inputs read in this "
            "chunk); clean or impute them first"
        )
    return tensor


class PoolInputs(ABC):
    """Row-addressed access to N pool inputs."""

    @abstractmethod
    def __len__(self) -> int:
        """N, the number of rows."""

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input."""

    @abstractmethod
    def take(self, rows: Rows) -> Tensor:
        """The inputs of ``rows`` stacked as ``[len(rows), *input_shape]`` (CPU)."""

    def batches(self, rows: Rows, batch_size: int) -> Iterator[Tensor]:
        """The inputs of ``rows`` in order, ``batch_size`` at a time."""
        for start in range(0, len(rows), batch_size):
            yield self.take(rows[start : start + batch_size])

    def check_rows(self, rows: Rows) -> None:
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self)):
            raise InvalidInputError(f"rows out of range for a pool of {len(self)} inputs")


class ArrayInputs(PoolInputs):
    """A numpy array (memory-mapped or not) or a tensor of shape ``[N, ...]``."""

    def __init__(self, array: NDArray[Any] | Tensor) -> None:
        if not isinstance(array, np.ndarray | Tensor):
            raise InvalidInputError(f"expected a numpy array or tensor, got {type(array).__name__}")
        if array.ndim < 1:
            raise InvalidInputError("pool inputs need a leading dimension N, got a scalar")
        if isinstance(array, np.ndarray) and not (
            np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
        ):
            raise InvalidInputError(f"pool inputs must be numeric, got dtype {array.dtype}")
        self.array = array

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape[1:])

    def take(self, rows: Rows) -> Tensor:
        if isinstance(self.array, Tensor):
            return _as_float_tensor(self.array[torch.from_numpy(np.asarray(rows, np.int64))])
        return _as_float_tensor(self.array[rows])

    @property
    def in_memory(self) -> bool:
        """True unless the array is memory-mapped from a file."""
        return not isinstance(self.array, np.memmap)


def _first_input(item: Any) -> Any:
    if isinstance(item, tuple | list):
        if not item:
            raise InvalidInputError("dataset items must not be empty")
        return item[0]
    if isinstance(item, dict):
        if "x" not in item:
            raise InvalidInputError(f"dict dataset items need a key 'x', got {sorted(item)}")
        return item["x"]
    return item


def _collate_inputs(items: list[Any]) -> Tensor:
    return _as_float_tensor(default_collate([_first_input(item) for item in items]))


class DatasetInputs(PoolInputs):
    """A map-style ``torch.utils.data.Dataset``, read through a ``DataLoader``."""

    def __init__(self, dataset: TorchDataset[Any], *, num_workers: int = 0) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise InvalidInputError(
                "a torch Dataset pool must be map-style (define __getitem__ and __len__)"
            )
        if num_workers < 0:
            raise InvalidInputError(f"num_workers must be >= 0, got {num_workers}")
        self.dataset = dataset
        self.num_workers = num_workers
        self._shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self._shape is None:
            if len(self) == 0:
                raise InvalidInputError("the pool dataset is empty")
            self._shape = tuple(self.take(np.zeros(1, np.int64)).shape[1:])
        return self._shape

    def take(self, rows: Rows) -> Tensor:
        return _collate_inputs([self.dataset[int(r)] for r in rows])

    def batches(self, rows: Rows, batch_size: int) -> Iterator[Tensor]:
        if self.num_workers == 0:
            yield from super().batches(rows, batch_size)
            return
        loader = DataLoader(
            Subset(self.dataset, rows.tolist()),
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=_collate_inputs,
        )
        yield from loader


def as_pool_inputs(pool: Any, *, num_workers: int = 0) -> PoolInputs:
    """Wrap a numpy array, tensor or map-style torch ``Dataset`` as :class:`PoolInputs`.

    Raises:
        InvalidInputError: anything else (the message says what is accepted).
    """
    if isinstance(pool, PoolInputs):
        return pool
    if isinstance(pool, np.ndarray | Tensor):
        return ArrayInputs(pool)
    if isinstance(pool, TorchDataset) or (
        hasattr(pool, "__getitem__") and hasattr(pool, "__len__") and not isinstance(pool, str)
    ):
        if isinstance(pool, list | tuple):
            return ArrayInputs(np.asarray(pool))
        return DatasetInputs(pool, num_workers=num_workers)
    raise InvalidInputError(
        f"pool must be a numpy array, a torch.Tensor or a map-style torch Dataset, "
        f"got {type(pool).__name__}"
    )
