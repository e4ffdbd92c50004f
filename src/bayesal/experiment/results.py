"""The results store of an experiment directory: trial files, results.csv, snapshots.

Layout of ``out_dir`` (the names and columns are those of :mod:`bayesal.results_schema`,
which the report reads with)::

    config.resolved.yaml                 the directory's grid: the validated config,
                                         defaults filled in, every arm and seed run here
    trials/<label>__seed<seed>.csv       one finished trial (rounds 0..R), stamped, atomic
    trials/<name>.rejected-<time>        a trial file that failed its check, set aside
    snapshots/<label>__seed<seed>.npz    posterior pictures (2-D datasets), atomic
    results.csv                          every trial of the grid, assembled, atomic
    .lock                                flock'ed by the run that uses the directory

Every file is written to a temporary file in the same folder and moved into place with
``os.replace`` (:func:`bayesal._atomic.atomic_write`), so a reader (or a resumed run)
sees a whole file or none. Temporary files are named ``.<name>.<12 hex digits>.tmp`` and
never match a trial name, so one left behind by a killed process is ignored, and the
runner deletes such leftovers when it starts (:func:`remove_stale_temp_files`).

A trial file starts with a *stamp* line (:func:`format_stamp`)::

    # bayesal-trial 1 config=<sha256> version=<bayesal version> rows=<R + 1> sha256=<sha256>

``config`` is the digest of what the trial was computed from
(:func:`bayesal.experiment.trial.trial_digest`), ``rows`` the number of round rows and
the last ``sha256`` the checksum of everything after the stamp line (the column header
and the rows). The CSV that follows has the columns of ``results.csv``:
:data:`RESULT_COLUMNS`, followed by the stopping-evidence columns
(:data:`~bayesal.results_schema.STOP_COLUMNS`) when the config records them
(``stopping:``). Every trial of a directory has the same columns.
:func:`check_trial` checks one file on its own; trial files written before stamps
existed (no stamp line) are checked by their rows only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bayesal._atomic import atomic_write, atomic_write_text
from bayesal._lock import ResultsDirInUseError, lock_results_dir
from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.loop import RoundRecord
from bayesal.results_schema import (
    INT_COLUMNS,
    LOCK_FILE,
    RESOLVED_CONFIG_FILE,
    RESULT_COLUMNS,
    RESULT_SCHEMA,
    RESULTS_FILE,
    RESULTS_MANIFEST_FILE,
    SNAPSHOTS_DIR,
    STOP_COLUMNS,
    STOP_SCHEMA,
    TASK_METRIC_COLUMNS,
    TRIALS_DIR,
    float_columns,
    result_columns,
    snapshot_file_name,
    trial_file_name,
)

#: Columns whose value is the RoundRecord attribute of the same name.
_RECORD_COLUMNS = tuple(c for c in RESULT_COLUMNS + STOP_COLUMNS if c not in ("strategy", "seed"))
#: The kind of every column a trial file may have.
_ALL_SCHEMA: dict[str, str] = {
    **RESULT_SCHEMA,
    **STOP_SCHEMA,
    **{name: "float" for names in TASK_METRIC_COLUMNS.values() for name in names},
}

__all__ = [
    "LOCK_FILE",
    "RESOLVED_CONFIG_FILE",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "SNAPSHOTS_DIR",
    "TRIALS_DIR",
    "ResultsDirInUseError",
    "TrialStamp",
    "assemble_results",
    "atomic_save_npz",
    "atomic_write_text",
    "check_trial",
    "format_stamp",
    "lock_results_dir",
    "parse_stamp",
    "read_trial",
    "read_trial_table",
    "records_have_stopping",
    "records_task",
    "record_rows",
    "remove_stale_temp_files",
    "set_aside",
    "snapshot_path",
    "trial_path",
    "trial_text",
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
    """Delete temporary files that killed writers left in ``out_dir`` itself (results.csv,
    its manifest, config.resolved.yaml, summaries), ``trials/`` and ``snapshots/``.

    Only names of the form ``.<name>.<12 hex digits>.tmp`` are touched. Call it only while
    no other process writes to ``out_dir`` (a runner at its start). Returns the paths
    removed.
    """
    removed = []
    for folder in (Path(out_dir), Path(out_dir) / TRIALS_DIR, Path(out_dir) / SNAPSHOTS_DIR):
        if not folder.is_dir():
            continue
        for path in folder.glob(".*.tmp"):
            if _TEMP_RE.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def atomic_save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> Path:
    """Save ``arrays`` as a compressed ``.npz`` at ``path`` atomically."""
    # numpy's stub types **kwds together with the keyword allow_pickle: bool.
    return atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))  # type: ignore[arg-type]


def records_have_stopping(records: Sequence[RoundRecord]) -> bool:
    """Whether ``records`` carry stopping evidence (all of them or none: InvalidInputError
    for a mix)."""
    have = [r.stop_mean_entropy is not None for r in records]
    if any(have) and not all(have):
        raise InvalidInputError("some round records carry stopping evidence and others not")
    return bool(have) and all(have)


def records_task(records: Sequence[RoundRecord]) -> str:
    """The task whose metrics ``records`` carry: ``"classification"`` when they carry no
    ``metrics``, else the task of :data:`~bayesal.results_schema.TASK_METRIC_COLUMNS`
    whose metric names they are (the same for every record: InvalidInputError
    otherwise)."""
    names = {tuple(r.metrics) if r.metrics is not None else None for r in records}
    if len(names) > 1:
        raise InvalidInputError("the round records carry metrics of different tasks")
    found = next(iter(names), None)
    if found is None:
        return "classification"
    for task, metrics in TASK_METRIC_COLUMNS.items():
        if tuple(metrics) == found:
            return task
    raise InvalidInputError(f"round records carry metrics {list(found)} of no known task")


def record_rows(label: str, seed: int, records: Iterable[RoundRecord]) -> list[list[str]]:
    """Rows of :data:`RESULT_COLUMNS` (plus the stopping-evidence columns when the
    records carry it; another task's metric columns in place of ``test_accuracy`` and
    ``test_nll``: :func:`~bayesal.results_schema.result_columns`) as text; floats in
    ``repr`` form (exact round trip), ``acquired_ids`` space-separated in pick order."""
    records = list(records)
    columns = result_columns(records_have_stopping(records), records_task(records))
    rows = []
    for r in records:
        values = {"strategy": label, "seed": seed, **{c: getattr(r, c) for c in _RECORD_COLUMNS}}
        if r.metrics is not None:
            values.update(r.metrics)
        rows.append([_WRITE[_ALL_SCHEMA[col]](values[col]) for col in columns])
    return rows


def _csv_text(rows: Sequence[Sequence[str]], columns: Sequence[str] | None = None) -> str:
    """The CSV text: the header ``columns`` (default: those the rows' width implies),
    then the rows."""
    if columns is None:
        width = len(rows[0]) if rows else len(RESULT_COLUMNS)
        columns = result_columns(width == len(RESULT_COLUMNS) + len(STOP_COLUMNS))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _known_header(header: Sequence[str]) -> bool:
    return any(
        tuple(header) == result_columns(stopping, task)
        for task in TASK_METRIC_COLUMNS
        for stopping in (False, True)
    )


#: The first word of a trial file's stamp line, and the stamp's format version.
STAMP_PREFIX = "# bayesal-trial"
STAMP_FORMAT = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_IDS_RE = re.compile(r"^(\d+( \d+)*)?$")


@dataclass(frozen=True)
class TrialStamp:
    """The stamp line of a trial file: what it was computed from, and its completeness
    check (``rows`` round rows whose text, column header included, has checksum
    ``sha256``)."""

    config: str
    version: str
    rows: int
    sha256: str


def format_stamp(stamp: TrialStamp) -> str:
    """The stamp line (without its newline)."""
    return (
        f"{STAMP_PREFIX} {STAMP_FORMAT} config={stamp.config} version={stamp.version} "
        f"rows={stamp.rows} sha256={stamp.sha256}"
    )


def parse_stamp(line: str) -> TrialStamp:
    """Parse a stamp line (:func:`format_stamp`); ValueError saying what is wrong."""
    words = line.split()
    if " ".join(words[:2]) != STAMP_PREFIX:
        raise ValueError(f"its first line is not a bayesal-trial stamp: {line[:60]!r}")
    if len(words) < 3 or words[2] != str(STAMP_FORMAT):
        raise ValueError(f"its stamp has format {words[2] if len(words) > 2 else '?'}, not 1")
    fields = dict(w.split("=", 1) for w in words[3:] if "=" in w)
    missing = [k for k in ("config", "version", "rows", "sha256") if k not in fields]
    if missing:
        raise ValueError(f"its stamp lacks {', '.join(missing)}")
    if not (_HEX64.match(fields["config"]) and _HEX64.match(fields["sha256"])):
        raise ValueError("its stamp's config or sha256 is not a sha256 digest")
    if not fields["rows"].isdigit():
        raise ValueError(f"its stamp's rows ({fields['rows']!r}) is not a count")
    return TrialStamp(fields["config"], fields["version"], int(fields["rows"]), fields["sha256"])


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def trial_text(label: str, seed: int, records: Sequence[RoundRecord], *, config_digest: str) -> str:
    """The whole text of one trial file: the stamp line, the column header, the rows."""
    if not _HEX64.match(config_digest):
        raise InvalidInputError(
            f"a trial file needs the sha256 digest of its config, got {config_digest!r} "
            "(compute the trial with bayesal.experiment.compute_trial)"
        )
    import bayesal  # at call time, when the package (and its __version__) is imported

    columns = result_columns(records_have_stopping(records), records_task(records))
    body = _csv_text(record_rows(label, seed, records), columns)
    stamp = TrialStamp(config_digest, bayesal.__version__, len(records), _sha256(body))
    return format_stamp(stamp) + "\n" + body


def write_trial(
    out_dir: str | os.PathLike[str],
    label: str,
    seed: int,
    records: Iterable[RoundRecord],
    *,
    config_digest: str,
) -> Path:
    """Write one finished trial, stamped (:func:`trial_text`), to :func:`trial_path`
    atomically."""
    text = trial_text(label, seed, list(records), config_digest=config_digest)
    return atomic_write_text(trial_path(out_dir, label, seed), text)


def _split_stamp(text: str) -> tuple[str | None, str]:
    """(stamp line or None, the CSV text after it)."""
    if text.startswith("#"):
        first, _, body = text.partition("\n")
        return first, body
    return None, text


def read_trial_table(path: str | os.PathLike[str]) -> tuple[tuple[str, ...], list[list[str]]]:
    """``(columns, rows)`` of one trial file (as text, header checked: the columns of
    :func:`~bayesal.results_schema.result_columns`; the stamp line skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"trial file {path} does not exist")
    with open(path, encoding="utf-8", newline="") as fh:
        _, body = _split_stamp(fh.read())
    rows = list(csv.reader(io.StringIO(body, newline="")))
    if not rows or not _known_header(rows[0]):
        raise InvalidInputError(
            f"{path} is not a trial file (header {rows[0] if rows else 'missing'}); "
            "delete it to recompute the trial"
        )
    columns, body_rows = tuple(rows[0]), rows[1:]
    if any(len(row) != len(columns) for row in body_rows):
        raise InvalidInputError(f"{path} has rows of the wrong length; delete it to recompute")
    return columns, body_rows


def read_trial(path: str | os.PathLike[str]) -> list[list[str]]:
    """The rows (as text, header checked; the stamp line skipped) of one trial file."""
    return read_trial_table(path)[1]


def _row_problem(
    rows: list[list[str]],
    *,
    label: str,
    seed: int,
    rounds: int,
    initial_labels: int,
    acquisition_size: int,
    stopping: bool = False,
    task: str = "classification",
) -> str | None:
    """Why the CSV rows (column header first) are not the trial ``label``, ``seed`` of
    ``rounds`` rounds (with the stopping-evidence columns when ``stopping``; the metric
    columns of ``task``), or None."""
    columns = result_columns(stopping, task)
    if not rows or tuple(rows[0]) != columns:
        if rows and any(tuple(rows[0]) == result_columns(stopping, t) for t in TASK_METRIC_COLUMNS):
            return f"its metric columns are not those of task {task!r} (the config's task)"
        if rows and _known_header(rows[0]):
            return (
                "it has the stopping-evidence columns, which the config does not record"
                if not stopping
                else "it lacks the stopping-evidence columns the config records (stopping:)"
            )
        return "its column header is not that of a trial file"
    body = rows[1:]
    if len(body) != rounds + 1:
        return (
            f"it holds {len(body)} round rows; the config needs {rounds + 1} (rounds 0..{rounds})"
        )
    col = {name: i for i, name in enumerate(columns)}
    floats = float_columns(task) + (STOP_COLUMNS if stopping else ())
    for r, row in enumerate(body):
        where = f"round row {r} (line {r + 2} of its CSV)"
        if len(row) != len(columns):
            return f"{where} has {len(row)} fields, not {len(columns)}"
        if row[col["strategy"]] != label:
            return f"{where} is of strategy {row[col['strategy']]!r}, not {label!r}"
        ints = {}
        for name in INT_COLUMNS:
            text = row[col[name]]
            if not re.fullmatch(r"-?\d+", text):
                return f"{where}: {name} {text!r} is not an integer"
            ints[name] = int(text)
        if ints["seed"] != seed:
            return f"{where} is of seed {ints['seed']}, not {seed}"
        if ints["round"] != r:
            return f"{where} is round {ints['round']}; rounds must be 0..{rounds} in order"
        if ints["n_labels"] != initial_labels + r * acquisition_size:
            return (
                f"{where}: n_labels {ints['n_labels']} is not initial_labels + round x "
                f"acquisition_size = {initial_labels + r * acquisition_size}"
            )
        for name in floats:
            text = row[col[name]]
            try:
                value = float(text) if text else math.nan
            except ValueError:
                return f"{where}: {name} {text!r} is not a number"
            if name.endswith("_seconds") and value < 0:
                return f"{where}: {name} is negative"
        ids = row[col["acquired_ids"]]
        if not _IDS_RE.match(ids):
            return f"{where}: acquired_ids {ids[:40]!r} is not space-separated ids"
        n_ids, want = len(ids.split()), (acquisition_size if r < rounds else 0)
        if n_ids != want:
            return f"{where} lists {n_ids} acquired ids, not {want}"
    return None


def check_trial(
    path: str | os.PathLike[str],
    *,
    label: str,
    seed: int,
    config_digest: str,
    rounds: int,
    initial_labels: int,
    acquisition_size: int,
    legacy_ok: bool,
    stopping: bool = False,
    task: str = "classification",
) -> str | None:
    """Why the trial file at ``path`` cannot be counted as trial ``label``, ``seed`` of the
    config with digest ``config_digest``, or None when it can.

    A stamped file (:func:`format_stamp`) must carry ``config_digest``, ``rounds + 1``
    rows and the checksum of its text. Every file must end with a newline, have the
    column header, exactly ``rounds + 1`` rows of this label and seed, rounds 0..R in
    order, ``n_labels = initial_labels + round x acquisition_size``, numbers that parse
    and ``acquisition_size`` acquired ids in every round but the last (none there). A
    file without a stamp (written by an older bayesal) is accepted only when
    ``legacy_ok`` (the directory's resolved config is readable and agrees) and its rows
    pass. With ``stopping``, the file must have the stopping-evidence columns (numbers),
    without it it must not. Its metric columns must be those of ``task``. The stamp's
    ``version`` is recorded, not checked.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"it cannot be read as text ({exc})"
    stamp_line, body = _split_stamp(text)
    stamp: TrialStamp | None = None
    if stamp_line is not None:
        try:
            stamp = parse_stamp(stamp_line)
        except ValueError as exc:
            return str(exc)
        if stamp.config != config_digest:
            return (
                "it was computed from another config (its config digest differs from this config's)"
            )
        if stamp.rows != rounds + 1:
            return f"its stamp says {stamp.rows} round rows; the config needs {rounds + 1}"
    elif not legacy_ok:
        return (
            f"it has no stamp (an older bayesal wrote it) and {RESOLVED_CONFIG_FILE} is "
            "missing or unreadable, so nothing says which config it was computed from"
        )
    if not text.endswith("\n"):
        return "it does not end with a newline (cut inside its last line)"
    try:
        rows = list(csv.reader(io.StringIO(body, newline="")))
    except csv.Error as exc:
        return f"it is not valid CSV ({exc})"
    problem = _row_problem(
        rows,
        label=label,
        seed=seed,
        rounds=rounds,
        initial_labels=initial_labels,
        acquisition_size=acquisition_size,
        stopping=stopping,
        task=task,
    )
    if problem is not None:
        return problem
    if stamp is not None and _sha256(body) != stamp.sha256:
        return "its rows do not match the checksum of its stamp (cut or edited)"
    return None


def set_aside(path: str | os.PathLike[str]) -> Path:
    """Rename a rejected trial file to ``<name>.rejected-<UTC time>`` (kept, never read
    again); returns the new path."""
    path = Path(path)
    when = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, n = path.with_name(f"{path.name}.rejected-{when}"), 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.rejected-{when}-{n}"), n + 1
    os.replace(path, target)
    return target


def assemble_results(
    out_dir: str | os.PathLike[str],
    trials: Iterable[tuple[str, int]],
    *,
    rounds: int | None = None,
) -> Path:
    """Concatenate the files of ``trials`` into ``out_dir/results.csv`` atomically.

    Rows are sorted by (strategy, seed, round); values are copied as written (no float
    re-formatting; trial files' stamp lines are not copied). With ``rounds``, every trial
    must hold exactly ``rounds + 1`` rows (InvalidInputError otherwise), and all of
    them the same columns (with or without the stopping evidence; InvalidInputError
    otherwise). Raises DataNotFoundError when a trial file is missing.
    """
    rows = []
    header: tuple[str, ...] | None = None
    for label, seed in trials:
        path = trial_path(out_dir, label, seed)
        columns, body = read_trial_table(path)
        if header is not None and columns != header:
            raise InvalidInputError(
                f"{path} has other columns than the trials before it ({len(columns)} vs "
                f"{len(header)}: with and without stopping evidence); delete it to recompute"
            )
        header = columns
        if rounds is not None and len(body) != rounds + 1:
            raise InvalidInputError(
                f"{path} holds {len(body)} round rows, not rounds + 1 = {rounds + 1}; "
                "delete it to recompute the trial"
            )
        rows.extend(body)
    rows.sort(key=lambda row: (row[0], int(row[1]), int(row[2])))
    text = _csv_text(rows, header)
    manifest = {
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "rows": len(rows),
        "trials": sorted([label, int(seed)] for label, seed in trials),
    }
    # The manifest first: a run killed between the two writes leaves a manifest that
    # does not match, which a reader reports (rerun with --collect-only), never a table
    # that passes for complete.
    atomic_write_text(Path(out_dir) / RESULTS_MANIFEST_FILE, json.dumps(manifest) + "\n")
    return atomic_write_text(Path(out_dir) / RESULTS_FILE, text)


# ------------------------------------------------------------------------------ the lock
