"""The results store of an experiment directory: trial files, results.csv, snapshots.

Layout of ``out_dir`` (the names and columns are those of :mod:`bayesal.results_schema`,
which the report reads with)::

    config.resolved.yaml                 the validated config, defaults filled in
    trials/<label>__seed<seed>.csv       one finished trial (rounds 0..R), atomic
    snapshots/<label>__seed<seed>.npz    posterior pictures (2-D datasets), atomic
    results.csv                          every trial of the config, assembled, atomic

Every file is written to a temporary file in the same folder and moved into place with
``os.replace`` (:func:`bayesal._atomic.atomic_write`), so a reader (or a resumed run)
sees a whole file or none. Temporary files are named ``.<name>.<12 hex digits>.tmp`` and
never match a trial name, so one left behind by a killed process is ignored, and the
runner deletes such leftovers when it starts (:func:`remove_stale_temp_files`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bayesal._atomic import atomic_write, atomic_write_text
from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.loop import RoundRecord
from bayesal.results_schema import (
    RESOLVED_CONFIG_FILE,
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    RESULTS_FILE,
    SNAPSHOTS_DIR,
    TRIALS_DIR,
    snapshot_file_name,
    trial_file_name,
)

#: Columns whose value is the RoundRecord attribute of the same name.
_RECORD_COLUMNS = tuple(c for c in RESULT_COLUMNS if c not in ("strategy", "seed"))

__all__ = [
    "RESOLVED_CONFIG_FILE",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "SNAPSHOTS_DIR",
    "TRIALS_DIR",
    "assemble_results",
    "atomic_save_npz",
    "atomic_write_text",
    "read_trial",
    "record_rows",
    "remove_stale_temp_files",
    "snapshot_path",
    "trial_path",
    "write_trial",
]

#: How each kind of column is written from a record's value (floats in ``repr`` form:
#: exact round trip; ids space-separated in pick order).
_WRITE: dict[str, Callable[[Any], str]] = {
    "text": str,
    "int": str,
    "float": repr,
    "ids": lambda ids: " ".join(str(int(i)) for i in ids),
}


def trial_path(out_dir: str | os.PathLike[str], label: str, seed: int) -> Path:
    """``out_dir/trials/<label>__seed<seed>.csv``."""
    return Path(out_dir) / TRIALS_DIR / trial_file_name(label, seed)


def snapshot_path(out_dir: str | os.PathLike[str], label: str, seed: int) -> Path:
    """``out_dir/snapshots/<label>__seed<seed>.npz``."""
    return Path(out_dir) / SNAPSHOTS_DIR / snapshot_file_name(label, seed)


# The temporary names of bayesal._atomic.atomic_write: ".<name>.<12 hex digits>.tmp".
_TEMP_RE = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def remove_stale_temp_files(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files that killed writers left in ``trials/`` and ``snapshots/``.

    Only names of the form ``.<name>.<12 hex digits>.tmp`` are touched. Call it only while
    no other process writes to ``out_dir`` (a runner at its start). Returns the paths
    removed.
    """
    removed = []
    for folder in (Path(out_dir) / TRIALS_DIR, Path(out_dir) / SNAPSHOTS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            if _TEMP_RE.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def atomic_save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """Save ``arrays`` as a compressed ``.npz`` at ``path`` atomically."""
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def record_rows(label: str, seed: int, records: Iterable[RoundRecord]) -> list[list[str]]:
    """Rows of :data:`RESULT_COLUMNS` as text; floats in ``repr`` form (exact round trip),
    ``acquired_ids`` space-separated in pick order."""
    rows = []
    for r in records:
        values = {"strategy": label, "seed": seed, **{c: getattr(r, c) for c in _RECORD_COLUMNS}}
        rows.append([_WRITE[kind](values[col]) for col, kind in RESULT_SCHEMA.items()])
    return rows


def _csv_text(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def write_trial(
    out_dir: str | os.PathLike[str], label: str, seed: int, records: Iterable[RoundRecord]
) -> Path:
    """Write one finished trial to :func:`trial_path` atomically."""
    return atomic_write_text(
        trial_path(out_dir, label, seed), _csv_text(record_rows(label, seed, records))
    )


def read_trial(path: str | os.PathLike[str]) -> list[list[str]]:
    """The rows (as text, header checked) of one trial file."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"trial file {path} does not exist")
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0]) != RESULT_COLUMNS:
        raise InvalidInputError(
            f"{path} is not a trial file (header {rows[0] if rows else 'missing'}); "
            "delete it to recompute the trial"
        )
    body = rows[1:]
    if any(len(row) != len(RESULT_COLUMNS) for row in body):
        raise InvalidInputError(f"{path} has rows of the wrong length; delete it to recompute")
    return body


def assemble_results(out_dir: str | os.PathLike[str], trials: Iterable[tuple[str, int]]) -> Path:
    """Concatenate the files of ``trials`` into ``out_dir/results.csv`` atomically.

    Rows are sorted by (strategy, seed, round); values are copied as written (no float
    re-formatting). Raises DataNotFoundError when a trial file is missing.
    """
    rows = [row for label, seed in trials for row in read_trial(trial_path(out_dir, label, seed))]
    rows.sort(key=lambda row: (row[0], int(row[1]), int(row[2])))
    return atomic_write_text(Path(out_dir) / RESULTS_FILE, _csv_text(rows))
