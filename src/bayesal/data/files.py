"""A user's own data files: tables (CSV, Parquet) and arrays (``.npy``, ``.npz``).

Two layers:

* **Readers** (:func:`read_table`, :func:`read_arrays`; :func:`~bayesal.data.images.
  read_image_folder` for images) return an :class:`ArrayData`: float32 features and int64
  labels in which :data:`MISSING` (``-1``) marks an unlabelled item. They are for real,
  partly or wholly unlabelled data driven by the ask/tell learner.
* **Dataset loaders** (:func:`load_csv`, :func:`load_parquet`, :func:`load_npy`; registered
  as ``csv``, ``parquet``, ``npy``) return a :class:`~bayesal.data.dataset.Dataset` for
  simulated studies, where every pool label must be known.

Every problem with a file raises :class:`~bayesal.errors.DataNotFoundError` (the file or an
optional dependency is missing) or :class:`~bayesal.errors.InvalidInputError` (the content
is unusable), with a message that names the file and says what to do. Relative paths are
relative to the current working directory. Pandas is imported only when a table is read,
pyarrow only when a Parquet file is read.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray

from bayesal.data.dataset import Dataset
from bayesal.data.pool import MISSING
from bayesal.errors import DataNotFoundError, InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MISSING",
    "ArrayData",
    "load_csv",
    "load_npy",
    "load_parquet",
    "read_arrays",
    "read_table",
]


PathLike = str | os.PathLike[str]

_TABLE_FORMATS = ("csv", "tsv", "parquet")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_SHOW = 5  # how many offending rows / values an error message lists


@dataclass(frozen=True, eq=False)
class ArrayData:
    """Features and labels read from a user's files, with unlabelled items marked.

    Attributes:
        x: float32 features of shape ``[N, ...]`` (``[N, F]`` for tables,
            ``[N, channels, H, W]`` for images), all finite.
        y: int64 labels of shape ``[N]``: a class index ``>= 0``, or :data:`MISSING`
            (``-1``) where the item is unlabelled.
        class_names: the class of each index (``class_names[y[i]]``) when labels were
            names (strings in a table or array, class folders of an image folder); None
            when the file held integer class indices, used as is.
        item_names: a name per item (the ``id_column`` of a table, the relative path of an
            image), or None.
    """

    x: NDArray[np.float32]
    y: NDArray[np.int64]
    class_names: tuple[str, ...] | None = None
    item_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.x, np.ndarray) or self.x.dtype != np.float32 or self.x.ndim < 2:
            raise InvalidInputError("ArrayData.x must be a float32 numpy array of shape [N, ...]")
        if not isinstance(self.y, np.ndarray) or self.y.dtype != np.int64 or self.y.ndim != 1:
            raise InvalidInputError("ArrayData.y must be an int64 numpy array of shape [N]")
        if len(self.x) != len(self.y):
            raise InvalidInputError(f"ArrayData: {len(self.x)} inputs but {len(self.y)} labels")
        if len(self.y) and int(self.y.min()) < MISSING:
            raise InvalidInputError(
                f"ArrayData.y holds {int(self.y.min())}; labels are >= 0, or {MISSING} (missing)"
            )
        if self.class_names is not None and len(self.y):
            if int(self.y.max()) >= len(self.class_names):
                raise InvalidInputError(
                    f"ArrayData.y holds class {int(self.y.max())} but there are only "
                    f"{len(self.class_names)} class names"
                )
        if self.item_names is not None and len(self.item_names) != len(self.y):
            raise InvalidInputError(
                f"ArrayData: {len(self.item_names)} item names for {len(self.y)} items"
            )

    @property
    def num_items(self) -> int:
        """N, the number of items."""
        return len(self.y)

    @property
    def labelled(self) -> NDArray[np.bool_]:
        """Boolean mask ``[N]``: True where the item has a label."""
        mask: NDArray[np.bool_] = self.y != MISSING
        return mask

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one item's features."""
        return tuple(self.x.shape[1:])


# --------------------------------------------------------------------------- helpers


def _existing_file(path: PathLike, what: str) -> Path:
    """``path`` as a Path; DataNotFoundError when it is not an existing file."""
    if not isinstance(path, str | os.PathLike):
        raise InvalidInputError(f"{what} must be a path, got {type(path).__name__}")
    file = Path(path).expanduser()
    if not file.exists():
        raise DataNotFoundError(
            f"{what} {str(path)!r} does not exist (looked for {file.absolute()}; relative "
            "paths are relative to the current working directory)"
        )
    if not file.is_file():
        raise InvalidInputError(f"{what} {str(path)!r} is not a file")
    return file


def _bare_name(path: Path) -> str:
    """The file name without compression and format suffixes: ``wine.csv.gz`` -> ``wine``."""
    name = path.name
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    stem = Path(name).stem
    return stem or name


def _first(items: Sequence[Any], n: int = _SHOW) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def _to_float32(values: NDArray[Any], source: str, describe_position: Any) -> NDArray[np.float32]:
    """Convert numeric ``values`` to float32, raising on NaN / inf (before or after casting)."""
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.asarray(values).astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        positions = np.argwhere(bad)
        original = np.asarray(values)
        shown = [
            f"{describe_position(tuple(int(i) for i in p))} ({original[tuple(p)].item()!r})"
            for p in positions[:_SHOW]
        ]
        more = f", ... ({len(positions)} in all)" if len(positions) > _SHOW else ""
        raise InvalidInputError(
            f"{source}: features must be finite numbers; found NaN, infinite or values too "
            f"large for float32 at {', '.join(shown)}{more}. Fill or drop those entries."
        )
    return x


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def _check_fraction(test_fraction: Any) -> float:
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise InvalidInputError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise InvalidInputError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    return float(test_fraction)


def _split_rows(
    n: int, test_fraction: float, seed: int, source: str
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rows ``(train, test)``, each in file order; ``round(test_fraction * n)`` (at least one)
    test rows drawn uniformly by ``numpy.random.default_rng(seed)``."""
    if test_fraction == 0.0:
        return np.arange(n, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_test = max(1, round(test_fraction * n))
    if n_test >= n:
        raise InvalidInputError(
            f"{source}: test_fraction={test_fraction} of {n} items leaves no training pool"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_test:]).astype(np.int64), np.sort(perm[:n_test]).astype(np.int64)


def _require_labels(data: ArrayData, source: str, reader: str) -> None:
    """A simulated study needs every label: InvalidInputError naming unlabelled items."""
    rows = np.flatnonzero(data.y == MISSING)
    if rows.size:
        names = data.item_names
        if names is not None:
            shown = _first([names[i] for i in rows])
        else:
            shown = ("row " if rows.size == 1 else "rows ") + _first(rows.tolist())
        raise InvalidInputError(
            f"{source}: {rows.size} of {data.num_items} items have no label ({shown}). "
            "A simulated study needs every pool and test label; for unlabelled data, read it "
            f"with bayesal.data.{reader} and label it with the ActiveLearner."
        )


def _merge_classes(
    parts: list[ArrayData], sources: list[str]
) -> tuple[list[NDArray[np.int64]], int, tuple[str, ...] | None]:
    """Labels of ``parts`` on one class index: named classes are merged (sorted union)."""
    named = [p.class_names is not None for p in parts]
    if any(named) and not all(named):
        kinds = ", ".join(
            f"{s}: {'names' if k else 'integer indices'}"
            for s, k in zip(sources, named, strict=True)
        )
        raise InvalidInputError(
            f"labels must be all class names or all integer class indices, got {kinds}"
        )
    if not all(named):
        num_classes = max((int(p.y.max()) + 1 for p in parts if p.num_items), default=0)
        return [p.y for p in parts], num_classes, None
    union = tuple(sorted(set().union(*(p.class_names or () for p in parts))))
    index = {name: i for i, name in enumerate(union)}
    labels = []
    for p in parts:
        mapping = np.array([index[c] for c in p.class_names or ()] + [MISSING], dtype=np.int64)
        labels.append(mapping[p.y])  # y == MISSING (-1) picks the trailing MISSING
    return labels, len(union), union


def _dataset(
    name: str,
    train_x: NDArray[np.float32],
    train_y: NDArray[np.int64],
    test_x: NDArray[np.float32] | None,
    test_y: NDArray[np.int64] | None,
    num_classes: int,
) -> Dataset:
    if test_x is None or test_y is None:
        test_x = np.zeros((0, *train_x.shape[1:]), dtype=np.float32)
        test_y = np.zeros(0, dtype=np.int64)
    return Dataset(
        name=name,
        train_x=torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float32)),
        train_y=torch.from_numpy(np.ascontiguousarray(train_y, dtype=np.int64)),
        test_x=torch.from_numpy(np.ascontiguousarray(test_x, dtype=np.float32)),
        test_y=torch.from_numpy(np.ascontiguousarray(test_y, dtype=np.int64)),
        num_classes=num_classes,
    )


def _split_or_test(
    train: ArrayData,
    test: ArrayData | None,
    test_fraction: float,
    seed: int,
    train_source: str,
    test_source: str,
) -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32] | None, Any, int]:
    """``(train_x, train_y, test_x, test_y, num_classes)`` from a test file or a split."""
    if test is not None:
        if test_fraction:
            raise InvalidInputError(
                "give a separate test file or test_fraction > 0, not both "
                f"(test file {test_source}, test_fraction={test_fraction})"
            )
        if test.input_shape != train.input_shape:
            raise InvalidInputError(
                f"test items of {test_source} have shape {list(test.input_shape)}, training "
                f"items of {train_source} have shape {list(train.input_shape)}"
            )
        (train_y, test_y), num_classes, _ = _merge_classes(
            [train, test], [train_source, test_source]
        )
        return train.x, train_y, test.x, test_y, num_classes
    (y,), num_classes, _ = _merge_classes([train], [train_source])
    train_rows, test_rows = _split_rows(train.num_items, test_fraction, seed, train_source)
    if not len(test_rows):
        return train.x, y, None, None, num_classes
    return train.x[train_rows], y[train_rows], train.x[test_rows], y[test_rows], num_classes


# --------------------------------------------------------------------------- labels


def _labels_from_names(
    names: NDArray[Any], missing: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Class names (stripped strings) -> indices by sorted unique name; ``missing`` -> -1."""
    strings = np.array([str(v).strip() for v in names], dtype=object)
    missing = missing | (strings == "")
    classes = tuple(sorted(set(strings[~missing].tolist())))
    index = {c: i for i, c in enumerate(classes)}
    y = np.full(len(strings), MISSING, dtype=np.int64)
    y[~missing] = [index[s] for s in strings[~missing]]
    return y, classes


def _labels_from_numbers(
    values: NDArray[Any], missing: NDArray[np.bool_], source: str, where: Any, allow_marker: bool
) -> NDArray[np.int64]:
    """Numeric labels -> int64 class indices (integer-valued, >= 0); ``missing`` -> -1."""
    values = np.asarray(values, dtype=np.float64)
    if allow_marker:
        missing = missing | (values == MISSING)
    present = np.flatnonzero(~missing)
    v = values[present]
    bad = present[~np.isfinite(v) | (v != np.round(v)) | (v < 0)]
    if bad.size:
        shown = [f"{where(i)} ({values[i]:g})" for i in bad[:_SHOW]]
        more = f", ... ({bad.size} in all)" if bad.size > _SHOW else ""
        marker = f", or {MISSING} for unlabelled" if allow_marker else ""
        blank = "" if allow_marker else "; leave the cell empty for an unlabelled row"
        raise InvalidInputError(
            f"{source}: numeric labels must be class indices 0, 1, 2, ...{marker}; got "
            f"{', '.join(shown)}{more}{blank}"
        )
    y = np.full(len(values), MISSING, dtype=np.int64)
    y[present] = v.astype(np.int64)
    return y


# --------------------------------------------------------------------------- tables


def _table_format(file: Path, format: str | None) -> str:
    if format is not None:
        if format not in _TABLE_FORMATS:
            raise InvalidInputError(
                f"unknown table format {format!r}; use one of {', '.join(_TABLE_FORMATS)}"
            )
        return format
    name = file.name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    raise InvalidInputError(
        f"{file}: cannot tell the table format from the file name; name it .csv, .tsv or "
        ".parquet, or pass format='csv' or format='parquet'"
    )


def _import_pyarrow(file: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise DataNotFoundError(
            f"{file}: reading Parquet files needs pyarrow, which is not installed; run "
            "`pip install pyarrow` (or `pip install bayesal[parquet]`), or save the table as CSV"
        ) from exc


def _read_frame(file: Path, fmt: str) -> pd.DataFrame:
    import pandas as pd

    if fmt == "parquet":
        _import_pyarrow(file)
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(file, engine="pyarrow")
        else:
            frame = pd.read_csv(file, sep="\t" if fmt == "tsv" else ",")
    except pd.errors.EmptyDataError:
        raise InvalidInputError(f"{file}: the file is empty (no header, no rows)") from None
    except (ValueError, OSError) as exc:  # parser errors, bad encoding, not a Parquet file
        raise InvalidInputError(f"{file}: cannot read it as {fmt.upper()}: {exc}") from None
    if len(frame) == 0:
        raise InvalidInputError(
            f"{file}: the table has no rows (columns: {_first(list(map(str, frame.columns)), 20)})"
        )
    return frame


def _check_columns(frame: pd.DataFrame, wanted: Sequence[Any], file: Path, role: str) -> None:
    columns = list(frame.columns)
    absent = [c for c in wanted if c not in columns]
    if absent:
        noun = "column" if len(absent) == 1 else "columns"
        raise InvalidInputError(
            f"{file}: {role} {noun} {', '.join(map(repr, absent))} not found; the table's "
            f"columns are: {', '.join(map(repr, columns))}"
        )


def _feature_list(
    frame: pd.DataFrame,
    feature_columns: Sequence[Any] | str | None,
    exclude: list[Any],
    file: Path,
) -> list[Any]:
    if feature_columns is None:
        features = [c for c in frame.columns if c not in exclude]
        if not features:
            raise InvalidInputError(
                f"{file}: no feature columns left besides {', '.join(map(repr, exclude))}"
            )
        return features
    if isinstance(feature_columns, str):
        feature_columns = [feature_columns]
    if not isinstance(feature_columns, Sequence) or not feature_columns:
        raise InvalidInputError(
            f"feature_columns must be a non-empty list of column names, got {feature_columns!r}"
        )
    features = list(feature_columns)
    if len(set(features)) != len(features):
        raise InvalidInputError(f"feature_columns lists a column twice: {features}")
    clash = [c for c in features if c in exclude]
    if clash:
        raise InvalidInputError(
            f"column {clash[0]!r} cannot be both a feature and the label / id column"
        )
    _check_columns(frame, features, file, "feature")
    return features


def _table_features(
    frame: pd.DataFrame, features: list[Any], file: Path, row_name: Any
) -> NDArray[np.float32]:
    from pandas.api.types import is_complex_dtype, is_numeric_dtype

    non_numeric = [
        c for c in features if not is_numeric_dtype(frame[c]) or is_complex_dtype(frame[c])
    ]
    if non_numeric:
        described = []
        for c in non_numeric[:_SHOW]:
            present = frame[c].dropna()
            example = f", e.g. {present.iloc[0]!r}" if len(present) else ""
            described.append(f"{c!r} ({frame[c].dtype}{example})")
        more = f", ... ({len(non_numeric)} in all)" if len(non_numeric) > _SHOW else ""
        raise InvalidInputError(
            f"{file}: feature columns must be numeric; not numeric: {', '.join(described)}{more}. "
            "Encode them as numbers, or choose the features with feature_columns=[...]"
        )
    values = frame[features].to_numpy(dtype=np.float64, na_value=np.nan)
    return _to_float32(
        values, str(file), lambda p: f"row {row_name(p[0])} column {features[p[1]]!r}"
    )


def _table_labels(
    frame: pd.DataFrame, column: Any, file: Path, row_name: Any
) -> tuple[NDArray[np.int64], tuple[str, ...] | None]:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    series = frame[column]
    missing = series.isna().to_numpy()
    if is_numeric_dtype(series) and not is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        where = lambda i: f"row {row_name(i)}"  # noqa: E731
        source = f"{file}, label column {column!r}"
        return _labels_from_numbers(values, missing, source, where, allow_marker=False), None
    return _labels_from_names(series.to_numpy(dtype=object), missing)


def _read_table(
    path: PathLike,
    label_column: Any,
    feature_columns: Sequence[Any] | str | None,
    id_column: Any,
    format: str | None,
) -> tuple[ArrayData, list[Any]]:
    """:func:`read_table`, also returning the feature columns used (in order)."""
    file = _existing_file(path, "table file")
    frame = _read_frame(file, _table_format(file, format))
    special = [c for c in (label_column, id_column) if c is not None]
    if label_column is not None and label_column == id_column:
        raise InvalidInputError(f"label_column and id_column are both {label_column!r}")
    for column, role in ((label_column, "label"), (id_column, "id")):
        if column is not None:
            _check_columns(frame, [column], file, role)
    features = _feature_list(frame, feature_columns, special, file)

    item_names = None
    if id_column is not None:
        ids = frame[id_column]
        if ids.isna().any():
            rows = np.flatnonzero(ids.isna().to_numpy()).tolist()
            raise InvalidInputError(
                f"{file}: id column {id_column!r} is empty in rows {_first(rows)}"
            )
        item_names = tuple(str(v) for v in ids)
        duplicated = ids[ids.duplicated()].astype(str).unique().tolist()
        if duplicated:
            raise InvalidInputError(
                f"{file}: id column {id_column!r} must be unique; repeated: {_first(duplicated)}"
            )

    def row_name(i: int) -> str:
        return f"{i} (id {item_names[i]!r})" if item_names is not None else str(i)

    x = _table_features(frame, features, file, row_name)
    if label_column is None:
        y, class_names = np.full(len(frame), MISSING, dtype=np.int64), None
    else:
        y, class_names = _table_labels(frame, label_column, file, row_name)
    return ArrayData(x, y, class_names, item_names), features


def read_table(
    path: PathLike,
    *,
    label_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    format: str | None = None,
) -> ArrayData:
    """Read a CSV or Parquet table into features and labels (unlabelled rows allowed).

    Args:
        path: the file; its format comes from the name (``.csv``, ``.tsv``, ``.parquet``,
            ``.pq``, optionally compressed: ``.csv.gz``) unless ``format`` is given.
        label_column: the column holding labels; None: every row is unlabelled. Text
            labels become class indices by sorted unique value (``class_names`` records
            them; surrounding spaces are ignored); integer labels are used as is and must
            be >= 0. Empty / NaN cells are :data:`MISSING`.
        feature_columns: the feature columns, in order; None: every column except the
            label and id columns. Features must be numeric and finite.
        id_column: a column of unique item names, kept as ``item_names``.
        format: ``"csv"``, ``"tsv"`` or ``"parquet"`` (reading Parquet needs pyarrow).

    Returns:
        ArrayData with ``x`` float32 ``[N, F]`` and ``y`` int64 ``[N]``.

    Raises:
        DataNotFoundError: the file does not exist, or pyarrow is missing for Parquet.
        InvalidInputError: an unreadable or empty table, a missing column (the message
            lists the table's columns), a non-numeric feature column, NaN / infinite
            features (first few rows and columns named), invalid labels or ids.
    """
    data, _ = _read_table(path, label_column, feature_columns, id_column, format)
    return data


# --------------------------------------------------------------------------- arrays


def _load_npy_file(file: Path) -> Any:
    with open(file, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise InvalidInputError(
            f"{file}: not a .npy or .npz file (save arrays with numpy.save or numpy.savez); "
            "for CSV or Parquet tables use the csv / parquet loaders or read_table"
        )
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInputError(
            f"{file}: not a readable .npy / .npz file of plain numeric arrays ({exc})"
        ) from None


def _npz_array(archive: Any, key: str, file: Path) -> NDArray[Any]:
    try:
        return np.asarray(archive[key])
    except ValueError as exc:  # object arrays need pickle
        raise InvalidInputError(f"{file}: cannot read array {key!r} ({exc})") from None


def _read_array_file(
    file: Path, x_key: str, y_key: str | None, want_x: bool
) -> tuple[NDArray[Any] | None, NDArray[Any] | None, str]:
    """``(x, y, source_of_y)`` from a .npy (x or labels) or .npz file."""
    loaded = _load_npy_file(file)
    if isinstance(loaded, np.ndarray):
        return (loaded, None, "") if want_x else (None, loaded, str(file))
    with loaded as archive:
        keys = list(archive.files)
        x = None
        if want_x:
            if x_key not in keys:
                raise InvalidInputError(
                    f"{file} has no array {x_key!r}; its arrays are: "
                    f"{', '.join(map(repr, keys)) or 'none'}. Pass x_key=... to pick one"
                )
            x = _npz_array(archive, x_key, file)
        y = None
        if y_key is not None and y_key in keys:
            y = _npz_array(archive, y_key, file)
        elif not want_x:
            if len(keys) != 1:
                raise InvalidInputError(
                    f"labels file {file} has no array {y_key!r}; its arrays are: "
                    f"{', '.join(map(repr, keys)) or 'none'}. Pass y_key=... to pick one"
                )
            y = _npz_array(archive, keys[0], file)
        return x, y, f"{file}[{y_key!r}]" if want_x else str(file)


def _array_features(x: NDArray[Any], file: Path) -> NDArray[np.float32]:
    if x.dtype.kind not in "fiub":
        raise InvalidInputError(f"{file}: inputs must be numeric, got dtype {x.dtype}")
    if x.ndim < 2:
        raise InvalidInputError(
            f"{file}: inputs must have shape [N, ...] with a feature dimension, got shape "
            f"{list(x.shape)}; reshape a 1-D array of N scalars to [N, 1]"
        )
    if len(x) == 0:
        raise InvalidInputError(f"{file}: the array holds no items (shape {list(x.shape)})")
    return _to_float32(x, str(file), lambda p: f"item {p[0]} index {list(p[1:])}")


def _array_labels(y: NDArray[Any], source: str) -> tuple[NDArray[np.int64], tuple[str, ...] | None]:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = " (one-hot? store y.argmax(1))" if y.ndim == 2 else ""
        raise InvalidInputError(
            f"{source}: labels must be class indices of shape [N], got shape {list(y.shape)}{hint}"
        )
    kind = y.dtype.kind
    if kind in "US":
        values = y.astype(str)
        return _labels_from_names(values, np.zeros(len(y), dtype=bool))
    if kind in "iubf":
        missing = np.isnan(y) if kind == "f" else np.zeros(len(y), dtype=bool)
        where = lambda i: f"item {i}"  # noqa: E731
        return _labels_from_numbers(y, missing, source, where, allow_marker=True), None
    raise InvalidInputError(f"{source}: labels must be integers or strings, got dtype {y.dtype}")


def _read_arrays(
    path: PathLike, labels_path: PathLike | None, x_key: str, y_key: str | None
) -> tuple[ArrayData, bool]:
    """:func:`read_arrays`, also saying whether any labels array was found."""
    file = _existing_file(path, "array file")
    x_raw, y_raw, y_source = _read_array_file(file, x_key, y_key, want_x=True)
    assert x_raw is not None
    if labels_path is not None:
        labels_file = _existing_file(labels_path, "labels file")
        _, y_raw, y_source = _read_array_file(labels_file, x_key, y_key, want_x=False)
    x = _array_features(x_raw, file)
    if y_raw is None:
        return ArrayData(x, np.full(len(x), MISSING, dtype=np.int64)), False
    y, class_names = _array_labels(np.asarray(y_raw), y_source)
    if len(y) != len(x):
        raise InvalidInputError(
            f"{file} holds {len(x)} inputs but {y_source} holds {len(y)} labels; they must "
            "match one to one"
        )
    return ArrayData(x, y, class_names), True


def read_arrays(
    path: PathLike,
    *,
    labels_path: PathLike | None = None,
    x_key: str = "x",
    y_key: str | None = "y",
) -> ArrayData:
    """Read inputs (and labels) from ``.npy`` / ``.npz`` files (unlabelled items allowed).

    Args:
        path: a ``.npy`` file holding the inputs ``[N, ...]``, or a ``.npz`` file holding
            them as ``x_key`` and, optionally, labels as ``y_key``. Any numeric dtype is
            converted to float32 (values are not rescaled).
        labels_path: a ``.npy`` (or ``.npz``: its ``y_key`` array, or its only array) of
            labels ``[N]``; it takes precedence over labels inside ``path``. Without any
            labels every item is unlabelled.
        x_key: the inputs' name inside a ``.npz``.
        y_key: the labels' name inside a ``.npz``; None ignores labels stored there.

    Labels: integers are class indices (``>= 0``; :data:`MISSING` ``-1`` marks an
    unlabelled item); floats must be integer-valued, NaN marks unlabelled; strings become
    class indices by sorted unique value (``class_names``), the empty string marks
    unlabelled.

    Raises:
        DataNotFoundError: a file does not exist.
        InvalidInputError: an unreadable file, a ``.npz`` without ``x_key`` (the message
            lists its arrays), non-numeric or non-finite inputs, labels of the wrong shape
            or values, different numbers of inputs and labels.
    """
    data, _ = _read_arrays(path, labels_path, x_key, y_key)
    return data


# --------------------------------------------------------------------------- dataset loaders


def _standardize(
    train_x: NDArray[np.float32], test_x: NDArray[np.float32] | None
) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
    """Subtract the training mean and divide by the training std (per feature; ddof=0).

    Columns without variance in the training rows are centred but not scaled.
    """
    mean = train_x.mean(axis=0, dtype=np.float64)
    std = train_x.std(axis=0, dtype=np.float64)
    scale = np.where(std > 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0), std, 1.0)

    def apply(x: NDArray[np.float32]) -> NDArray[np.float32]:
        scaled: NDArray[np.float64] = (x.astype(np.float64) - mean) / scale
        return scaled.astype(np.float32)

    return apply(train_x), None if test_x is None else apply(test_x)


def _load_table_dataset(
    fmt: str | None,
    path: PathLike,
    label_column: str,
    feature_columns: Sequence[str] | None,
    test_path: PathLike | None,
    test_fraction: float,
    standardize: bool,
    seed: int,
) -> Dataset:
    test_fraction, seed = _check_fraction(test_fraction), _check_seed(seed)
    if label_column is None:
        raise InvalidInputError("label_column is required: the column holding the labels")
    train, features = _read_table(path, label_column, feature_columns, None, fmt)
    _require_labels(train, str(path), "read_table")
    test = None
    if test_path is not None:
        test, _ = _read_table(test_path, label_column, features, None, fmt)
        _require_labels(test, str(test_path), "read_table")
    train_x, train_y, test_x, test_y, num_classes = _split_or_test(
        train, test, test_fraction, seed, str(path), str(test_path)
    )
    if standardize:
        train_x, test_x = _standardize(train_x, test_x)
    name = _bare_name(Path(path))
    return _dataset(name, train_x, train_y, test_x, test_y, num_classes)


def _csv_or_tsv(path: PathLike) -> str:
    name = Path(path).name.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return "tsv" if name.endswith(".tsv") else "csv"


def load_csv(
    path: PathLike,
    label_column: str,
    feature_columns: Sequence[str] | None = None,
    test_path: PathLike | None = None,
    test_fraction: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
) -> Dataset:
    """A labelled CSV table as a :class:`Dataset` (registered as ``csv``).

    Args:
        path: the CSV file (``.tsv`` names are read tab-separated; ``.gz`` etc. are
            decompressed). Its rows, in file order, are the pool; row i has id i.
        label_column: the label column; every row needs a label (see
            :func:`read_table` for how labels are read).
        feature_columns: the feature columns; None: all columns but the label column.
        test_path: a second table with the same label and feature columns, the test set.
        test_fraction: without ``test_path``, move ``round(test_fraction * N)`` rows (at
            least one), drawn by ``numpy.random.default_rng(seed)``, to the test set; both
            parts keep file order. 0: no test set (empty test tensors).
        standardize: scale each feature by the pool's mean and standard deviation (the
            test rows use the pool's statistics); constant columns are only centred.
        seed: the seed of the test split.

    Returns:
        Dataset named after the file, inputs float32 ``[N, F]``; ``num_classes`` is the
        number of distinct text labels, or the largest integer label + 1 (train and test).

    Raises:
        DataNotFoundError, InvalidInputError: as :func:`read_table`; also for rows
            without a label, or both ``test_path`` and ``test_fraction``.
    """
    return _load_table_dataset(
        _csv_or_tsv(path),
        path,
        label_column,
        feature_columns,
        test_path,
        test_fraction,
        standardize,
        seed,
    )


def load_parquet(
    path: PathLike,
    label_column: str,
    feature_columns: Sequence[str] | None = None,
    test_path: PathLike | None = None,
    test_fraction: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
) -> Dataset:
    """A labelled Parquet table as a :class:`Dataset` (registered as ``parquet``).

    The same as :func:`load_csv` for a Parquet file (needs pyarrow: ``pip install
    bayesal[parquet]``; without it, DataNotFoundError says so).
    """
    return _load_table_dataset(
        "parquet",
        path,
        label_column,
        feature_columns,
        test_path,
        test_fraction,
        standardize,
        seed,
    )


def load_npy(
    path: PathLike,
    labels_path: PathLike | None = None,
    test_path: PathLike | None = None,
    test_labels_path: PathLike | None = None,
    test_fraction: float = 0.0,
    seed: int = 0,
    x_key: str = "x",
    y_key: str = "y",
) -> Dataset:
    """Labelled arrays from ``.npy`` / ``.npz`` files as a :class:`Dataset` (registered as
    ``npy``).

    Args:
        path: inputs ``[N, ...]`` (``.npy``), or a ``.npz`` with arrays ``x_key`` and
            ``y_key``. Inputs become float32 unchanged in value (no standardisation).
        labels_path: labels ``[N]`` (``.npy``), needed unless ``path`` is a ``.npz`` that
            holds them. Every item needs a label.
        test_path: the test inputs, in the same form.
        test_labels_path: the test labels, in the same form.
        test_fraction: without ``test_path``, the fraction of items moved to the test set
            (see :func:`load_csv`).
        seed: the seed of the test split.
        x_key: the inputs' array name inside ``.npz`` files.
        y_key: the labels' array name inside ``.npz`` files.

    Returns:
        Dataset named after the file; ``num_classes`` is the largest label + 1 (or the
        number of distinct string labels), over train and test.

    Raises:
        DataNotFoundError, InvalidInputError: as :func:`read_arrays`; also for missing
            labels, or both ``test_path`` and ``test_fraction``.
    """
    test_fraction, seed = _check_fraction(test_fraction), _check_seed(seed)

    def read(x_path: PathLike, y_path: PathLike | None, parameter: str) -> ArrayData:
        data, has_labels = _read_arrays(x_path, y_path, x_key, y_key)
        if not has_labels:
            raise InvalidInputError(
                f"{x_path}: no labels; pass {parameter}=... (a .npy of labels [N]), or store "
                f"inputs and labels as {x_key!r} and {y_key!r} in a .npz"
            )
        _require_labels(data, str(x_path if y_path is None else y_path), "read_arrays")
        return data

    if test_path is None and test_labels_path is not None:
        raise InvalidInputError("test_labels_path is given without test_path")
    train = read(path, labels_path, "labels_path")
    test = None if test_path is None else read(test_path, test_labels_path, "test_labels_path")
    train_x, train_y, test_x, test_y, num_classes = _split_or_test(
        train, test, test_fraction, seed, str(path), str(test_path)
    )
    return _dataset(_bare_name(Path(path)), train_x, train_y, test_x, test_y, num_classes)
