"""Random access to a pool's inputs, whatever holds them.

The learner reads pool inputs by *row* (their position in the user's array or dataset)
and never needs them all at once: :meth:`PoolInputs.take` gathers a few rows (the
labelled set), :meth:`PoolInputs.batches` streams many in chunks (scoring). Sources:

* a numpy array (any numeric dtype, also a memory-mapped ``.npy``) or a tensor: rows are
  gathered and converted to a float tensor chunk by chunk, never copied whole;
* a map-style ``torch.utils.data.Dataset``: items are read through a ``DataLoader``
  (``num_workers`` processes), never materialised; an item may be ``x`` or a tuple /
  list whose first element is ``x`` (as in ``(x, y)`` datasets), or a dict with key
  ``"x"``;
* a Parquet file of features (:class:`ParquetInputs`): numeric columns, or one list
  column of equal-length vectors, read one row group at a time (needs pyarrow);
* a path: ``.npy`` is memory-mapped (``numpy.load(path, mmap_mode="r")``), ``.parquet``
  / ``.pq`` / ``.parq`` is a :class:`ParquetInputs`.

:func:`portable_inputs` gives a copy of a source that pickles by reference to its file
(a memory-mapped ``.npy``, a Parquet file) instead of by its data, for shipping to other
processes (Ray workers).

Inputs come back as CPU tensors; float64 stays float64 (the model's dtype is applied
where the model runs), integer arrays (e.g. uint8 pixels) become float32.
"""

from __future__ import annotations

import mmap
import os
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor
from torch.utils.data import DataLoader, Subset, default_collate
from torch.utils.data import Dataset as TorchDataset

from bayesal.data.files import _existing_file as existing_file
from bayesal.errors import DataNotFoundError, InvalidInputError

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
        return len(self.dataset)

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


class MemmapInputs(ArrayInputs):
    """A memory-mapped array file (a ``.npy``, or raw data at ``offset``) that pickles as
    a reference to its file: another process (a Ray worker, a DataLoader worker) maps the
    file again instead of receiving its data. The file must be readable at the same path
    there.

    Args:
        path: the file.
        dtype, shape, offset, order: as :class:`numpy.memmap` (read-only).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        dtype: Any,
        shape: Sequence[int],
        offset: int = 0,
        order: Literal["C", "F"] = "C",
    ) -> None:
        file = existing_file(path, "pool file").absolute()
        array = np.memmap(
            file,
            dtype=np.dtype(dtype),
            mode="r",
            offset=int(offset),
            shape=tuple(shape),
            order=order,
        )
        super().__init__(array)
        self._ref = (
            str(file),
            np.dtype(dtype).str,
            tuple(int(d) for d in shape),
            int(offset),
            order,
        )

    @classmethod
    def from_npy(cls, path: str | os.PathLike[str]) -> MemmapInputs:
        """The array of a ``.npy`` file, memory-mapped read-only."""
        file = existing_file(path, "pool file").absolute()
        try:
            array = np.load(file, mmap_mode="r", allow_pickle=False)
        except (ValueError, EOFError, OSError) as exc:  # not .npy, empty, pickled objects
            raise InvalidInputError(f"{file} is not a plain .npy array ({exc})") from None
        made = _memmap_reference(array)
        if made is None:  # e.g. a 0-byte array numpy does not map
            raise InvalidInputError(f"{file} cannot be memory-mapped")
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (MemmapInputs, self._ref)


def _memmap_reference(array: Any) -> MemmapInputs | None:
    """A :class:`MemmapInputs` for a whole (unsliced) ``numpy.memmap`` of a file, or None
    (a slice's ``offset`` attribute is its parent's, so a slice cannot be reopened)."""
    if not isinstance(array, np.memmap) or not isinstance(array.base, mmap.mmap):
        return None
    filename = getattr(array, "filename", None)
    if filename is None or not Path(filename).is_file():
        return None
    if array.flags.c_contiguous:
        order = "C"
    elif array.flags.f_contiguous:
        order = "F"
    else:
        return None
    return MemmapInputs(filename, array.dtype, array.shape, int(array.offset), order)


_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


class ParquetInputs(PoolInputs):
    """The rows of a Parquet file of features, read one row group at a time.

    Features are ``columns`` (default: every column of the file): numeric columns give
    one feature each (input shape ``[F]``); a single list column of equal-length numeric
    vectors gives those vectors. Rows are read by decoding the row groups that hold them
    (the last ``cache_row_groups`` decoded groups are kept), so reading the pool in order
    decodes each group once and memory stays about ``cache_row_groups`` row groups: write
    large pools with row groups of some 10^4-10^5 rows
    (``pyarrow.parquet.write_table(table, path, row_group_size=65536)``). Integer
    features become float32, float64 stays float64 (as for arrays). Pickles as a
    reference to its file.

    Args:
        path: the Parquet file (needs pyarrow: ``pip install pyarrow``).
        columns: the feature columns, in order (default: all).
        cache_row_groups: decoded row groups kept in memory (>= 1).

    Raises:
        DataNotFoundError: a missing file, or pyarrow not installed.
        InvalidInputError: unknown, non-numeric or null-holding columns, or list columns
            of unequal lengths.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        columns: Sequence[str] | None = None,
        cache_row_groups: int = 2,
    ) -> None:
        file = existing_file(path, "Parquet pool").absolute()
        pq = _import_parquet(file)
        if isinstance(cache_row_groups, bool) or not isinstance(cache_row_groups, int):
            raise InvalidInputError(
                f"cache_row_groups must be an int >= 1, got {cache_row_groups!r}"
            )
        if cache_row_groups < 1:
            raise InvalidInputError(f"cache_row_groups must be >= 1, got {cache_row_groups}")
        self.path = file
        self.cache_row_groups = cache_row_groups
        try:
            handle = pq.ParquetFile(file)
        except Exception as exc:  # pyarrow's errors for a file that is not Parquet
            raise InvalidInputError(f"{file} is not a readable Parquet file ({exc})") from None
        names = list(handle.schema_arrow.names)
        if columns is None:
            chosen = names
        else:
            if isinstance(columns, str):
                raise InvalidInputError("columns must be a list of column names, not a string")
            chosen = [str(c) for c in columns]
            missing = [c for c in chosen if c not in names]
            if missing:
                raise InvalidInputError(
                    f"{file} has no column(s) {missing}; its columns are {names[:20]}"
                )
        if not chosen:
            raise InvalidInputError(f"{file}: no feature column")
        self.columns = tuple(chosen)
        metadata = handle.metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self._handle: Any = handle
        self._cache: OrderedDict[int, NDArray[Any]] = OrderedDict()
        self._shape: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def num_row_groups(self) -> int:
        """Row groups in the file."""
        return len(self._starts) - 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self._shape is None:
            if len(self) == 0:
                raise InvalidInputError(f"{self.path} has no rows")
            self._shape = tuple(self.take(np.zeros(1, np.int64)).shape[1:])
        return self._shape

    def _row_group(self, index: int) -> NDArray[Any]:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        if self._handle is None:
            self._handle = _import_parquet(self.path).ParquetFile(self.path)
        table = self._handle.read_row_group(index, columns=list(self.columns))
        values = _table_matrix(table, self.columns, self.path)
        self._cache[index] = values
        while len(self._cache) > self.cache_row_groups:
            self._cache.popitem(last=False)
        return values

    def take(self, rows: Rows) -> Tensor:
        rows = np.asarray(rows, dtype=np.int64)
        self.check_rows(rows)
        groups = np.searchsorted(self._starts, rows, side="right") - 1
        out: NDArray[Any] | None = None
        # Groups in order of first use, so that rows read in order decode each group once.
        _, first = np.unique(groups, return_index=True)
        for group in groups[np.sort(first)]:
            values = self._row_group(int(group))
            mask = groups == group
            if out is None:
                out = np.empty((len(rows), *values.shape[1:]), dtype=values.dtype)
            out[mask] = values[rows[mask] - self._starts[group]]
        if out is None:  # no rows: the shape of one input
            shape = self.input_shape if len(self) else (len(self.columns),)
            out = np.empty((0, *shape), dtype=np.float32)
        return _as_float_tensor(out)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_cache"] = OrderedDict()
        return state


def _import_parquet(file: Path) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DataNotFoundError(
            f"{file}: reading a Parquet pool needs pyarrow, which is not installed; run "
            "`pip install pyarrow` (or `pip install bayesal[parquet]`)"
        ) from exc
    return pq


def _table_matrix(table: Any, columns: Sequence[str], file: Path) -> NDArray[Any]:
    """A pyarrow table's feature columns as a numpy array ``[rows, F]`` (or ``[rows, L]``
    for one list column)."""
    import pyarrow as pa
    import pyarrow.types as pat

    arrays = [table.column(name).combine_chunks() for name in columns]
    for name, array in zip(columns, arrays, strict=True):
        if array.null_count:
            raise InvalidInputError(
                f"{file}: column {name!r} holds {array.null_count} missing value(s); "
                "fill or drop them first"
            )
    if len(arrays) == 1 and (
        pat.is_list(arrays[0].type)
        or pat.is_large_list(arrays[0].type)
        or pat.is_fixed_size_list(arrays[0].type)
    ):
        array = arrays[0]
        flat = array.flatten()
        if not (pat.is_integer(flat.type) or pat.is_floating(flat.type)):
            raise InvalidInputError(f"{file}: column {columns[0]!r} holds {flat.type}, not numbers")
        n = len(array)
        if n == 0:
            return np.empty((0, 0), dtype=np.float32)
        if isinstance(array, pa.FixedSizeListArray):
            width = array.type.list_size
        else:
            offsets = array.offsets.to_numpy()
            lengths = np.diff(offsets)
            if len(np.unique(lengths)) != 1:
                raise InvalidInputError(
                    f"{file}: the vectors of column {columns[0]!r} have different lengths "
                    f"({int(lengths.min())} to {int(lengths.max())})"
                )
            width = int(lengths[0])
        rows: np.ndarray = flat.to_numpy(zero_copy_only=False).reshape(n, width)
        return rows
    bad = [
        f"{name} ({array.type})"
        for name, array in zip(columns, arrays, strict=True)
        if not (pat.is_integer(array.type) or pat.is_floating(array.type))
    ]
    if bad:
        raise InvalidInputError(
            f"{file}: feature columns must be numeric (or one list column of vectors); "
            f"not numeric: {bad[:5]}; pass columns=[...] to choose the feature columns"
        )
    parts = [array.to_numpy(zero_copy_only=False) for array in arrays]
    dtype = np.result_type(*[p.dtype for p in parts])
    return np.stack(parts, axis=1).astype(dtype, copy=False)


def portable_inputs(inputs: PoolInputs) -> PoolInputs:
    """``inputs`` in a form that pickles by reference where it can: a whole
    memory-mapped array becomes a :class:`MemmapInputs` (the file is mapped again where
    it is unpickled); Parquet pools already pickle by reference; everything else (an
    in-memory array, a torch Dataset) pickles as it is."""
    if isinstance(inputs, ArrayInputs) and not isinstance(inputs, MemmapInputs):
        reference = _memmap_reference(inputs.array)
        if reference is not None:
            return reference
    return inputs


def as_pool_inputs(pool: Any, *, num_workers: int = 0) -> PoolInputs:
    """Wrap a numpy array, tensor, map-style torch ``Dataset`` or a file path (``.npy``:
    memory-mapped; ``.parquet`` / ``.pq`` / ``.parq``: :class:`ParquetInputs`) as
    :class:`PoolInputs`.

    Raises:
        DataNotFoundError: a path that does not exist.
        InvalidInputError: anything else (the message says what is accepted).
    """
    if isinstance(pool, PoolInputs):
        return pool
    if isinstance(pool, str | os.PathLike):
        suffix = Path(pool).suffix.lower()
        if suffix == ".npy":
            return MemmapInputs.from_npy(pool)
        if suffix in _PARQUET_SUFFIXES:
            return ParquetInputs(pool)
        raise InvalidInputError(
            f"a pool path must be a .npy array or a Parquet file ({', '.join(_PARQUET_SUFFIXES)}), "
            f"got {str(pool)!r}; load other files first (bayesal.data.files)"
        )
    if isinstance(pool, np.ndarray | Tensor):
        return ArrayInputs(pool)
    if isinstance(pool, TorchDataset) or (
        hasattr(pool, "__getitem__") and hasattr(pool, "__len__") and not isinstance(pool, str)
    ):
        if isinstance(pool, list | tuple):
            return ArrayInputs(np.asarray(pool))
        return DatasetInputs(pool, num_workers=num_workers)
    raise InvalidInputError(
        f"pool must be a numpy array, a torch.Tensor, a map-style torch Dataset or a path "
        f"to a .npy or Parquet file, got {type(pool).__name__}"
    )
