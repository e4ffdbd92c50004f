"""Text pools: a CSV or Parquet table with a column of texts.

* :func:`read_text` reads the texts, labels (optional; unlabelled rows allowed) and item
  names of a table into a :class:`TextData`, a chunk of rows at a time (CSV through
  ``pandas.read_csv(chunksize=...)``, Parquet one record batch at a time), reading only
  the columns it needs.
* :func:`load_text` (registered as the ``text`` dataset) turns a labelled table into a
  :class:`~bayesal.data.dataset.Dataset` of dense features for simulated studies
  (``bayesal run``), the features fitted on the pool only
  (:mod:`bayesal.data.text_features`).
* :func:`read_text_features` gives a labelling session (``data: {kind: text}``) or the
  ask/tell learner an :class:`~bayesal.data.files.ArrayData` of features with the
  file's item names.

Every problem names the file, the column and the rows: a missing column (the table's
columns listed), an empty or NaN text, a cell that is not a string, a bad label, an
empty or repeated id.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from bayesal.data.dataset import Dataset
from bayesal.data.files import (
    MISSING,
    ArrayData,
    PathLike,
    _bare_name,
    _check_fraction,
    _check_seed,
    _existing_file,
    _first,
    _split_rows,
    _table_format,
)
from bayesal.data.text_features import TextFeaturizer, fit_text_features
from bayesal.errors import DataNotFoundError, InvalidInputError

__all__ = ["TextData", "load_text", "read_text", "read_text_features"]

#: Rows per chunk when reading a table.
CHUNK_ROWS = 10_000
_NA_LABELS = {"", "nan", "na", "n/a", "null"}


@dataclass(frozen=True, eq=False)
class TextData:
    """The texts of a table, with labels and item names.

    Attributes:
        texts: one non-empty string per row, in file order.
        y: int64 labels ``[N]``: a class index, or :data:`~bayesal.data.MISSING` (-1)
            where the row has no label.
        class_names: ``class_names[y[i]]`` when the labels were names; None for integer
            class indices (or no label column).
        item_names: the id column's values as strings, or None without an id column.
    """

    texts: tuple[str, ...]
    y: NDArray[np.int64]
    class_names: tuple[str, ...] | None = None
    item_names: tuple[str, ...] | None = None

    @property
    def num_items(self) -> int:
        return len(self.texts)

    @property
    def ids(self) -> NDArray[np.int64]:
        """Stable int ids for the learner (``ActiveLearner(..., ids=data.ids)``): the id
        column's values when they are all non-negative integers (unique by
        construction), else the row numbers ``0..N-1`` (the names stay in
        ``item_names``)."""
        names = self.item_names
        if names is not None and all(n.isdigit() and len(n) < 19 for n in names):
            return np.asarray([int(n) for n in names], dtype=np.int64)
        return np.arange(self.num_items, dtype=np.int64)


def _column_error(file: Path, role: str, column: Any, columns: list[Any]) -> InvalidInputError:
    return InvalidInputError(
        f"{file}: {role} column {column!r} not found; the table's columns are: "
        f"{', '.join(map(repr, columns))}"
    )


def _chunks(
    file: Path, fmt: str, columns: list[Any], chunk_rows: int
) -> Iterator[dict[Any, list[Any]]]:
    """The table's ``columns`` as python values, ``chunk_rows`` rows at a time (CSV
    cells as strings, empty cells as ``""``; Parquet values as stored, null as None)."""
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise DataNotFoundError(
                f"{file}: reading Parquet needs pyarrow: pip install bayesal[parquet]"
            ) from None
        try:
            handle = pq.ParquetFile(file)
        except Exception as exc:  # noqa: BLE001  pyarrow's errors: not a Parquet file
            raise InvalidInputError(f"{file}: cannot read it as PARQUET: {exc}") from None
        names = list(handle.schema_arrow.names)
        for column in columns:
            if column not in names:
                raise _column_error(file, "the", column, names)
        for batch in handle.iter_batches(batch_size=chunk_rows, columns=columns):
            yield {c: batch.column(c).to_pylist() for c in columns}
        return
    import pandas as pd

    try:
        reader = pd.read_csv(
            file,
            sep="\t" if fmt == "tsv" else ",",
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
            usecols=lambda c: c in columns,
        )
        header_checked = False
        for frame in reader:
            if not header_checked:
                missing = [c for c in columns if c not in frame.columns]
                if missing:
                    header = pd.read_csv(file, sep="\t" if fmt == "tsv" else ",", nrows=0)
                    raise _column_error(file, "the", missing[0], list(header.columns))
                header_checked = True
            yield {c: frame[c].tolist() for c in columns}
        if not header_checked:  # a header without rows
            header = pd.read_csv(file, sep="\t" if fmt == "tsv" else ",", nrows=0)
            missing = [c for c in columns if c not in header.columns]
            if missing:
                raise _column_error(file, "the", missing[0], list(header.columns))
    except pd.errors.EmptyDataError:
        raise InvalidInputError(f"{file}: the file is empty (no header, no rows)") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"{file}: cannot read it as {fmt.upper()}: {exc}") from None


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in _NA_LABELS


def _labels(
    raw: list[Any], file: Path, column: Any, where: Any
) -> tuple[NDArray[np.int64], tuple[str, ...] | None]:
    """Class indices of label cells: names (sorted unique) or non-negative integers."""
    y = np.full(len(raw), MISSING, dtype=np.int64)
    present = [i for i, v in enumerate(raw) if not _is_missing(v)]
    values = [raw[i] for i in present]

    def as_int(v: Any) -> int | None:
        if isinstance(v, bool):
            return None
        if isinstance(v, numbers.Integral):
            return int(v)
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            return int(v.strip())
        return None

    ints = [as_int(v) for v in values]
    if values and all(i is not None for i in ints):
        bad = [present[k] for k, i in enumerate(ints) if i is not None and i < 0]
        if bad:
            raise InvalidInputError(
                f"{file}, label column {column!r}: integer labels must be >= 0; negative in "
                f"{_first([where(r) for r in bad])} (leave the cell empty for no label)"
            )
        y[present] = np.asarray(ints, dtype=np.int64)
        return y, None
    not_text = [present[k] for k, v in enumerate(values) if not isinstance(v, str)]
    if not_text:
        shown = _first([f"{where(r)} ({raw[r]!r})" for r in not_text])
        raise InvalidInputError(
            f"{file}, label column {column!r}: labels must be all class names (strings) or "
            f"all integer class indices; not a string: {shown}"
        )
    names = sorted({str(v).strip() for v in values})
    index = {name: i for i, name in enumerate(names)}
    y[present] = np.asarray([index[str(v).strip()] for v in values], dtype=np.int64)
    return y, tuple(names)


def read_text(
    path: PathLike,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    id_column: str | None = None,
    format: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> TextData:
    """Read the texts (and labels, item names) of a CSV / TSV / Parquet table.

    Args:
        path: the file; its format comes from the name (``.csv``, ``.tsv``,
            ``.parquet``, ``.pq``, optionally compressed: ``.csv.gz``) unless ``format``
            (``"csv"``, ``"tsv"``, ``"parquet"``) is given.
        text_column: the column of texts. Every row needs a non-empty string (CSV cells
            are read as strings as they are: ``NA`` is a text, an empty cell is not).
        label_column: the labels; None: every row is unlabelled. Empty / NaN / null
            cells (and ``NA``, ``N/A``, ``null``, ``nan`` in a CSV) mean no label; names
            become class indices by sorted unique value (``class_names``); integers
            (also integer strings in a CSV) are class indices, ``>= 0``.
        id_column: a column of unique, non-empty item names (``item_names``; all
            non-negative integers: also the learner's ``ids``).
        chunk_rows: rows read per chunk (only the named columns are read).

    Raises:
        DataNotFoundError: no such file; pyarrow missing for Parquet.
        InvalidInputError: a missing column (the table's columns listed), an empty or
            NaN text or a cell that is not a string (rows named), bad labels or ids, a
            table without rows.
    """
    file = _existing_file(path, "text table")
    fmt = _table_format(file, format)
    for value, role in (
        (text_column, "text_column"),
        (label_column, "label_column"),
        (id_column, "id_column"),
    ):
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidInputError(f"{role} must be a column name, got {value!r}")
    named = [c for c in (text_column, label_column, id_column) if c is not None]
    if len(set(named)) != len(named):
        raise InvalidInputError(
            f"text_column, label_column and id_column must be different columns, got {named}"
        )
    chunk_rows = int(chunk_rows)
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows must be positive, got {chunk_rows}")
    texts: list[str] = []
    labels: list[Any] = []
    names: list[str] = []
    bad_text: list[str] = []
    bad_ids: list[int] = []
    for chunk in _chunks(file, fmt, named, chunk_rows):
        offset = len(texts)
        id_values = chunk.get(id_column) if id_column is not None else None
        for i, value in enumerate(chunk[text_column]):
            row = offset + i
            if id_values is not None:
                raw_id = id_values[i]
                if _is_missing(raw_id) and not (isinstance(raw_id, str) and raw_id.strip()):
                    bad_ids.append(row)
                name = "" if raw_id is None else str(raw_id)
                names.append(name)
            if not isinstance(value, str):
                kind = "empty (NaN / null)" if _is_missing(value) else f"not a string ({value!r})"
                bad_text.append(f"row {row}{_id_note(names, row)}: {kind}")
                texts.append("")
            elif not value.strip():
                bad_text.append(f"row {row}{_id_note(names, row)}: empty")
                texts.append(value)
            else:
                texts.append(value)
        if label_column is not None:
            labels.extend(chunk[label_column])
    if not texts:
        raise InvalidInputError(f"{file}: the table has no rows")
    if bad_text:
        raise InvalidInputError(
            f"{file}, text column {text_column!r}: every row needs a non-empty text; "
            f"{_first(bad_text)}. Drop those rows or fill them in."
        )
    item_names = None
    if id_column is not None:
        if bad_ids:
            raise InvalidInputError(
                f"{file}: id column {id_column!r} is empty in rows {_first(bad_ids)}"
            )
        seen: set[str] = set()
        repeated = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        if repeated:
            raise InvalidInputError(
                f"{file}: id column {id_column!r} must be unique; repeated: {_first(repeated)}"
            )
        item_names = tuple(names)

    def where(row: int) -> str:
        return f"row {row}{_id_note(names, row)}"

    if label_column is None:
        y, class_names = np.full(len(texts), MISSING, dtype=np.int64), None
    else:
        y, class_names = _labels(labels, file, label_column, where)
    return TextData(tuple(texts), y, class_names, item_names)


def _id_note(names: list[str], row: int) -> str:
    return f" (id {names[row]!r})" if row < len(names) else ""


def _feature_args(features: str, feature_params: Mapping[str, Any] | None) -> dict[str, Any]:
    if not isinstance(features, str):
        raise InvalidInputError(f"features must be a method name, got {features!r}")
    return dict(feature_params or {})


def read_text_features(
    path: PathLike,
    *,
    text_column: str = "text",
    label_column: str | None = None,
    id_column: str | None = None,
    format: str | None = None,
    features: str = "tfidf",
    feature_params: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> tuple[ArrayData, TextData, TextFeaturizer]:
    """A text table as features for the ask/tell learner or a labelling session.

    The featurizer (``features``: ``tfidf``, ``hashing`` or ``embedding``, with
    ``feature_params``; :mod:`bayesal.data.text_features`) is fitted on every text of
    the file (the whole file is the pool). Returns ``(ArrayData, TextData, featurizer)``:
    float32 features ``[N, width]`` with the labels, class names and item names of
    :func:`read_text`, the texts, and the fitted featurizer (``featurizer.transform``
    gives test texts their features).
    """
    texts = read_text(
        path, text_column=text_column, label_column=label_column, id_column=id_column, format=format
    )
    featurizer, x = fit_text_features(
        texts.texts, features, _feature_args(features, feature_params), seed=seed
    )
    return ArrayData(x, texts.y, texts.class_names, texts.item_names), texts, featurizer


def _require_text_labels(data: TextData, source: str) -> None:
    rows = np.flatnonzero(data.y == MISSING)
    if rows.size:
        names = data.item_names
        shown = _first([f"id {names[i]!r}" for i in rows] if names else [f"row {i}" for i in rows])
        raise InvalidInputError(
            f"{source}: {rows.size} of {data.num_items} texts have no label ({shown}). A "
            "simulated study needs every pool and test label; for unlabelled texts use "
            "bayesal.data.text.read_text_features and the ActiveLearner, or a labelling session."
        )


def _merged_labels(
    train: TextData, test: TextData | None
) -> tuple[NDArray[np.int64], NDArray[np.int64] | None, int]:
    parts = [train] if test is None else [train, test]
    named = [p.class_names is not None for p in parts]
    if any(named) and not all(named):
        raise InvalidInputError(
            "labels must be class names in both files or integer indices in both files"
        )
    if not all(named):
        num_classes = max(int(p.y.max()) + 1 for p in parts)
        return train.y, None if test is None else test.y, num_classes
    union = sorted(set().union(*(p.class_names or () for p in parts)))
    index = {name: i for i, name in enumerate(union)}
    out = [np.asarray([index[c] for c in p.class_names or ()], dtype=np.int64)[p.y] for p in parts]
    return out[0], None if test is None else out[1], len(union)


def load_text(
    path: PathLike,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    features: str = "tfidf",
    feature_params: dict[str, Any] | None = None,
    test_path: PathLike | None = None,
    test_fraction: float = 0.0,
    seed: int = 0,
    format: str | None = None,
) -> Dataset:
    """A labelled text table as a :class:`Dataset` of features (registered as ``text``).

    Args:
        path: the CSV / TSV / Parquet table (see :func:`read_text`). Its rows, in file
            order (less the test rows), are the pool: a simulated study's pool ids are
            these positions; ``id_column`` is checked (unique, non-empty) but a
            :class:`Dataset` carries no names.
        text_column: as :func:`read_text`.
        label_column: as :func:`read_text`; every row needs a label.
        id_column: as :func:`read_text`.
        format: as :func:`read_text`.
        features: ``tfidf`` (default), ``hashing`` or ``embedding``;
            ``feature_params`` its parameters
            (:data:`~bayesal.data.text_features.FEATURE_METHODS`). Fitted on the pool's
            texts only; the test texts are transformed.
        test_path: a second table with the same columns, the test set.
        test_fraction: without ``test_path``, move ``round(test_fraction * N)`` rows (at
            least one), drawn by ``numpy.random.default_rng(seed)``, to the test set.
        seed: the test split's and the features' seed (TruncatedSVD).

    Returns:
        Dataset named after the file: float32 features ``[N, width]``, labels as
        :func:`read_text` reads them (names merged over both files, sorted).
    """
    test_fraction, seed = _check_fraction(test_fraction), _check_seed(seed)
    if label_column is None:
        raise InvalidInputError("label_column is required: the column holding the labels")

    def read(file: PathLike) -> TextData:
        return read_text(
            file,
            text_column=text_column,
            label_column=label_column,
            id_column=id_column,
            format=format,
        )

    train = read(path)
    _require_text_labels(train, str(path))
    test = None
    if test_path is not None:
        if test_fraction > 0:
            raise InvalidInputError("give test_path or test_fraction, not both")
        test = read(test_path)
        _require_text_labels(test, str(test_path))
    train_y, test_y, num_classes = _merged_labels(train, test)
    train_texts = list(train.texts)
    if test is None:
        train_rows, test_rows = _split_rows(len(train_texts), test_fraction, seed, str(path))
        test_texts = [train_texts[i] for i in test_rows]
        test_y = train_y[test_rows]
        train_texts = [train_texts[i] for i in train_rows]
        train_y = train_y[train_rows]
    else:
        test_texts = list(test.texts)
    assert test_y is not None
    featurizer, train_x = fit_text_features(
        train_texts, features, _feature_args(features, feature_params), seed=seed
    )
    test_x = featurizer.transform(test_texts)
    return Dataset(
        name=_bare_name(Path(path)),
        train_x=torch.from_numpy(train_x),
        train_y=torch.from_numpy(np.ascontiguousarray(train_y)),
        test_x=torch.from_numpy(test_x),
        test_y=torch.from_numpy(np.ascontiguousarray(test_y)),
        num_classes=num_classes,
    )
