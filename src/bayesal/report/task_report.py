"""The report of a study of another task than classification (``task: multilabel`` or
``task: regression``): curves, summary, AULC and the paired verdicts on the task's
*primary metric*.

A results table of such a study has the task's metric columns in place of
``test_accuracy`` and ``test_nll`` (:data:`~bayesal.results_schema.TASK_METRIC_COLUMNS`).
Its primary metric (:data:`PRIMARY_METRICS`):

* **multi-label: ``f1_macro``**, the mean over labels of each label's F1 at the 0.5
  threshold: what a user gets from the predictions (``mean_average_precision`` ranks
  without deciding), with every label counted equally (``f1_micro`` pools the counts, so
  frequent labels dominate it). Higher is better.
* **regression: ``rmse``**, of the mixture mean on standardised targets (1 is about the
  error of predicting the train mean). **Lower is better.**
* **segmentation: ``miou``**, the per-class intersection over union of the predicted
  masks averaged over classes (the usual summary of a segmenter; pixel accuracy is
  dominated by the background). Higher is better.

Conventions (written under every table):

- *Final*: the metric at each seed's last round; mean ± sample s.d. over seeds.
- *AULC*: per seed, the trapezoid area under the metric against the number of labels,
  divided by the span of labels: the average metric over the labelling budget, in the
  metric's units (for RMSE, lower is better).
- *Labels to t*: per seed, the labels at the first round whose metric is at least t
  (multi-label) or **at most t** (regression: "labels to get below t"), up to a 1e-6
  tolerance; a seed that never gets there counts as infinitely many, and the median and
  quartiles are taken over all seeds as in the classification summary
  (:func:`bayesal.report.tables.censored_quantile`).
- *Paired differences* against ``random`` (the arm named ``random`` under the same
  posterior), seed by seed, are **signed so that positive = better than random**:
  ``AULC(strategy) - AULC(random)`` for a higher-is-better metric, ``AULC(random) -
  AULC(strategy)`` for RMSE; labels saved = random's labels to t minus the strategy's.
  The statistics and the verdict are those of :mod:`bayesal.report.paired` (95% paired t
  interval, or the exact sign test when a run never reaches t).

Thresholds: the resolved config's ``report: {thresholds: [...]}`` (read in the primary
metric's units), else :data:`PRIMARY_METRICS`' defaults.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesal._atomic import atomic_write_text
from bayesal.errors import InvalidInputError
from bayesal.report.paired import (
    PAIRED_CSV,
    PAIRED_MD,
    PAIRED_PER_SEED_CSV,
    RANDOM_LABEL,
    _compare,
    arm_posteriors,
    labels_saved_interval,
    random_arms,
)
from bayesal.report.results_io import read_resolved_config, results_task, validate_results
from bayesal.report.tables import (
    PER_SEED_CSV,
    SUMMARY_CSV,
    SUMMARY_MD,
    censored_quantile,
    normalised_aulc,
)
from bayesal.results_schema import TASK_METRIC_COLUMNS, TIMING_COLUMNS
from bayesal.thresholds import check_thresholds

__all__ = [
    "PRIMARY_METRICS",
    "TaskMetric",
    "is_task_results",
    "labels_to_target",
    "task_paired_table",
    "task_per_seed_table",
    "task_summary_table",
    "task_verdict_lines",
    "write_task_report",
    "write_task_summary_files",
]

#: Tolerance of "reaches t" (float32 rounding), as for accuracy.
REACH_TOLERANCE = 1e-6


@dataclass(frozen=True)
class TaskMetric:
    """The primary metric of a task's report: its column, its direction, its name in
    tables, why it is the primary one, and the default thresholds of "labels to t"."""

    column: str
    higher_is_better: bool
    name: str
    why: str
    thresholds: tuple[float, ...]

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 when lower is: ``sign * (own - random)`` is
        positive when the strategy is better."""
        return 1.0 if self.higher_is_better else -1.0

    @property
    def reach_word(self) -> str:
        """``">="`` or ``"<="``: how a run reaches a threshold."""
        return ">=" if self.higher_is_better else "<="


#: The primary metric of each task's report (see the module docstring for why).
PRIMARY_METRICS: dict[str, TaskMetric] = {
    "multilabel": TaskMetric(
        "f1_macro",
        True,
        "macro F1",
        "the F1 of the predicted labels (p̄ >= 0.5) averaged over labels, each label "
        "counted equally; higher is better",
        (0.8, 0.9),
    ),
    "regression": TaskMetric(
        "rmse",
        False,
        "RMSE",
        "the error of the predictive mean on standardised targets (about 1 for the "
        "train mean); LOWER is better",
        (0.8, 0.6),
    ),
    "segmentation": TaskMetric(
        "miou",
        True,
        "mIoU",
        "the intersection over union of the predicted masks averaged over classes; higher "
        "is better",
        (0.6, 0.7),
    ),
}


def is_task_results(df: pd.DataFrame) -> bool:
    """Whether a results table is of a task with its own report (not classification)."""
    return results_task(df) in PRIMARY_METRICS


def _metric_of(df: pd.DataFrame) -> TaskMetric:
    task = results_task(df)
    if task not in PRIMARY_METRICS:
        raise InvalidInputError(
            f"a results table of task {task!r} has no task report (tasks: "
            f"{', '.join(PRIMARY_METRICS)})"
        )
    return PRIMARY_METRICS[task]


def _thresholds(metric: TaskMetric, thresholds: Sequence[float] | None) -> tuple[float, ...]:
    values = check_thresholds(list(thresholds) if thresholds is not None else metric.thresholds)
    # In the order a run meets them: rising for a higher-is-better metric, falling else.
    return tuple(sorted(values, reverse=not metric.higher_is_better))


def threshold_column(metric: TaskMetric, threshold: float) -> str:
    """``labels_to_<column>_<t>``, e.g. ``labels_to_rmse_0.6``."""
    return f"labels_to_{metric.column}_{threshold:g}"


def labels_to_target(run: pd.DataFrame, metric: TaskMetric, threshold: float) -> float:
    """Labels at the first round of one run (sorted by round) whose metric is ``>= t``
    (higher is better) or ``<= t`` (lower is better); ``inf`` when it never is."""
    values = run[metric.column].to_numpy(dtype=np.float64)
    if metric.higher_is_better:
        reached = values >= threshold - REACH_TOLERANCE
    else:
        reached = values <= threshold + REACH_TOLERANCE
    if not reached.any():
        return math.inf
    return float(run["n_labels"].to_numpy()[np.argmax(reached)])


def task_per_seed_table(
    df: pd.DataFrame, thresholds: Sequence[float] | None = None
) -> pd.DataFrame:
    """One row per run (strategy x seed): ``strategy``, ``seed``, ``final_n_labels``,
    ``final_<metric>`` for every metric of the task, ``aulc`` (of the primary metric) and
    ``labels_to_<metric>_<t>`` per threshold (NaN = never reached)."""
    df = validate_results(df)
    metric = _metric_of(df)
    thresholds = _thresholds(metric, thresholds)
    columns = TASK_METRIC_COLUMNS[results_task(df)]
    rows = []
    for label, runs in df.groupby("strategy", sort=False):
        for seed, run in runs.groupby("seed", sort=True):
            row: dict[str, object] = {
                "strategy": label,
                "seed": int(seed),
                "final_n_labels": int(run["n_labels"].iloc[-1]),
            }
            for column in columns:
                row[f"final_{column}"] = float(run[column].iloc[-1])
            row["aulc"] = normalised_aulc(
                run["n_labels"].to_numpy(dtype=np.float64),
                run[metric.column].to_numpy(dtype=np.float64),
            )
            for t in thresholds:
                reached = labels_to_target(run, metric, t)
                row[threshold_column(metric, t)] = math.nan if math.isinf(reached) else reached
            rows.append(row)
    return pd.DataFrame(rows)


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return math.nan, math.nan
    return float(finite.mean()), (float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan)


def task_summary_table(df: pd.DataFrame, thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """One row per strategy: ``n_seeds``, ``final_<m>_mean`` / ``_std`` for every metric,
    ``aulc_mean`` / ``aulc_std`` (primary metric), per threshold the median, Q1, Q3 of the
    labels to t (NaN: not reached) and ``<key>_reached`` (seeds that got there), and the
    mean seconds per round (``train_s``, ``score_s``, ``select_s``, ``eval_s``)."""
    df = validate_results(df)
    metric = _metric_of(df)
    thresholds = _thresholds(metric, thresholds)
    per_seed = task_per_seed_table(df, thresholds)
    columns = TASK_METRIC_COLUMNS[results_task(df)]
    rows = []
    for label, seeds in per_seed.groupby("strategy", sort=False):
        row: dict[str, object] = {"strategy": label, "n_seeds": len(seeds)}
        for column in columns:
            mean, std = _mean_std(seeds[f"final_{column}"].to_numpy(dtype=np.float64))
            row[f"final_{column}_mean"], row[f"final_{column}_std"] = mean, std
        row["aulc_mean"], row["aulc_std"] = _mean_std(seeds["aulc"].to_numpy(dtype=np.float64))
        for t in thresholds:
            key = threshold_column(metric, t)
            values = [math.inf if math.isnan(v) else float(v) for v in seeds[key]]
            for name, q in (("median", 0.5), ("q1", 0.25), ("q3", 0.75)):
                value = censored_quantile(values, q)
                row[f"{key}_{name}"] = math.nan if math.isinf(value) else value
            row[f"{key}_reached"] = int(sum(math.isfinite(v) for v in values))
        runs = df[df["strategy"] == label]
        acquiring = runs[runs["acquired_ids"] != ""]
        for column in TIMING_COLUMNS:
            rows_for = acquiring if column in ("score_seconds", "select_seconds") else runs
            short = column.replace("_seconds", "_s")
            row[short] = float(rows_for[column].mean()) if len(rows_for) else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def task_paired_table(
    df: pd.DataFrame,
    thresholds: Sequence[float] | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every strategy against random under its posterior, paired by seed:
    ``(summary, per_seed)``, with the columns of :func:`bayesal.report.paired_table` plus
    ``primary_metric`` and ``higher_is_better``. Metrics: ``aulc`` (the primary metric's
    AULC difference, **signed: positive = better than random**) and
    ``labels_to_<metric>_<t>`` per threshold (labels saved). ``config``: the resolved
    config (which arm is random under which posterior; without it, the arm labelled
    ``random`` for every arm). Empty tables when there is no random arm."""
    df = validate_results(df)
    metric = _metric_of(df)
    thresholds = _thresholds(metric, thresholds)
    per_seed = task_per_seed_table(df, thresholds)
    strategies = list(dict.fromkeys(df["strategy"]))
    posteriors = arm_posteriors(config)
    random_for = random_arms(config)
    rows: list[dict[str, object]] = []
    per_seed_rows: list[dict[str, object]] = []
    for label in strategies:
        reference = random_for.get(posteriors.get(label, ""), None) if posteriors else None
        if reference is None:
            reference = RANDOM_LABEL if RANDOM_LABEL in strategies else None
        if reference is None or reference == label or reference not in strategies:
            continue
        own = per_seed[per_seed["strategy"] == label].set_index("seed")
        ref = per_seed[per_seed["strategy"] == reference].set_index("seed")
        seeds = sorted(set(own.index) & set(ref.index))
        comparisons: list[tuple[str, list[tuple[int, float, float]]]] = []
        aulc = [
            (s, d, d)
            for s in seeds
            for d in [metric.sign * (float(own.at[s, "aulc"]) - float(ref.at[s, "aulc"]))]
        ]
        comparisons.append(("aulc", aulc))
        for t in thresholds:
            key = threshold_column(metric, t)
            diffs = []
            for s in seeds:
                mine, theirs = float(own.at[s, key]), float(ref.at[s, key])
                lo, hi = labels_saved_interval(
                    math.inf if math.isnan(theirs) else theirs,
                    math.inf if math.isnan(mine) else mine,
                    float(ref.at[s, "final_n_labels"]),
                    float(own.at[s, "final_n_labels"]),
                )
                diffs.append((s, lo, hi))
            comparisons.append((key, diffs))
        for name, diffs in comparisons:
            row: dict[str, object] = {
                "strategy": label,
                "reference": reference,
                "reference_role": RANDOM_LABEL,
                "metric": name,
                "primary_metric": metric.column,
                "higher_is_better": metric.higher_is_better,
                **_compare(diffs),
            }
            rows.append(row)
            for s, lo, hi in diffs:
                per_seed_rows.append(
                    {
                        "strategy": label,
                        "reference": reference,
                        "metric": name,
                        "seed": s,
                        "diff_low": lo,
                        "diff_high": hi,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(per_seed_rows)


# ----------------------------------------------------------------------------- Markdown


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _fmt_signed(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.4f}"


def _fmt_pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" + ("" if math.isnan(std) else f" ± {std:.3f}")


def _fmt_labels(x: float) -> str:
    return "n.r." if math.isnan(x) else f"{x:g}"


def _conventions(metric: TaskMetric, task: str) -> str:
    direction = "higher" if metric.higher_is_better else "**lower**"
    reach = "at least" if metric.higher_is_better else "**at most**"
    return (
        "**How to read this table**\n\n"
        f"- Task `{task}`; primary metric `{metric.column}` ({metric.name}): {metric.why}.\n"
        f"- *Final*: the metric at each seed's last round; mean ± sample s.d. over seeds "
        f"({direction} is better for {metric.name}).\n"
        f"- *AULC*: area under the {metric.name} curve against the number of labels "
        "(trapezoid rule) divided by the span of labels, per seed: the average "
        f"{metric.name} over the labelling budget ({direction} is better); mean ± s.d.\n"
        f"- *Labels to t*: per seed, the labels at the first round whose {metric.name} is "
        f"{reach} t; median [Q1, Q3] over all seeds, a seed that never gets there counting "
        'as infinitely many ("n.r.": not reached); (k/n) seeds got there.\n'
    )


def task_summary_markdown(summary: pd.DataFrame, df: pd.DataFrame, title: str) -> str:
    """The Markdown of :func:`task_summary_table` (with its conventions)."""
    metric = _metric_of(df)
    task = results_task(df)
    columns = TASK_METRIC_COLUMNS[task]
    keys = [c.removesuffix("_median") for c in summary.columns if c.endswith("_median")]
    head = ["Strategy", "Seeds", *[f"Final {c}" for c in columns], f"AULC ({metric.column})"]
    head += [f"Labels to {metric.column} {metric.reach_word} {k.rsplit('_', 1)[1]}" for k in keys]
    head.append("s/round (train + score)")
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in summary.iterrows():
        cells = [str(r["strategy"]), str(int(r["n_seeds"]))]
        cells += [_fmt_pm(r[f"final_{c}_mean"], r[f"final_{c}_std"]) for c in columns]
        cells.append(_fmt_pm(r["aulc_mean"], r["aulc_std"]))
        for k in keys:
            cells.append(
                f"{_fmt_labels(r[f'{k}_median'])} [{_fmt_labels(r[f'{k}_q1'])}, "
                f"{_fmt_labels(r[f'{k}_q3'])}] ({int(r[f'{k}_reached'])}/{int(r['n_seeds'])})"
            )
        seconds = float(r["train_s"]) + (0.0 if math.isnan(r["score_s"]) else float(r["score_s"]))
        cells.append(f"{seconds:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _conventions(metric, task)


def _threshold_of(key: object) -> str:
    """The threshold ``t`` of a ``labels_to_<metric>_<t>`` key."""
    return str(key).rsplit("_", 1)[1]


def _fmt_interval(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:+.4f}, {high:+.4f}]"


def _fmt_saved(low: float, high: float) -> str:
    if math.isnan(low) or math.isnan(high):
        return "unknown"
    if low == high:
        return f"{low:+g}"
    if math.isinf(low) and math.isinf(high):
        return "unknown"
    return f"≥ {low:+g}" if math.isinf(high) else f"≤ {high:+g}"


def task_paired_markdown(paired: pd.DataFrame, df: pd.DataFrame, title: str) -> str:
    """The Markdown of :func:`task_paired_table`."""
    metric = _metric_of(df)
    sign = (
        f"AULC(strategy) − AULC(random) of {metric.name}"
        if metric.higher_is_better
        else f"AULC(random) − AULC(strategy) of {metric.name} (lower RMSE is better, so the "
        "difference is taken the other way round)"
    )
    lines = [
        f"# {title}",
        "",
        f"Primary metric `{metric.column}` ({metric.name}); every difference is signed so "
        f"that **positive = better than random**: {sign}; labels saved = random's labels "
        "to t minus the strategy's.",
        "",
    ]
    if paired.empty:
        return "\n".join(lines + ["No `random` arm: nothing compared.", ""])
    lines += [
        "| Strategy | vs | Metric | Mean diff | 95% CI | Median diff | Wins/losses/ties "
        "| Sign test p | Verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in paired.iterrows():
        what = (
            f"AULC ({metric.column})"
            if r["metric"] == "aulc"
            else f"labels to {metric.column} {metric.reach_word} {_threshold_of(r['metric'])}"
        )
        median = (
            _fmt_signed(float(r["median_diff_low"]))
            if r["metric"] == "aulc"
            else _fmt_saved(float(r["median_diff_low"]), float(r["median_diff_high"]))
        )
        lines.append(
            f"| {r['strategy']} | {r['reference']} | {what} | {_fmt_signed(float(r['mean_diff']))} "
            f"| {_fmt_interval(float(r['ci_low']), float(r['ci_high']))} | {median} "
            f"| {int(r['wins'])}/{int(r['losses'])}/{int(r['ties'])} "
            f"| {float(r['sign_test_p']):.3g} | {r['verdict']} |"
        )
    lines += [
        "",
        "*Verdict*: with every difference exact, the 95% paired t interval over seeds; "
        '"more than seed noise" when it excludes 0. With a run that never reaches t (its '
        "labels are a bound), the exact sign test over the seeds whose sign is known. The "
        "verdict is about seed noise of this protocol only.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------- figure


def plot_task_curves(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Every metric of the task against the number of labels (one panel each, the
    primary metric first), mean over seeds with ±1 s.d. bands; written atomically."""
    from matplotlib import rc_context

    from bayesal._atomic import atomic_savefig
    from bayesal.report.curves import STYLE, new_figure, strategy_colors

    df = validate_results(df)
    metric = _metric_of(df)
    task = results_task(df)
    columns = [metric.column] + [c for c in TASK_METRIC_COLUMNS[task] if c != metric.column]
    labels = list(df["strategy"].unique())
    colors = strategy_colors(labels)
    n_seeds = int(df.groupby("strategy")["seed"].nunique().max())
    with rc_context(STYLE):
        fig = new_figure((4.2 * len(columns), 3.8))
        for i, column in enumerate(columns):
            ax = fig.add_subplot(1, len(columns), i + 1)
            for label in labels:
                runs = df[df["strategy"] == label]
                stats = runs.groupby("n_labels")[column].agg(["mean", "std"])
                x = stats.index.to_numpy(dtype=np.float64)
                mean = stats["mean"].to_numpy()
                std = np.nan_to_num(stats["std"].to_numpy())
                ax.plot(x, mean, color=colors[label], linewidth=1.6, label=label)
                ax.fill_between(
                    x, mean - std, mean + std, color=colors[label], alpha=0.15, linewidth=0
                )
            better = ""
            if column == metric.column:
                better = " (higher is better)" if metric.higher_is_better else " (lower is better)"
            ax.set_title(f"{column}{better}", fontsize=9)
            ax.set_xlabel("Number of labelled examples")
            ax.grid(True, which="major")
            if i == 0:
                ax.legend(fontsize=7, title="shaded: ±1 s.d.", title_fontsize=7)
        fig.suptitle(f"{task}: mean over {n_seeds} seeds", fontsize=10)
        return atomic_savefig(fig, path)


# -------------------------------------------------------------------------------- files


def write_task_summary_files(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    thresholds: Sequence[float] | None = None,
) -> list[Path]:
    """Write ``summary.csv``, ``summary.md`` and ``per_seed.csv`` of a task's table."""
    directory = Path(results_dir)
    summary = task_summary_table(df, thresholds)
    per_seed = task_per_seed_table(df, thresholds)
    md = task_summary_markdown(summary, validate_results(df), f"Summary of `{directory.name}`")
    return [
        atomic_write_text(directory / SUMMARY_CSV, summary.to_csv(index=False)),
        atomic_write_text(directory / SUMMARY_MD, md),
        atomic_write_text(directory / PER_SEED_CSV, per_seed.to_csv(index=False)),
    ]


def configured_task_thresholds(config: dict[str, Any] | None) -> tuple[float, ...] | None:
    """The resolved config's ``report.thresholds`` (None when it gives none)."""
    report = (config or {}).get("report")
    values = report.get("thresholds") if isinstance(report, dict) else None
    return tuple(float(v) for v in values) if isinstance(values, list) else None


def write_task_report(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    thresholds: Sequence[float] | None = None,
    figures_dir: str = "figures",
) -> list[Path]:
    """Every file of a task's report: the summary files, ``paired.csv``, ``paired.md``,
    ``paired_per_seed.csv`` (when there is a random arm) and
    ``figures/learning_curves.png``."""
    directory = Path(results_dir)
    df = validate_results(df)
    config = read_resolved_config(directory)
    if thresholds is None:
        thresholds = configured_task_thresholds(config)
    written = write_task_summary_files(directory, df, thresholds)
    written.append(plot_task_curves(df, directory / figures_dir / "learning_curves.png"))
    paired, per_seed = task_paired_table(df, thresholds, config)
    md = task_paired_markdown(paired, df, f"Paired against random: `{directory.name}`")
    written += [
        atomic_write_text(directory / PAIRED_CSV, paired.to_csv(index=False)),
        atomic_write_text(directory / PAIRED_MD, md),
        atomic_write_text(directory / PAIRED_PER_SEED_CSV, per_seed.to_csv(index=False)),
    ]
    return written


def task_verdict_lines(paired: pd.DataFrame) -> list[str]:
    """Terminal lines from a task's ``paired.csv``: per strategy, its AULC difference
    against random (positive = better) and the verdict."""
    rows = paired[paired["metric"] == "aulc"]
    if rows.empty:
        return []
    column = str(rows["primary_metric"].iloc[0])
    higher = bool(rows["higher_is_better"].iloc[0])
    lines = [
        f"paired over {int(rows['n_seeds'].max())} seeds against random on AULC of {column} "
        f"({'higher' if higher else 'lower'} is better; positive = better than random):"
    ]
    for _, r in rows.iterrows():
        lines.append(
            f"  {r['strategy']}: {_fmt_signed(float(r['mean_diff']))} "
            f"{_fmt_interval(float(r['ci_low']), float(r['ci_high']))}, "
            f"{int(r['wins'])}/{int(r['losses'])} wins/losses: {r['verdict']}"
        )
    return lines
