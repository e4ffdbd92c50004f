"""Pool sources read from disk: Parquet files and memory-mapped .npy arrays, and their
pickling by reference (what travels to Ray workers)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesal.data.source import (
    ArrayInputs,
    MemmapInputs,
    ParquetInputs,
    as_pool_inputs,
    portable_inputs,
)
from bayesal.errors import DataNotFoundError, InvalidInputError

_NO_PYARROW = "pyarrow is not installed (`make test` installs it; pip install 'bayesal[parquet]')"
pa = pytest.importorskip("pyarrow", reason=_NO_PYARROW)
pq = pytest.importorskip("pyarrow.parquet", reason=_NO_PYARROW)

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(50, 3)).astype(np.float32)


def _write(path: Path, table: object, row_group_size: int = 8) -> Path:
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def columns_file(tmp_path: Path) -> Path:
    table = pa.table(
        {
            "a": FEATURES[:, 0],
            "b": FEATURES[:, 1],
            "c": FEATURES[:, 2],
            "name": [f"item{i}" for i in range(50)],
            "count": np.arange(50, dtype=np.int64),
        }
    )
    return _write(tmp_path / "cols.parquet", table)


def test_parquet_columns_read_by_row_group_in_any_order(columns_file: Path) -> None:
    pool = ParquetInputs(columns_file, columns=["a", "b", "c"])
    assert len(pool) == 50 and pool.num_row_groups == 7 and pool.input_shape == (3,)
    rows = np.array([49, 0, 8, 7, 8, 23], dtype=np.int64)
    got = pool.take(rows)
    assert got.dtype == torch.float32
    assert torch.equal(got, torch.from_numpy(FEATURES[rows]))
    streamed = torch.cat(list(pool.batches(np.arange(50, dtype=np.int64), 16)))
    assert torch.equal(streamed, torch.from_numpy(FEATURES))
    assert len(pool._cache) <= pool.cache_row_groups
    ints = ParquetInputs(columns_file, columns=["count"])
    assert ints.take(np.array([3])).dtype == torch.float32  # integers become float32


def test_parquet_list_columns(tmp_path: Path) -> None:
    vectors = pa.array(list(FEATURES), type=pa.list_(pa.float64()))
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(FEATURES.reshape(-1)), 3)
    path = _write(tmp_path / "v.parquet", pa.table({"x": vectors, "y": fixed}))
    by_list = ParquetInputs(path, columns=["x"])
    assert by_list.take(np.array([4])).dtype == torch.float64  # float64 stays float64
    assert np.allclose(by_list.take(np.arange(50)).numpy(), FEATURES)
    assert np.array_equal(ParquetInputs(path, columns=["y"]).take(np.arange(50)).numpy(), FEATURES)
    ragged = _write(tmp_path / "r.parquet", pa.table({"x": [[1.0, 2.0], [3.0]]}))
    with pytest.raises(InvalidInputError, match="different lengths"):
        ParquetInputs(ragged).take(np.array([0]))


def test_parquet_errors_say_what_to_do(columns_file: Path, tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        ParquetInputs(tmp_path / "missing.parquet")
    with pytest.raises(InvalidInputError, match="no column"):
        ParquetInputs(columns_file, columns=["a", "zz"])
    with pytest.raises(InvalidInputError, match="numeric"):
        ParquetInputs(columns_file).take(np.array([0]))  # "name" is text
    with pytest.raises(InvalidInputError, match="out of range"):
        ParquetInputs(columns_file, columns=["a"]).take(np.array([50]))
    nulls = _write(tmp_path / "n.parquet", pa.table({"a": pa.array([1.0, None])}))
    with pytest.raises(InvalidInputError, match="missing value"):
        ParquetInputs(nulls).take(np.array([0]))
    text = tmp_path / "t.parquet"
    text.write_text("not parquet")
    with pytest.raises(InvalidInputError, match="not a readable Parquet"):
        ParquetInputs(text)


def test_parquet_pickles_as_a_reference(columns_file: Path) -> None:
    pool = ParquetInputs(columns_file, columns=["a", "b", "c"])
    pool.take(np.arange(50))
    blob = pickle.dumps(pool)
    assert len(blob) < 2000  # no decoded row group, no file handle
    again = pickle.loads(blob)
    assert torch.equal(again.take(np.array([5, 40])), torch.from_numpy(FEATURES[[5, 40]]))


def test_memmap_pickles_as_a_reference_and_paths_open(tmp_path: Path) -> None:
    big = RNG.normal(size=(4000, 16)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, big)
    mapped = np.load(path, mmap_mode="r")
    portable = portable_inputs(ArrayInputs(mapped))
    assert isinstance(portable, MemmapInputs) and not portable.in_memory
    blob = pickle.dumps(portable)
    assert len(blob) < 2000 < big.nbytes
    again = pickle.loads(blob)
    assert torch.equal(again.take(np.array([3, 3999])), torch.from_numpy(big[[3, 3999]]))
    # A slice cannot be reopened from its file: it pickles with its data.
    sliced = ArrayInputs(mapped[10:20])
    assert portable_inputs(sliced) is sliced
    in_memory = ArrayInputs(big)
    assert portable_inputs(in_memory) is in_memory
    fortran = np.asfortranarray(big)
    np.save(tmp_path / "f.npy", fortran)
    opened = as_pool_inputs(str(tmp_path / "f.npy"))
    assert isinstance(opened, MemmapInputs)
    assert torch.equal(
        pickle.loads(pickle.dumps(opened)).take(np.array([7])), opened.take(np.array([7]))
    )


def test_pool_paths(columns_file: Path, tmp_path: Path) -> None:
    assert isinstance(as_pool_inputs(columns_file.with_suffix(".parquet")), ParquetInputs)
    with pytest.raises(DataNotFoundError):
        as_pool_inputs(str(tmp_path / "nope.npy"))
    with pytest.raises(InvalidInputError, match=r"\.npy array or a Parquet file"):
        as_pool_inputs(str(tmp_path / "x.csv"))
    (tmp_path / "obj.npy").write_bytes(b"")
    with pytest.raises(InvalidInputError):
        as_pool_inputs(str(tmp_path / "obj.npy"))
