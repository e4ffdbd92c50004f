"""Read a results directory (results table, TwoMoons snapshots).

A results directory, as written by ``bayesal run CONFIG --out DIR``::

    DIR/results.csv                       one row per strategy x seed x round
    DIR/snapshots/<label>__seed<s>.npz    optional, 2-D datasets only
    DIR/results.manifest.json             optional: results.csv's checksum and trials
    DIR/trials/<label>__seed<s>.csv       optional: the checksummed trial files
    DIR/config.resolved.yaml              optional

When ``trials/`` holds trial files, every trial of ``results.csv`` must agree with its
file cell for cell (and the file with the checksum of its stamp line), manifest or not:
an edited ``results.csv`` is refused, naming the trial, round, column and both values,
never reported.

This module knows only files; it imports nothing of the loop or the experiment runner.
The columns and snapshot arrays come from :mod:`bayesal.results_schema`, which the
runner writes with.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesal._yaml import load_yaml
from bayesal.errors import (
    ConfigError,
    DataNotFoundError,
    IncompleteResultsError,
    InvalidInputError,
)
from bayesal.results_schema import (
    DEFAULT_TASK,
    INT_COLUMNS,
    KEY_COLUMNS,
    RESOLVED_CONFIG_FILE,
    RESULT_COLUMNS,
    RESULTS_FILE,
    RESULTS_MANIFEST_FILE,
    SNAPSHOT_ARRAYS,
    SNAPSHOT_NAME_PATTERN,
    SNAPSHOTS_DIR,
    STOP_COLUMNS,
    TASK_METRIC_COLUMNS,
    TIMING_COLUMNS,
    TRIALS_DIR,
    float_columns,
    result_columns,
    task_of_columns,
    trial_file_name,
)
from bayesal.thresholds import DEFAULT_THRESHOLDS, check_thresholds

SNAPSHOT_DIR = SNAPSHOTS_DIR

#: Columns a results table must have (the schema's, in order); extra columns are kept
#: (the optional stopping-evidence columns, when present, are checked as numbers too).
REQUIRED_COLUMNS: tuple[str, ...] = RESULT_COLUMNS

_IDS_RE = re.compile(r"^\s*(\d+(\s+\d+)*)?\s*$")
_SNAPSHOT_RE = re.compile(SNAPSHOT_NAME_PATTERN)

Snapshot = Mapping[str, np.ndarray]


def _run_first_hint(results_dir: Path) -> str:
    return f"run `bayesal run CONFIG --out {results_dir}` first to create it"


def load_results(results_dir: str | os.PathLike[str], *, complete: bool = True) -> pd.DataFrame:
    """Read and validate ``results_dir/results.csv``, by default as a whole grid (every
    strategy with the same seeds, every seed of a strategy with the same rounds: see
    :func:`validate_results`); ``complete=False`` accepts strategies over different
    seeds (a partial study read on purpose).

    Returns one row per strategy x seed x round, sorted by strategy (in order of first
    appearance in the file), seed and round, with integer ``seed``/``round``/``n_labels``,
    float metric and timing columns, and ``acquired_ids`` as a (possibly empty) string
    of space-separated ids. Extra columns are kept.

    Raises:
        DataNotFoundError: the directory or its ``results.csv`` does not exist.
        InvalidInputError: the table is malformed (the message names the problem).
    """
    directory = Path(results_dir)
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(
            f"{directory} is a file, not a results directory (give the --out directory of "
            "bayesal run)"
        )
    if not directory.is_dir():
        raise DataNotFoundError(
            f"results directory {directory} does not exist; {_run_first_hint(directory)}"
        )
    path = directory / RESULTS_FILE
    if not path.is_file():
        raise DataNotFoundError(f"no {RESULTS_FILE} in {directory}; {_run_first_hint(directory)}")
    _check_whole_file(path, complete=complete)
    try:
        # Everything is read as text first: a strategy called "NA" stays a string, and
        # a non-numeric cell is reported by name below instead of becoming NaN.
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{path} is empty; expected a header and rows") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not a readable CSV file: {exc}") from exc
    return validate_results(raw, source=str(path), from_csv=True, complete=complete)


def has_test_metrics(results_csv: str | os.PathLike[str]) -> bool:
    """False when every value of the first test metric of a results file
    (``test_accuracy``; another task's first metric column, ``f1_micro`` or ``rmse``) is
    empty (no test set)."""
    header = pd.read_csv(results_csv, nrows=0).columns
    task = task_of_columns(header) or DEFAULT_TASK
    first = TASK_METRIC_COLUMNS[task][0]
    column = pd.read_csv(results_csv, usecols=[first])[first]
    return not pd.to_numeric(column, errors="coerce").isna().all()


def results_task(df: pd.DataFrame) -> str:
    """The task of a results table, from its metric columns
    (:func:`~bayesal.results_schema.task_of_columns`); classification when it has no
    task's full set (:func:`validate_results` then names the missing columns)."""
    return task_of_columns(df.columns) or DEFAULT_TASK


#: The range of every task metric a results table holds: ``(low, high)``, inclusive.
_METRIC_RANGES: dict[str, tuple[float, float]] = {
    "f1_micro": (0.0, 1.0),
    "f1_macro": (0.0, 1.0),
    "mean_average_precision": (0.0, 1.0),
    "coverage_90": (0.0, 1.0),
    "rmse": (0.0, math.inf),
    "nll": (-math.inf, math.inf),
}


_REBUILD_HINT = "rebuild it with bayesal run CONFIG --out DIR --collect-only"


def _check_whole_file(path: Path, *, complete: bool) -> None:
    """``results.csv`` as the runner wrote it: ending in a newline, every line with the
    header's number of fields, and (when the runner left a manifest beside it) the
    checksum the runner recorded; without a manifest, every seed reaching the
    ``rounds`` of ``config.resolved.yaml`` when ``complete``."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        raise IncompleteResultsError(
            f"{path} is cut short (its last line has no newline); {_REBUILD_HINT}"
        )
    lines = data.decode("utf-8", errors="replace").splitlines()
    if lines:
        width = len(next(csv.reader([lines[0]])))
        for number, fields in enumerate(csv.reader(lines[1:]), start=2):
            if len(fields) != width:
                raise IncompleteResultsError(
                    f"{path}: line {number} has {len(fields)} fields, the header {width} "
                    f"(a line cut short or edited); {_REBUILD_HINT}"
                )
    manifest_path = path.with_name(RESULTS_MANIFEST_FILE)
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            expected = str(manifest["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IncompleteResultsError(
                f"{manifest_path} is unreadable ({exc}); {_REBUILD_HINT}"
            ) from None
        if hashlib.sha256(data).hexdigest() != expected:
            raise IncompleteResultsError(
                f"{path} is not the table bayesal run wrote (its checksum differs from "
                f"{manifest_path.name}: cut short or edited); {_REBUILD_HINT}"
            )
    elif complete:
        _check_rounds_against_resolved_config(path)
    # The manifest sits beside the table and can be deleted or rewritten with it: the
    # checksummed trial files are what the run computed, so the table must agree.
    _check_against_trials(path, lines)


def _trial_body(trial: Path) -> str:
    """The CSV text of one trial file (after its stamp line), its stamp's checksum
    verified when it has one (a file written before stamps has none)."""
    try:
        text = trial.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"{trial} is not UTF-8 text ({exc.reason}): a trial file edited or damaged; "
            f"{_RECOMPUTE_HINT}"
        ) from None
    if not text.startswith("#"):
        return text
    stamp, _, body = text.partition("\n")
    fields = dict(w.split("=", 1) for w in stamp.split()[3:] if "=" in w)
    expected = fields.get("sha256")
    if expected is None or hashlib.sha256(body.encode("utf-8")).hexdigest() != expected:
        raise InvalidInputError(
            f"{trial}: its rows do not match the checksum of its stamp line (the trial "
            f"file was edited or cut); {_RECOMPUTE_HINT}"
        )
    return body


_RECOMPUTE_HINT = "delete it and rerun bayesal run CONFIG --out DIR to recompute the trial"


def _check_against_trials(path: Path, lines: list[str]) -> None:
    """Every trial of ``results.csv`` agrees, cell for cell, with its checksummed file in
    ``trials/`` (when that folder holds trial files: a directory ``bayesal run`` wrote).

    Raises:
        InvalidInputError: a value differs (naming the strategy, seed, round, column,
            both values and the trial file), a trial's rows or columns differ, a trial
            file is missing or fails its own checksum.
    """
    folder = path.parent / TRIALS_DIR
    if not folder.is_dir() or not any(folder.glob("*__seed*.csv")):
        return
    rows = list(csv.reader(lines))
    if not rows or tuple(rows[0][:3]) != KEY_COLUMNS:
        return  # not a results table: validate_results says how
    header, body = rows[0], rows[1:]
    trials: dict[tuple[str, str], dict[str, list[str]]] = {}
    for row in body:
        if len(row) == len(header):
            trials.setdefault((row[0], row[1]), {})[row[2]] = row
    for (label, seed), in_table in trials.items():
        if not re.fullmatch(r"\d+", seed):
            continue  # validate_results names the bad seed
        trial = folder / trial_file_name(label, int(seed))
        where = f"{path}: strategy={label!r}, seed={seed}"
        if not trial.is_file():
            raise InvalidInputError(
                f"{where} has no trial file {TRIALS_DIR}/{trial.name} (results.csv holds "
                f"rows no trial of this directory computed: edited, or copied from another "
                f"directory); {_REBUILD_HINT}"
            )
        trial_rows = list(csv.reader(io.StringIO(_trial_body(trial), newline="")))
        if not trial_rows or trial_rows[0] != header:
            raise InvalidInputError(
                f"{where}: results.csv's columns differ from those of {TRIALS_DIR}/"
                f"{trial.name}; {_REBUILD_HINT}"
            )
        in_trial = {row[2]: row for row in trial_rows[1:] if len(row) == len(header)}
        if sorted(in_table) != sorted(in_trial):
            raise InvalidInputError(
                f"{where}: results.csv holds rounds {_rounds(in_table)}, {TRIALS_DIR}/"
                f"{trial.name} (checksummed) rounds {_rounds(in_trial)}: the table was "
                f"edited or is stale; {_REBUILD_HINT}"
            )
        for round_, row in in_table.items():
            for column, mine, true in zip(header, row, in_trial[round_], strict=True):
                if mine != true:
                    raise InvalidInputError(
                        f"{where}, round={round_}: {column} is {mine!r} in results.csv but "
                        f"{true!r} in {TRIALS_DIR}/{trial.name} (checksummed): results.csv "
                        f"was edited; {_REBUILD_HINT}"
                    )


def _rounds(rows: Mapping[str, Any]) -> str:
    numbers = sorted(int(r) if r.isdigit() else -1 for r in rows)
    return f"{numbers[0]}..{numbers[-1]} ({len(numbers)} rows)" if numbers else "none"


def _check_rounds_against_resolved_config(path: Path) -> None:
    config = read_resolved_config(path.parent)
    try:
        rounds = int(config["rounds"])  # type: ignore[index]
    except (ValueError, KeyError, TypeError):
        return  # no resolved config, or no rounds in it: nothing to compare with
    try:
        table = pd.read_csv(path, usecols=["strategy", "seed", "round"], dtype=str)
        last = table.assign(round=pd.to_numeric(table["round"], errors="coerce"))
        last = last.groupby(["strategy", "seed"], sort=False)["round"].max()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return  # malformed: validate_results says how
    short = [(label, seed, r) for (label, seed), r in last.items() if r != rounds]
    if short:
        label, seed, r = short[0]
        raise IncompleteResultsError(
            f"{path}: strategy={label!r}, seed={seed} stops at round {r}, but "
            f"{RESOLVED_CONFIG_FILE} says rounds: {rounds} (a table cut short); {_REBUILD_HINT}"
        )


def validate_results(
    df: pd.DataFrame,
    source: str = "results table",
    from_csv: bool = False,
    *,
    complete: bool = False,
) -> pd.DataFrame:
    """Check a results table and return a typed, sorted copy (see :func:`load_results`).

    Checks: required columns present; at least one row; integer seed/round/n_labels
    (round and n_labels non-negative); numeric metrics and timings, ``test_accuracy``
    in [0, 1], timings non-negative (NaN timings allowed); ``acquired_ids`` empty or
    space-separated non-negative integers; no duplicate (strategy, seed, round); per
    run the rounds are 0, 1, ..., R without gaps and ``n_labels`` never decreases.

    With ``complete`` (always for a file read by :func:`load_results`: the input of
    ``bayesal report``, of the summary ``bayesal run`` writes and of the benchmark
    tables), the table must also be a whole grid: every seed of a strategy has the same
    rounds as its other seeds, and every strategy has the same seeds. So a results.csv
    cut short at a line boundary, or one missing a trial, is an error naming the
    strategy and seed, never a smaller table. (A table built in memory may compare
    strategies over different seeds; the summary's ``n_seeds`` says how many.)

    Rows are named 1-based in the order given (``from_csv`` adds the file's line number).

    Raises:
        InvalidInputError: naming the column, the first offending row and what to fix.
    """

    def at(i: int) -> str:
        return f"row {i + 1}" + (f" (line {i + 2} of the file)" if from_csv else "")

    task = results_task(df)
    required = result_columns(False, task)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InvalidInputError(
            f"{source} lacks column(s) {missing}; found {list(df.columns)}. "
            f"Expected columns: {list(required)}"
        )
    if len(df) == 0:
        raise InvalidInputError(f"{source} has a header but no rows")
    out = df.copy()

    strategy = out["strategy"].astype(object)
    bad = strategy.isna() | (strategy.astype(str).str.strip() == "")
    if bad.any():
        raise InvalidInputError(f"{source}: empty strategy label in {at(_first(bad))}")
    out["strategy"] = strategy.astype(str)

    for col in INT_COLUMNS:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = values.isna() | (values != np.round(values))
        if bad.any():
            row = _first(bad)
            raise InvalidInputError(
                f"{source}: column {col!r} must hold integers; {at(row)} has {df[col].iloc[row]!r}"
            )
        out[col] = values.astype(np.int64)
    for col in ("round", "n_labels"):
        bad = out[col] < 0
        if bad.any():
            raise InvalidInputError(f"{source}: negative {col!r} in {at(_first(bad))}")

    for col in float_columns(task) + tuple(c for c in STOP_COLUMNS if c in df.columns):
        text = df[col].astype(object)
        values = pd.to_numeric(text, errors="coerce").astype(np.float64)
        blank = text.isna() | (text.astype(str).str.strip() == "")
        # NaN that did not come from an empty cell or an explicit "nan" is non-numeric.
        not_numeric = values.isna() & ~blank & ~text.astype(str).str.strip().str.lower().eq("nan")
        if not_numeric.any():
            row = _first(not_numeric)
            raise InvalidInputError(
                f"{source}: column {col!r} must hold numbers; {at(row)} has {df[col].iloc[row]!r}"
            )
        out[col] = values

    if task != DEFAULT_TASK:
        _check_task_metrics(out, task, source, at)
    else:
        _check_accuracy(out, source, at)
    for col in TIMING_COLUMNS:
        bad = out[col] < 0
        if bad.any():
            raise InvalidInputError(f"{source}: negative {col!r} in {at(_first(bad))}")

    ids = out["acquired_ids"].astype(object).where(out["acquired_ids"].notna(), "")
    ids = ids.astype(str)
    bad = ~ids.str.match(_IDS_RE)
    if bad.any():
        row = _first(bad)
        raise InvalidInputError(
            f"{source}: acquired_ids must be space-separated non-negative integers "
            f"(or empty); {at(row)} has {ids.iloc[row]!r}"
        )
    out["acquired_ids"] = ids.str.strip()

    key = list(KEY_COLUMNS)
    dup = out.duplicated(key, keep=False)
    if dup.any():
        row = _first(dup)
        r = out.iloc[row]
        raise InvalidInputError(
            f"{source}: duplicate rows for strategy={r['strategy']!r}, seed={r['seed']}, "
            f"round={r['round']}; each strategy x seed x round must appear once"
        )

    order = {label: i for i, label in enumerate(pd.unique(out["strategy"]))}
    out["_order"] = out["strategy"].map(order)
    out = out.sort_values(["_order", "seed", "round"], kind="stable").drop(columns="_order")
    out = out.reset_index(drop=True)
    for (label, seed), run in out.groupby(["strategy", "seed"], sort=False):
        rounds = run["round"].to_numpy()
        if not np.array_equal(rounds, np.arange(len(rounds))):
            raise InvalidInputError(
                f"{source}: strategy={label!r}, seed={seed} has rounds {rounds.tolist()}; "
                "expected 0, 1, ..., R without gaps (was the run interrupted? "
                "re-run it to complete the table)"
            )
        if np.any(np.diff(run["n_labels"].to_numpy()) < 0):
            raise InvalidInputError(
                f"{source}: strategy={label!r}, seed={seed}: n_labels decreases from one "
                "round to the next; labels are only ever added"
            )
    if complete:
        _check_complete_grid(out, source)
    return out


def _check_accuracy(out: pd.DataFrame, source: str, at: Callable[[int], str]) -> None:
    """A classification table's ``test_accuracy``: some present, fractions in [0, 1]."""
    acc = out["test_accuracy"]
    if acc.isna().all():
        raise InvalidInputError(
            f"{source} has no test metrics (the dataset has no test set): accuracy tables "
            "and figures need one; give the dataset test_path or test_fraction"
        )
    bad = ~((acc >= 0.0) & (acc <= 1.0))
    if bad.any():
        row = _first(bad)
        raise InvalidInputError(
            f"{source}: test_accuracy must be a fraction in [0, 1]; {at(row)} has "
            f"{acc.iloc[row]!r} (a percentage? divide by 100)"
        )


def _check_task_metrics(
    out: pd.DataFrame, task: str, source: str, at: Callable[[int], str]
) -> None:
    """A task table's metrics: some test metric present, each within its range."""
    metrics = TASK_METRIC_COLUMNS[task]
    if out[metrics[0]].isna().all():
        raise InvalidInputError(
            f"{source} has no test metrics (the dataset has no test set): the {task} "
            "tables and figures need one"
        )
    for col in metrics:
        low, high = _METRIC_RANGES.get(col, (-math.inf, math.inf))
        values = out[col]
        bad = values.notna() & ~((values >= low) & (values <= high))
        if bad.any():
            row = _first(bad)
            raise InvalidInputError(
                f"{source}: {col} must lie in [{low:g}, {high:g}]; {at(row)} has "
                f"{values.iloc[row]!r}"
            )


def _check_complete_grid(df: pd.DataFrame, source: str) -> None:
    """Every strategy has the same seeds, and every seed of a strategy the same last
    round (rounds 0..R without gaps are checked before)."""
    last = df.groupby(["strategy", "seed"], sort=False)["round"].max()
    seeds = {label: set(s.index.get_level_values("seed")) for label, s in last.groupby(level=0)}
    every = set().union(*seeds.values())
    for label in pd.unique(df["strategy"]):
        lacking = sorted(every - seeds[label])
        if lacking:
            others = sorted(other for other, have in seeds.items() if set(lacking) <= have)
            raise IncompleteResultsError(
                f"{source}: strategy={label!r} lacks seed(s) {lacking}, which "
                f"{', '.join(repr(o) for o in others[:5])} have; every strategy needs the same "
                "seeds (a table cut short, or trials missing: run them, or pick a complete "
                "part with bayesal run CONFIG --collect-only --seeds N --strategies ...)"
            )
    for (label, seed), r in last.items():
        most = int(last.loc[label].max())
        if r < most:
            raise IncompleteResultsError(
                f"{source}: strategy={label!r}, seed={seed} stops at round {r}, while other "
                f"seeds of {label!r} reach round {most}; every seed of a strategy needs the "
                "same rounds (a table cut short, or trials of different configs mixed)"
            )


def read_resolved_config(results_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The directory's ``config.resolved.yaml`` as a dict, or None when it is absent.

    Raises:
        ConfigError: the file is there but is not a YAML mapping: malformed, not UTF-8,
            or a key given twice (YAML would silently keep the last; the message names
            the key and both lines). Its thresholds and stopping rules would otherwise
            be dropped without a word.
    """
    path = Path(results_dir) / RESOLVED_CONFIG_FILE
    if not path.is_file():
        return None
    fix = "fix it, or rerun bayesal run CONFIG --out DIR, which rewrites it"
    try:
        config = load_yaml(path.read_bytes(), str(path))
    except ConfigError as exc:
        raise type(exc)(f"{exc}; {fix}") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: not a mapping of config fields; {fix}")
    return config


def configured_thresholds(config: Mapping[str, Any] | None) -> tuple[float, ...]:
    """The accuracy thresholds of a resolved config's ``report: {thresholds: [...]}``
    (sorted), else :data:`~bayesal.thresholds.DEFAULT_THRESHOLDS` (90% and 95%).

    Raises:
        InvalidInputError: the section is there but its thresholds are not valid (a
            hand-edited file): the message says what to fix, or to pass
            ``bayesal report --thresholds``.
    """
    report = (config or {}).get("report")
    if report is None:
        return DEFAULT_THRESHOLDS
    thresholds = report.get("thresholds") if isinstance(report, Mapping) else None
    if thresholds is None and isinstance(report, Mapping):
        return DEFAULT_THRESHOLDS
    try:
        if not isinstance(thresholds, list | tuple):
            raise ValueError(f"thresholds must be a list of fractions, got {thresholds!r}")
        return check_thresholds(thresholds)
    except ValueError as exc:
        raise InvalidInputError(
            f"{RESOLVED_CONFIG_FILE}: report.thresholds: {exc} (fix the file, or give "
            "bayesal report --thresholds)"
        ) from None


def parse_ids(acquired_ids: str) -> list[int]:
    """The ids in one ``acquired_ids`` cell (``"3 17 4"`` -> ``[3, 17, 4]``)."""
    return [int(tok) for tok in str(acquired_ids).split()]


def _first(mask: pd.Series) -> int:
    """Position (0-based data row) of the first True in ``mask``."""
    return int(np.flatnonzero(mask.to_numpy(dtype=bool))[0])


# ----------------------------------------------------------------------------- snapshots


def snapshot_files(results_dir: str | os.PathLike[str]) -> dict[tuple[str, int], Path]:
    """Map ``(label, seed)`` to the snapshot file, for every ``snapshots/*.npz`` present.

    An absent ``snapshots`` folder gives an empty dict. Files whose name does not
    follow ``<label>__seed<seed>.npz`` are ignored.
    """
    folder = Path(results_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return {}
    found: dict[tuple[str, int], Path] = {}
    for path in sorted(folder.glob("*.npz")):
        match = _SNAPSHOT_RE.match(path.name)
        if match:
            found[(match["label"], int(match["seed"]))] = path
    return found


def load_snapshot(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read one snapshot ``.npz`` fully into memory and validate it.

    Raises:
        DataNotFoundError: the file does not exist.
        InvalidInputError: it is not a readable ``.npz`` or its arrays are inconsistent.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"snapshot {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"snapshot {path} is not a readable .npz file: {exc}") from exc
    return validate_snapshot(arrays, source=str(path))


def validate_snapshot(snapshot: Snapshot, source: str = "snapshot") -> dict[str, np.ndarray]:
    """Check the arrays of one snapshot and return them as a plain dict of numpy arrays.

    Shapes: ``grid_x [Gx]``, ``grid_y [Gy]``, ``rounds [R]``, ``mean_prob``,
    ``predictive_entropy`` and ``expected_entropy [R, Gy, Gx]`` (index ``[r, iy, ix]``),
    ``labelled_mask`` and ``acquired_mask [R, N]`` (bool), ``train_x [N, 2]``,
    ``train_y [N]``.

    Raises:
        InvalidInputError: an array is missing or has the wrong shape.
    """
    missing = [name for name in SNAPSHOT_ARRAYS if name not in snapshot]
    if missing:
        raise InvalidInputError(f"{source} lacks array(s) {missing}")
    arrays: dict[str, np.ndarray] = {name: np.asarray(snapshot[name]) for name in snapshot}
    for name, ndim in SNAPSHOT_ARRAYS.items():
        if arrays[name].ndim != ndim:
            raise InvalidInputError(
                f"{source}: {name} must have {ndim} dimension(s); got shape {arrays[name].shape}"
            )
    n_rounds = len(arrays["rounds"])
    n_grid = (n_rounds, len(arrays["grid_y"]), len(arrays["grid_x"]))
    n_train = len(arrays["train_y"])
    expected: dict[str, tuple[int, ...]] = {
        "mean_prob": n_grid,
        "predictive_entropy": n_grid,
        "expected_entropy": n_grid,
        "labelled_mask": (n_rounds, n_train),
        "acquired_mask": (n_rounds, n_train),
        "train_x": (n_train, 2),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise InvalidInputError(
                f"{source}: {name} has shape {arrays[name].shape}; expected {shape} "
                "(rounds R, grid Gy x Gx, N training points)"
            )
    if n_rounds == 0:
        raise InvalidInputError(f"{source} holds no rounds")
    arrays["rounds"] = arrays["rounds"].astype(np.int64)
    arrays["labelled_mask"] = arrays["labelled_mask"].astype(bool)
    arrays["acquired_mask"] = arrays["acquired_mask"].astype(bool)
    return arrays


def load_snapshots(results_dir: str | os.PathLike[str], seed: int) -> dict[str, dict[str, Any]]:
    """All snapshots of one seed, as ``{strategy label: arrays}`` (sorted by label)."""
    files = snapshot_files(results_dir)
    return {label: load_snapshot(path) for (label, s), path in files.items() if s == seed}
