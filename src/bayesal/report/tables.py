"""Summary table of a results table: final accuracy, AULC, labels to reach an accuracy.

Counting conventions (also written under ``summary.md``):

- *Final accuracy*: test accuracy at each seed's last round; mean and sample standard
  deviation (ddof = 1) over seeds.
- *AULC*: per seed, the trapezoid area under test accuracy plotted against the number
  of labels, divided by the span of labels (last minus first), so it lies in [0, 1]
  and reads as the average accuracy over the labelling budget; mean and sample
  standard deviation over seeds.
- *Labels to t*: per seed, the ``n_labels`` of the first round whose test accuracy is
  at least ``t`` (up to a 1e-6 tolerance that absorbs float32 rounding). A seed that
  never reaches ``t`` counts as needing infinitely many labels; the median and the
  quartiles (linear interpolation) are taken over *all* seeds, and a statistic that
  depends on an unreached seed is "not reached" (NaN in the CSV). So the median is
  shown only when more than half the seeds reach ``t``; "reached k/n" is always given.
- *Seconds per round*: mean over rounds and seeds; training and evaluation over all
  rounds, scoring and selection over the rounds that acquired (the last round does not).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayesal._atomic import atomic_write_text
from bayesal.errors import InvalidInputError
from bayesal.report.results_io import (
    configured_thresholds,
    load_results,
    read_resolved_config,
    validate_results,
)
from bayesal.thresholds import DEFAULT_THRESHOLDS, check_thresholds

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
PER_SEED_CSV = "per_seed.csv"
PER_SEED_MD = "per_seed.md"

#: Accuracy tolerance of "reaches the threshold" (float32 stores 0.9 as 0.89999998).
REACH_TOLERANCE = 1e-6

CONVENTIONS_MD = """\
**How to read this table**

- *Final acc.*: test accuracy at each seed's last round; mean ± sample s.d. over seeds.
- *AULC*: area under the learning curve (test accuracy against number of labels,
  trapezoid rule) divided by the span of labels, per seed; mean ± s.d. over seeds.
  It is the average accuracy over the labelling budget.
- *Labels to t*: per seed, the number of labels at the first round whose test accuracy
  is ≥ t. Seeds that never reach t count as needing infinitely many labels; the median
  and the inter-quartile range [Q1, Q3] are taken over all n seeds (linear
  interpolation), and any of them that depends on such a seed is shown as "n.r." (not
  reached). So the median is shown only when more than half of the seeds reach t;
  (k/n) says how many of the n seeds reached it.
- *s/round*: mean wall-clock seconds per round; training and evaluation over all rounds,
  scoring and selection over the rounds that acquired labels.
"""


def threshold_key(threshold: float) -> str:
    """Column stem of a threshold: ``0.9 -> "labels_to_90"``, ``0.975 -> "labels_to_97.5"``."""
    return f"labels_to_{threshold * 100:g}"


def labels_to_threshold(run: pd.DataFrame, threshold: float) -> float:
    """Labels at the first round of one run (one strategy x seed) with accuracy >= threshold.

    ``run`` must be sorted by round. Returns ``inf`` if the run never reaches it.
    """
    reached = run["test_accuracy"].to_numpy() >= threshold - REACH_TOLERANCE
    if not reached.any():
        return math.inf
    return float(run["n_labels"].to_numpy()[np.argmax(reached)])


def labels_to_threshold_of_mean_curve(runs: pd.DataFrame, threshold: float) -> float:
    """Labels at the first round where the accuracy *averaged over seeds* is >= threshold.

    ``runs`` holds the rows of one strategy (any number of seeds). Only rounds present
    in every seed count; a round's label count is the median over seeds (they agree in a
    grid). Returns ``inf`` if the mean curve never reaches the threshold. This is the
    statistic one reads off a published mean learning curve; per-seed first crossings
    (:func:`labels_to_threshold`) are summarised by their median instead.
    """
    n_seeds = runs["seed"].nunique()
    by_round = runs.groupby("round", sort=True).agg(
        accuracy=("test_accuracy", "mean"),
        n_labels=("n_labels", "median"),
        seeds=("seed", "nunique"),
    )
    by_round = by_round[by_round["seeds"] == n_seeds]
    reached = by_round["accuracy"].to_numpy() >= threshold - REACH_TOLERANCE
    if not reached.any():
        return math.inf
    return float(by_round["n_labels"].to_numpy()[np.argmax(reached)])


def normalised_aulc(n_labels: np.ndarray, accuracy: np.ndarray) -> float:
    """Trapezoid area under ``accuracy`` over ``n_labels``, divided by the labels span.

    NaN when the span is zero (a single round, or no labels added).
    """
    span = float(n_labels[-1] - n_labels[0])
    if span <= 0:
        return math.nan
    return float(np.trapezoid(accuracy, n_labels) / span)


def censored_quantile(values: Sequence[float], q: float) -> float:
    """Quantile ``q`` (linear interpolation, as numpy's default) of values that may be inf.

    ``inf`` stands for "never reached"; the result is ``inf`` whenever the quantile
    interpolates towards an infinite value with non-zero weight, and finite otherwise
    (numpy would give NaN for ``finite + 0 * inf``).
    """
    sorted_values = np.sort(np.asarray(values, dtype=np.float64))
    if len(sorted_values) == 0:
        return math.nan
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    if frac == 0.0:
        return float(sorted_values[lo])
    if math.isinf(sorted_values[hi]):
        return math.inf
    return float(sorted_values[lo] + frac * (sorted_values[hi] - sorted_values[lo]))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return math.nan, math.nan
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    return float(np.mean(finite)), std


def _inf_to_nan(x: float) -> float:
    return math.nan if math.isinf(x) else x


def per_seed_table(
    df: pd.DataFrame, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """One row per run (strategy x seed): the per-seed numbers :func:`summary_table` summarises.

    Columns: ``strategy``, ``seed``, ``final_n_labels``, ``final_accuracy``, ``aulc`` and,
    for each threshold t, ``labels_to_<100t>`` (NaN = never reached). Strategies in order
    of first appearance, seeds ascending.

    Raises:
        InvalidInputError: malformed table, or a threshold outside (0, 1].
    """
    thresholds = _check_thresholds(thresholds)
    return _per_seed(validate_results(df), thresholds)


def _per_seed(df: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """:func:`per_seed_table` of an already validated table."""
    rows = []
    for label, runs in df.groupby("strategy", sort=False):
        for seed, run in runs.groupby("seed", sort=True):
            row: dict[str, object] = {
                "strategy": label,
                "seed": int(seed),
                "final_n_labels": int(run["n_labels"].iloc[-1]),
                "final_accuracy": float(run["test_accuracy"].iloc[-1]),
                "aulc": normalised_aulc(
                    run["n_labels"].to_numpy(dtype=np.float64),
                    run["test_accuracy"].to_numpy(dtype=np.float64),
                ),
            }
            for t in thresholds:
                row[threshold_key(float(t))] = _inf_to_nan(labels_to_threshold(run, float(t)))
            rows.append(row)
    return pd.DataFrame(rows)


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """The thresholds sorted (:func:`bayesal.thresholds.check_thresholds`), or
    :class:`InvalidInputError`."""
    try:
        return check_thresholds(thresholds)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None


def summary_table(
    df: pd.DataFrame, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> pd.DataFrame:
    """One row per strategy (in order of first appearance) summarising its runs.

    Columns: ``strategy``, ``n_seeds``, ``final_n_labels`` (median over seeds of the
    labels at the last round), ``final_accuracy_mean``/``_std``, ``aulc_mean``/``_std``;
    for each threshold t, with stem ``labels_to_<100t>``: ``_median``, ``_q25``,
    ``_q75`` (NaN = not reached) and ``_reached`` (seeds that reach t); then
    ``train_seconds_mean``, ``score_seconds_mean``, ``select_seconds_mean``,
    ``eval_seconds_mean``. Standard deviations use ddof = 1 (NaN for one seed). The
    conventions are in this module's docstring and in :data:`CONVENTIONS_MD`; the
    per-seed numbers behind it are :func:`per_seed_table`.

    Raises:
        InvalidInputError: malformed table, or a threshold outside (0, 1].
    """
    thresholds = _check_thresholds(thresholds)
    df = validate_results(df)
    return _summarise(df, _per_seed(df, thresholds), thresholds)


def _summarise(df: pd.DataFrame, seeds: pd.DataFrame, thresholds: Sequence[float]) -> pd.DataFrame:
    """:func:`summary_table` of a validated table and its :func:`_per_seed` rows."""
    rows = []
    for label, runs in df.groupby("strategy", sort=False):
        per_seed = seeds[seeds["strategy"] == label]
        row: dict[str, object] = {
            "strategy": label,
            "n_seeds": len(per_seed),
            "final_n_labels": float(np.median(per_seed["final_n_labels"])),
        }
        row["final_accuracy_mean"], row["final_accuracy_std"] = _mean_std(
            per_seed["final_accuracy"].to_numpy(dtype=np.float64)
        )
        row["aulc_mean"], row["aulc_std"] = _mean_std(per_seed["aulc"].to_numpy(dtype=np.float64))
        for t in thresholds:
            key = threshold_key(float(t))
            needed = per_seed[key].fillna(math.inf).tolist()
            row[f"{key}_median"] = _inf_to_nan(censored_quantile(needed, 0.5))
            row[f"{key}_q25"] = _inf_to_nan(censored_quantile(needed, 0.25))
            row[f"{key}_q75"] = _inf_to_nan(censored_quantile(needed, 0.75))
            row[f"{key}_reached"] = int(sum(not math.isinf(x) for x in needed))
        acquiring = runs["acquired_ids"] != ""
        for col in ("train_seconds", "eval_seconds"):
            row[f"{col}_mean"] = float(runs[col].mean())
        for col in ("score_seconds", "select_seconds"):
            row[f"{col}_mean"] = float(runs.loc[acquiring, col].mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    ordered = [
        "strategy",
        "n_seeds",
        "final_n_labels",
        "final_accuracy_mean",
        "final_accuracy_std",
        "aulc_mean",
        "aulc_std",
    ]
    for t in thresholds:
        key = threshold_key(float(t))
        ordered += [f"{key}_median", f"{key}_q25", f"{key}_q75", f"{key}_reached"]
    ordered += [f"{c}_mean" for c in ("train_seconds", "score_seconds", "select_seconds")]
    ordered += ["eval_seconds_mean"]
    return out[ordered]


# ------------------------------------------------------------------------------ Markdown


def _fmt_pct(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "–"
    if math.isnan(std):
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def _labels_cell(key: str) -> Callable[[pd.Series], str]:
    """The cell of column ``key`` (labels to a threshold) of a per-seed row."""
    return lambda row: _fmt_labels(row[key])


def _fmt_labels(x: float) -> str:
    if math.isnan(x):
        return "n.r."
    return f"{x:g}"


def _fmt_seconds(x: float) -> str:
    if math.isnan(x):
        return "–"
    return f"{x:.3g}"


def summary_markdown(
    summary: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    title: str = "Summary",
) -> str:
    """Render :func:`summary_table`'s output as a Markdown table with the conventions below."""
    headers = ["Strategy", "Seeds", "Labels (final)", "Final acc. (%)", "AULC (%)"]
    headers += [f"Labels to {100 * float(t):g}%: median [IQR] (k/n)" for t in thresholds]
    headers += ["Train s/round", "Score s/round", "Select s/round", "Eval s/round"]
    lines = [f"# {title}", "", "| " + " | ".join(headers) + " |"]
    aligns = [":---"] + ["---:"] * (len(headers) - 1)
    lines.append("| " + " | ".join(aligns) + " |")
    for _, r in summary.iterrows():
        cells = [
            f"`{r['strategy']}`",
            f"{int(r['n_seeds'])}",
            f"{r['final_n_labels']:g}",
            _fmt_pct(r["final_accuracy_mean"], r["final_accuracy_std"]),
            _fmt_pct(r["aulc_mean"], r["aulc_std"]),
        ]
        for t in thresholds:
            key = threshold_key(float(t))
            med = _fmt_labels(r[f"{key}_median"])
            iqr = f"[{_fmt_labels(r[f'{key}_q25'])}, {_fmt_labels(r[f'{key}_q75'])}]"
            cells.append(f"{med} {iqr} ({int(r[f'{key}_reached'])}/{int(r['n_seeds'])})")
        cells += [
            _fmt_seconds(r[f"{c}_mean"])
            for c in ("train_seconds", "score_seconds", "select_seconds", "eval_seconds")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + CONVENTIONS_MD


def per_seed_markdown(per_seed: pd.DataFrame, title: str = "Per seed") -> str:
    """Render :func:`per_seed_table`'s output: one table per threshold, then final accuracy.

    Rows are strategies, columns seeds; the thresholds are the table's ``labels_to_*``
    columns. A run that never reaches t shows "n.r."; a seed a strategy has no run for
    stays empty.
    """
    seeds = sorted(per_seed["seed"].unique())
    strategies = list(dict.fromkeys(per_seed["strategy"]))
    by_run = per_seed.set_index(["strategy", "seed"])
    keys = [c for c in per_seed.columns if c.startswith("labels_to_")]

    def table(heading: str, cell: Callable[[pd.Series], str]) -> list[str]:
        lines = [f"## {heading}", ""]
        lines.append("| Strategy | " + " | ".join(f"seed {s}" for s in seeds) + " |")
        lines.append("| :--- |" + " ---: |" * len(seeds))
        for label in strategies:
            cells = [
                cell(by_run.loc[(label, s)]) if (label, s) in by_run.index else "" for s in seeds
            ]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        return lines + [""]

    lines = [f"# {title}", ""]
    for key in keys:
        lines += table(
            f"Labels to {key.removeprefix('labels_to_')}% test accuracy",
            _labels_cell(key),
        )
    lines += table("Final test accuracy (%)", lambda r: f"{100 * r['final_accuracy']:.1f}")
    lines.append(
        "Labels to t: `n_labels` (initial labels included) at the first round whose test "
        "accuracy is ≥ t; n.r. = not reached; empty = no run of that seed. `summary.md` "
        "gives the median and IQR; `per_seed.csv` also has each run's AULC."
    )
    return "\n".join(lines) + "\n"


def remove_summary_files(results_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete the summary and per-seed tables of ``results_dir`` (when they describe an
    older ``results.csv`` than the one there now). Returns the paths removed."""
    removed = []
    for name in (SUMMARY_CSV, SUMMARY_MD, PER_SEED_CSV, PER_SEED_MD):
        path = Path(results_dir) / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def write_summary(results_dir: str | os.PathLike[str]) -> None:
    """Write ``summary.csv``, ``summary.md``, ``per_seed.csv`` and ``per_seed.md`` (atomically).

    Thresholds are those of the directory's ``config.resolved.yaml`` (``report:
    thresholds:``), else 90% and 95%. A table of another task (multi-label, regression)
    gets its task's summary (:func:`bayesal.report.task_report.write_task_summary_files`;
    no ``per_seed.md``).

    Raises:
        DataNotFoundError: no ``results.csv`` (run ``bayesal run CONFIG --out DIR``).
        InvalidInputError: a malformed results table, or invalid configured thresholds.
    """
    directory = Path(results_dir)
    df = load_results(directory)
    from bayesal.report.task_report import (
        configured_task_thresholds,
        is_task_results,
        write_task_summary_files,
    )

    if is_task_results(df):  # another task: its primary metric (task_report)
        config = read_resolved_config(directory)
        write_task_summary_files(directory, df, configured_task_thresholds(config))
        return
    thresholds = configured_thresholds(read_resolved_config(directory))
    write_summary_files(directory, df, thresholds)


def write_summary_files(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[Path]:
    """Write ``summary.csv``/``.md`` and ``per_seed.csv``/``.md`` of ``df``; return the paths."""
    directory = Path(results_dir)
    thresholds = _check_thresholds(thresholds)
    df = validate_results(df)
    per_seed = _per_seed(df, thresholds)
    summary = _summarise(df, per_seed, thresholds)
    md = summary_markdown(summary, thresholds, title=f"Summary of `{directory.name}`")
    per_seed_md = per_seed_markdown(per_seed, title=f"Per seed: `{directory.name}`")
    return [
        atomic_write_text(directory / SUMMARY_CSV, summary.to_csv(index=False)),
        atomic_write_text(directory / SUMMARY_MD, md),
        atomic_write_text(directory / PER_SEED_CSV, per_seed.to_csv(index=False)),
        atomic_write_text(directory / PER_SEED_MD, per_seed_md),
    ]
