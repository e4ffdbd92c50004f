"""The results schema, defined once: file names of a results directory, the columns of
trial files and ``results.csv`` with the kind of value each holds, and the arrays of a
snapshot file.

The experiment runner writes with it (:mod:`bayesal.experiment.results`,
:mod:`bayesal.experiment.snapshots`) and the report reads and validates with it
(:mod:`bayesal.report.results_io`). This module is a leaf: it imports nothing, so
``report`` depends on the schema and not on ``experiment``.

A results directory::

    config.resolved.yaml                 the validated config, defaults filled in
    trials/<label>__seed<seed>.csv       one finished trial (rounds 0..R), atomic
    snapshots/<label>__seed<seed>.npz    posterior pictures (2-D datasets), atomic
    results.csv                          every trial of the config, assembled, atomic
    .lock                                held (flock) by the run using the directory
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

RESULTS_FILE = "results.csv"
#: Written beside results.csv by the runner: its sha256 and the trials it holds, so a
#: reader can tell a table cut short or edited from the one the runner wrote.
RESULTS_MANIFEST_FILE = "results.manifest.json"
TRIALS_DIR = "trials"
SNAPSHOTS_DIR = "snapshots"
RESOLVED_CONFIG_FILE = "config.resolved.yaml"
#: The lock file of a results directory: a run holds an exclusive ``flock`` on it (and
#: writes its pid into it) while it uses the directory.
LOCK_FILE = ".lock"

ColumnKind = Literal["text", "int", "float", "ids"]

#: Every column of trial files and of ``results.csv``, in file order, with its kind:
#: ``text`` (the strategy label), ``int``, ``float`` (written in ``repr`` form, so it
#: round-trips exactly; ``nan`` allowed) and ``ids`` (space-separated non-negative
#: integers in pick order, possibly empty).
RESULT_SCHEMA: dict[str, ColumnKind] = {
    "strategy": "text",
    "seed": "int",
    "round": "int",
    "n_labels": "int",
    "test_accuracy": "float",
    "test_nll": "float",
    "train_seconds": "float",
    "score_seconds": "float",
    "select_seconds": "float",
    "eval_seconds": "float",
    "acquired_ids": "ids",
}

#: Columns of trial files and of results.csv, in order.
RESULT_COLUMNS: tuple[str, ...] = tuple(RESULT_SCHEMA)

#: Optional columns, after :data:`RESULT_COLUMNS`, of the runs that record stopping
#: evidence (an experiment config with a ``stopping:`` section; see
#: :mod:`bayesal.stopping`), all ``float``: ``stop_agreement`` Cohen's kappa between the
#: predicted classes of this round's model and the previous round's on the trial's
#: fixed stop set of pool items (``nan`` in round 0); ``stop_mean_entropy`` and
#: ``stop_mean_bald`` the mean predictive entropy and BALD (mutual information, nats)
#: of the round's posterior draw over the stop set. A table either has all three or
#: none; one without them reads as before.
STOP_SCHEMA: dict[str, ColumnKind] = {
    "stop_agreement": "float",
    "stop_mean_entropy": "float",
    "stop_mean_bald": "float",
}
#: The optional stopping-evidence columns, in order.
STOP_COLUMNS: tuple[str, ...] = tuple(STOP_SCHEMA)


#: The test-metric columns of each task type (``task:`` of an experiment config), in
#: file order: they stand where classification's ``test_accuracy`` and ``test_nll``
#: stand. ``multilabel``: micro and macro F1 (a label predicted on where the MC-averaged
#: ``p̄_l >= 0.5``) and the mean average precision of ``p̄_l``; ``regression``: the RMSE
#: of the mixture mean, the NLL (nats) of the Gaussian mixture over the K samples and
#: the fraction of test targets inside its central 90% interval
#: (:mod:`bayesal.tasks`). A task type added later adds its row here.
TASK_METRIC_COLUMNS: dict[str, tuple[str, ...]] = {
    "classification": ("test_accuracy", "test_nll"),
    "multilabel": ("f1_micro", "f1_macro", "mean_average_precision"),
    "regression": ("rmse", "nll", "coverage_90"),
    "segmentation": ("miou", "pixel_accuracy"),
}

#: The task of a table with classification's columns.
DEFAULT_TASK = "classification"


def result_columns(stopping: bool, task: str = DEFAULT_TASK) -> tuple[str, ...]:
    """The columns of a trial file or results.csv: :data:`RESULT_COLUMNS`, followed by
    :data:`STOP_COLUMNS` when the run records stopping evidence. For a task other than
    classification, its :data:`TASK_METRIC_COLUMNS` stand in place of ``test_accuracy``
    and ``test_nll`` (a classification table is unchanged)."""
    base = RESULT_COLUMNS + STOP_COLUMNS if stopping else RESULT_COLUMNS
    if task == DEFAULT_TASK:
        return base
    metrics = TASK_METRIC_COLUMNS[task]
    out: list[str] = []
    for column in base:
        if column == "test_accuracy":
            out.extend(metrics)
        elif column != "test_nll":
            out.append(column)
    return tuple(out)


def task_of_columns(columns: Iterable[object]) -> str | None:
    """The task whose columns a table header holds (its metric columns), or None when
    it holds no task's full set of metric columns (classification's checked last)."""
    names = {str(c) for c in columns}
    for task, metrics in TASK_METRIC_COLUMNS.items():
        if task != DEFAULT_TASK and set(metrics) <= names:
            return task
    return DEFAULT_TASK if set(TASK_METRIC_COLUMNS[DEFAULT_TASK]) <= names else None


def float_columns(task: str = DEFAULT_TASK) -> tuple[str, ...]:
    """The float columns of a table of ``task`` (its metrics, then the timings)."""
    return TASK_METRIC_COLUMNS[task] + TIMING_COLUMNS


#: Integer columns (``round`` and ``n_labels`` are also non-negative).
INT_COLUMNS: tuple[str, ...] = tuple(c for c, k in RESULT_SCHEMA.items() if k == "int")
#: Numeric (float) columns: the test metrics and the timings.
FLOAT_COLUMNS: tuple[str, ...] = tuple(c for c, k in RESULT_SCHEMA.items() if k == "float")
#: Wall-clock timings in seconds (non-negative): the only columns that differ between
#: two runs of the same command.
TIMING_COLUMNS: tuple[str, ...] = tuple(c for c in FLOAT_COLUMNS if c.endswith("_seconds"))
#: A trial is identified by these columns within one round.
KEY_COLUMNS: tuple[str, ...] = ("strategy", "seed", "round")

#: Arrays of a snapshot file and their number of dimensions (shapes: see
#: :class:`bayesal.experiment.SnapshotRecorder` and ``docs/usage.md``).
SNAPSHOT_ARRAYS: dict[str, int] = {
    "grid_x": 1,
    "grid_y": 1,
    "rounds": 1,
    "mean_prob": 3,
    "predictive_entropy": 3,
    "expected_entropy": 3,
    "labelled_mask": 2,
    "acquired_mask": 2,
    "train_x": 2,
    "train_y": 1,
}


def trial_file_name(label: str, seed: int) -> str:
    """``<label>__seed<seed>.csv``, the name of one trial's file in ``trials/``."""
    return f"{label}__seed{seed}.csv"


def snapshot_file_name(label: str, seed: int) -> str:
    """``<label>__seed<seed>.npz``, the name of one trial's snapshot in ``snapshots/``."""
    return f"{label}__seed{seed}.npz"


#: Regular expression of a snapshot file name (groups ``label`` and ``seed``).
SNAPSHOT_NAME_PATTERN = r"^(?P<label>.+)__seed(?P<seed>-?\d+)\.npz$"
