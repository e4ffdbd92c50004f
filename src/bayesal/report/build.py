"""``write_report``: every table and figure that a results directory allows, in one call."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bayesal._atomic import remove_stale_temps
from bayesal._lock import lock_results_dir
from bayesal.errors import InvalidInputError
from bayesal.report.curves import plot_learning_curves
from bayesal.report.paired import (
    LABELS_SAVED_CSV,
    LABELS_SAVED_MD,
    PAIRED_CSV,
    PAIRED_MD,
    PAIRED_PER_SEED_CSV,
    arm_posteriors,
    random_arms,
    write_paired_files,
)
from bayesal.report.published import (
    COMPARISON_CSV,
    COMPARISON_MD,
    comparison_wanted,
    write_comparison,
)
from bayesal.report.results_io import (
    configured_thresholds,
    load_results,
    load_snapshot,
    read_resolved_config,
    snapshot_files,
)
from bayesal.report.stopping import STOPPING_CSV, STOPPING_MD, stopping_rules, write_stopping
from bayesal.report.tables import (
    PER_SEED_CSV,
    PER_SEED_MD,
    SUMMARY_CSV,
    SUMMARY_MD,
    _check_thresholds,
    write_summary_files,
)
from bayesal.report.task_report import is_task_results, write_task_report
from bayesal.report.two_moons import plot_acquisition_grid, plot_bald_anatomy

FIGURES_DIR = "figures"
#: Strategy label whose snapshot the BALD-anatomy figure prefers.
BALD_LABEL = "bald"
#: The files of the results directory itself that a report writes (``figures/`` is all
#: the report's).
REPORT_FILES = (
    SUMMARY_CSV,
    SUMMARY_MD,
    PER_SEED_CSV,
    PER_SEED_MD,
    COMPARISON_CSV,
    COMPARISON_MD,
    STOPPING_CSV,
    STOPPING_MD,
    LABELS_SAVED_CSV,
    LABELS_SAVED_MD,
    PAIRED_CSV,
    PAIRED_MD,
    PAIRED_PER_SEED_CSV,
)


def remove_stale_report_temps(results_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that a killed report left: every one in ``figures/``,
    and those of :data:`REPORT_FILES` in ``results_dir`` (a run's own temporary files,
    ``results.csv`` or trial files, are the runner's, and left alone). Returns the paths
    removed."""
    directory = Path(results_dir)
    return remove_stale_temps(directory, REPORT_FILES) + remove_stale_temps(directory / FIGURES_DIR)


def write_report(
    results_dir: str | os.PathLike[str],
    *,
    published: bool | None = None,
    thresholds: Sequence[float] | None = None,
) -> list[Path]:
    """Write the summary tables and every figure the results directory has data for.

    ``thresholds`` (accuracies of the "labels to t" columns, fractions in (0, 1]): when
    None, those of the resolved config's ``report: {thresholds: [...]}``, else 90% and
    95%. Always: ``summary.csv``, ``summary.md``, ``per_seed.csv``, ``per_seed.md``,
    ``figures/learning_curves.png`` (the thresholds drawn as reference lines),
    ``labels_saved.csv`` and ``labels_saved.md`` (labels saved against the ``random``
    arm at equal accuracy; only when there is one), ``paired.csv``, ``paired.md`` and
    ``paired_per_seed.csv`` (each strategy against random and against the best, paired
    by seed, with a "more than seed noise" verdict: :mod:`bayesal.report.paired`). Then
    ``published_comparison.csv`` and ``published_comparison.md`` (labels to 90% / 95%
    beside Gal et al. 2017 and the seed study, :mod:`bayesal.report.published`) when
    ``published`` is True, or when it is None (the default) and the directory's
    ``config.resolved.yaml`` names the MNIST dataset. ``stopping.csv``, ``stopping.md``
    and ``figures/stopping.png`` (where each stopping rule would have stopped,
    :mod:`bayesal.report.stopping`) when the resolved config has ``stopping.rules``; a
    rule that cannot be built here (a plugin's, not importable) skips them with a
    warning. When ``snapshots/`` holds snapshots: ``figures/acquisition_grid.png`` for the lowest
    snapshot seed (plus ``figures/acquisition_grid_seed<s>.png`` for each other seed),
    and ``figures/bald_anatomy.png`` from the ``"bald"`` strategy's snapshot (else the
    first label in the results table that has one) of that lowest seed, at its middle
    snapshot round. A snapshot file that cannot be read is skipped with a warning, so
    one bad file does not cost the rest of the report. Every file is written atomically;
    temporary files that an earlier, killed report left behind are removed first
    (:func:`remove_stale_report_temps`).

    A results table of another task than classification (``task: multilabel`` or
    ``regression``) gets the task's report instead (:mod:`bayesal.report.task_report`:
    summary, per-seed table, paired verdicts against random and learning curves of the
    task's metrics; the primary metric ``f1_macro`` or ``rmse``, differences signed so
    that positive = better than random; ``thresholds`` in the primary metric's units).

    Returns:
        The paths written, in the order above.

    Raises:
        DataNotFoundError: no ``results.csv`` (run ``bayesal run CONFIG --out DIR``).
        InvalidInputError: a malformed results table, or invalid thresholds (given, or
            in the resolved config).
        ResultsDirInUseError: a ``bayesal run`` is working in the directory.
    """
    directory = Path(results_dir)
    df = load_results(directory)
    if is_task_results(df):  # multi-label, regression: the task's primary metric
        with lock_results_dir(directory, create=False):
            remove_stale_report_temps(directory)
            return write_task_report(directory, df, thresholds, figures_dir=FIGURES_DIR)
    if thresholds is None:
        thresholds = configured_thresholds(read_resolved_config(directory))
    thresholds = _check_thresholds(thresholds)
    # The directory's lock, as the runner takes it: no run writes here meanwhile, so the
    # temporary files removed below are stale, and the tables are of a finished table.
    with lock_results_dir(directory, create=False):
        return _write_report_locked(directory, df, published, thresholds)


def _write_report_locked(
    directory: Path, df: pd.DataFrame, published: bool | None, thresholds: Sequence[float]
) -> list[Path]:
    remove_stale_report_temps(directory)
    strategies = list(df["strategy"].unique())
    written = write_summary_files(directory, df, thresholds)
    figures = directory / FIGURES_DIR
    written.append(plot_learning_curves(df, figures / "learning_curves.png", thresholds=thresholds))
    config = read_resolved_config(directory)
    written += write_paired_files(
        directory, df, thresholds, arm_posteriors(config) or None, random_arms(config)
    )
    if published or (published is None and comparison_wanted(config)):
        written += write_comparison(directory, df, config)
    try:
        rules = stopping_rules(config)
    except InvalidInputError as exc:
        warnings.warn(f"skipping the stopping report: {exc}", stacklevel=3)
        rules = {}
    if rules:
        written += write_stopping(directory, df, rules, figures_dir=FIGURES_DIR)

    by_seed: dict[int, dict[str, dict[str, Any]]] = {}
    for (label, seed), path in snapshot_files(directory).items():
        try:
            by_seed.setdefault(seed, {})[label] = load_snapshot(path)
        except InvalidInputError as exc:
            warnings.warn(f"skipping snapshot {path}: {exc}", stacklevel=2)
    by_seed = {seed: snaps for seed, snaps in by_seed.items() if snaps}
    if not by_seed:
        return written

    seeds = sorted(by_seed)
    for seed in seeds:
        # Rows in the results table's order; snapshot-only labels after them.
        snaps = by_seed[seed]
        order = [s for s in strategies if s in snaps] + sorted(set(snaps) - set(strategies))
        name = "acquisition_grid.png" if seed == seeds[0] else f"acquisition_grid_seed{seed}.png"
        written.append(
            plot_acquisition_grid({label: snaps[label] for label in order}, figures / name, seed)
        )

    snaps = by_seed[seeds[0]]
    ranked = [BALD_LABEL] + strategies + sorted(snaps)
    label = next(s for s in ranked if s in snaps)
    rounds = snaps[label]["rounds"].tolist()
    middle = int(rounds[len(rounds) // 2])
    written.append(
        plot_bald_anatomy(
            snaps[label],
            figures / "bald_anatomy.png",
            middle,
            title=(
                f"Anatomy of BALD: {label}, seed {seeds[0]}, round {middle} "
                f"({int(snaps[label]['labelled_mask'][rounds.index(middle)].sum())} labels; "
                "stars: acquired next)"
            ),
        )
    )
    return written
