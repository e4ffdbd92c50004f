"""Every mistake in a dataset's files at once: missing files and missing columns.

The file loaders (``csv``, ``parquet``, ``npy``, ``image_folder``, ``text``) stop at their first
problem: a config whose ``path`` has a wrong column and whose ``test_path`` does not
exist would take two runs to learn both. :func:`dataset_file_problems` looks at every
file and folder a file dataset names, and at the header of every table (cheap: one
line, or a Parquet schema), and returns each problem, so that ``bayesal run`` reports
them together (:func:`bayesal.experiment.runner.check_experiment`, and with the other
field errors of an invalid config).
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["dataset_file_problems"]

#: Per file dataset: its file parameters and whether each is a folder.
_FILE_PARAMS: dict[str, tuple[tuple[str, bool], ...]] = {
    "csv": (("path", False), ("test_path", False)),
    "parquet": (("path", False), ("test_path", False)),
    "npy": (
        ("path", False),
        ("labels_path", False),
        ("test_path", False),
        ("test_labels_path", False),
    ),  # fmt: skip
    "image_folder": (("root", True), ("test_root", True)),
    "text": (("path", False), ("test_path", False)),
}
#: The column parameters of the ``text`` dataset and their defaults.
_TEXT_COLUMNS = {"text_column": "text", "label_column": "label", "id_column": None}
_SHOW = 12


def _header(path: Path, fmt: str) -> list[str] | None:
    """The column names of a table, or None when they cannot be read cheaply here (a
    compressed CSV, Parquet without pyarrow, an unreadable file: the loader says why)."""
    try:
        if fmt == "parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                return None
            return [str(name) for name in pq.read_schema(path).names]
        name = path.name.lower()
        if not name.endswith((".csv", ".tsv", ".txt")):
            return None  # compressed (.gz, .zip, ...): pandas reads it; the loader checks
        with open(path, encoding="utf-8", newline="") as fh:
            first = fh.readline()
        delimiter = "\t" if name.endswith(".tsv") else ","
        row = next(csv.reader([first], delimiter=delimiter), [])
        return [cell.strip() for cell in row] or None
    except (OSError, UnicodeDecodeError, ValueError, csv.Error):
        return None
    except Exception:  # pyarrow's own errors: the loader reports the file
        return None


def _missing_column(role: str, column: object, columns: Sequence[str], path: object) -> str:
    close = difflib.get_close_matches(str(column), columns, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(columns[:_SHOW]) + (" ..." if len(columns) > _SHOW else "")
    return f"{role}: no column {column!r} in {path} (its columns: {shown}){hint}"


def dataset_file_problems(name: object, params: object) -> list[str]:
    """Each problem with the files of file dataset ``name`` (``params`` as in the
    config): a file or folder that does not exist (or is of the other kind), and for
    tables a ``label_column`` or ``feature_columns`` entry that a table's header lacks.
    Empty for other datasets, and when nothing is wrong. Paths are relative to the
    current directory, as the loaders read them."""
    if not isinstance(name, str) or name not in _FILE_PARAMS or not isinstance(params, Mapping):
        return []
    problems: list[str] = []
    present: dict[str, Path] = {}
    for key, folder in _FILE_PARAMS[name]:
        value = params.get(key)
        if value is None or not isinstance(value, str | Path):
            continue  # a required one missing, or of the wrong type: validation says so
        path = Path(value).expanduser()
        where = f"dataset.params.{key}"
        if not path.exists():
            kind = "folder" if folder else "file"
            problems.append(f"{where}: {kind} {str(value)!r} does not exist")
        elif folder and not path.is_dir():
            problems.append(f"{where}: {str(value)!r} is a file, not a folder")
        elif not folder and not path.is_file():
            problems.append(f"{where}: {str(value)!r} is a folder, not a file")
        else:
            present[key] = path
    if name in ("csv", "parquet"):
        label = params.get("label_column")
        features = params.get("feature_columns")
        for key in ("path", "test_path"):
            if key not in present:
                continue
            columns = _header(present[key], name)
            if columns is None:
                continue
            if isinstance(label, str) and label not in columns:
                role = "dataset.params.label_column"
                problems.append(_missing_column(role, label, columns, params[key]))
            if isinstance(features, list | tuple):
                for feature in features:
                    if isinstance(feature, str) and feature not in columns:
                        role = "dataset.params.feature_columns"
                        problems.append(_missing_column(role, feature, columns, params[key]))
    if name == "text":
        for key in ("path", "test_path"):
            if key not in present:
                continue
            parquet = present[key].name.lower().endswith((".parquet", ".pq", ".parq"))
            columns = _header(present[key], "parquet" if parquet else "csv")
            if columns is None:
                continue
            for param, default in _TEXT_COLUMNS.items():
                column = params.get(param, default)
                if isinstance(column, str) and column not in columns:
                    role = f"dataset.params.{param}"
                    problems.append(_missing_column(role, column, columns, params[key]))
    return problems
