"""Where would each stopping rule have stopped? A table and a figure from a results table.

A results directory whose ``config.resolved.yaml`` has ``stopping.rules`` (an experiment
config with a ``stopping:`` section) gets, from ``bayesal report``:

- ``stopping.csv``: one row per strategy x seed x rule: the round at which the rule
  first says stop (:func:`bayesal.stopping.first_stop`, evaluating it on rounds
  ``0..r`` as it would have run live), the labels and test accuracy there, the run's
  final labels and accuracy, and a reference point: the labels at which the run first
  came within :data:`NEAR_FINAL` (one point) of its final accuracy. Empty cells: the
  rule never stopped within the run.
- ``stopping.md``: the same, summarised per strategy x rule over seeds.
- ``figures/stopping.png``: the learning curve of each strategy (mean over seeds), one
  panel per strategy, with a vertical line where each rule would have stopped (median
  over seeds) and a dotted one at the reference point.

The evidence of each round (:class:`bayesal.stopping.RoundEvidence`) is read from the
table: ``n_labels``, ``test_accuracy``, and the optional stopping-evidence columns
(``stop_agreement``, ``stop_mean_entropy``, ``stop_mean_bald``; NaN or absent = not
recorded). This module reads files only, like the rest of :mod:`bayesal.report`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import rc_context

from bayesal._atomic import atomic_savefig, atomic_write_text
from bayesal.errors import InvalidInputError
from bayesal.report.curves import STYLE, new_figure, strategy_colors
from bayesal.report.results_io import validate_results
from bayesal.report.tables import REACH_TOLERANCE, censored_quantile
from bayesal.stopping import RoundEvidence, StoppingRule, first_stop, get_stopping_rule

__all__ = [
    "NEAR_FINAL",
    "STOPPING_COLUMNS",
    "STOPPING_CSV",
    "STOPPING_FIGURE",
    "STOPPING_MD",
    "plot_stopping",
    "run_evidence",
    "stopping_markdown",
    "stopping_rules",
    "stopping_table",
    "write_stopping",
]

STOPPING_CSV = "stopping.csv"
STOPPING_MD = "stopping.md"
STOPPING_FIGURE = "stopping.png"
#: The reference point of a run: the labels at which its accuracy first came within
#: this much (one point) of its final accuracy.
NEAR_FINAL = 0.01

#: Columns of :func:`stopping_table`.
STOPPING_COLUMNS: tuple[str, ...] = (
    "strategy",
    "seed",
    "rule",
    "stop_round",
    "labels_at_stop",
    "accuracy_at_stop",
    "final_labels",
    "final_accuracy",
    "labels_to_final_minus_1pt",
    "reason",
)

# Rule colours (Okabe-Ito, the ones strategies use least) and line styles.
_RULE_COLORS = ("#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#8C564B")
_RULE_STYLES = ("--", "-.", (0, (5, 1, 1, 1)), (0, (3, 1)), "--", "-.", (0, (1, 1)))


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def run_evidence(run: pd.DataFrame) -> list[RoundEvidence]:
    """The :class:`~bayesal.stopping.RoundEvidence` of every round of one run (the rows
    of one strategy x seed, sorted by round). NaN, empty or absent stopping-evidence
    columns and test accuracies are "not recorded" (None, or left out of
    ``uncertainty``)."""
    agreement = run["stop_agreement"] if "stop_agreement" in run else None
    measures = {
        name: run[column]
        for name, column in (("entropy", "stop_mean_entropy"), ("bald", "stop_mean_bald"))
        if column in run
    }
    evidence = []
    for i in range(len(run)):
        uncertainty = {
            name: value
            for name, column in measures.items()
            if (value := _finite(column.iloc[i])) is not None
        }
        evidence.append(
            RoundEvidence(
                n_labels=int(run["n_labels"].iloc[i]),
                agreement=None if agreement is None else _finite(agreement.iloc[i]),
                uncertainty=uncertainty,
                accuracy=_finite(run["test_accuracy"].iloc[i]),
            )
        )
    return evidence


def stopping_rules(config: Mapping[str, Any] | None) -> dict[str, StoppingRule]:
    """``{label: rule}`` of a resolved config's ``stopping.rules`` (empty when it has
    none), in config order.

    Raises:
        InvalidInputError: a rule that does not build (an unknown name, e.g. a plugin's
            rule that is not importable here, or bad parameters).
    """
    stopping = config.get("stopping") if isinstance(config, Mapping) else None
    entries = stopping.get("rules") if isinstance(stopping, Mapping) else None
    rules: dict[str, StoppingRule] = {}
    for i, entry in enumerate(entries or []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise InvalidInputError(f"stopping.rules[{i}] is not a mapping with a name")
        label = entry.get("label") or entry["name"]
        if label in rules:
            raise InvalidInputError(f"stopping.rules: the label {label!r} appears twice")
        rules[str(label)] = get_stopping_rule(entry["name"], **dict(entry.get("params") or {}))
    return rules


def _labels_near_final(run: pd.DataFrame) -> float:
    accuracy = run["test_accuracy"].to_numpy(dtype=np.float64)
    final = accuracy[-1]
    if not math.isfinite(final):
        return math.nan
    near = accuracy >= final - NEAR_FINAL - REACH_TOLERANCE
    return float(run["n_labels"].to_numpy()[np.argmax(near)])


def stopping_table(df: pd.DataFrame, rules: Mapping[str, StoppingRule]) -> pd.DataFrame:
    """One row per strategy x seed x rule (columns :data:`STOPPING_COLUMNS`).

    ``stop_round`` is the first round at which the rule says stop, evaluated on rounds
    ``0..r`` of the run (:func:`~bayesal.stopping.first_stop`); ``labels_at_stop`` and
    ``accuracy_at_stop`` are that round's. Empty (NA / NaN) when the rule never stops
    within the run. ``final_*`` are the run's last round; ``labels_to_final_minus_1pt``
    the labels at the first round whose accuracy is at least the final accuracy minus
    :data:`NEAR_FINAL`. ``reason`` is the rule's reason at the stop round (at the last
    round when it never stopped).

    Raises:
        InvalidInputError: a malformed results table.
    """
    df = validate_results(df)
    rows = []
    for (label, seed), run in df.groupby(["strategy", "seed"], sort=False):
        run = run.sort_values("round")
        history = run_evidence(run)
        final_labels = int(run["n_labels"].iloc[-1])
        final_accuracy = float(run["test_accuracy"].iloc[-1])
        near = _labels_near_final(run)
        for name, rule in rules.items():
            stop = first_stop(rule, history)
            at = stop if stop is not None else len(history) - 1
            decision = rule(history[: at + 1])
            rows.append(
                {
                    "strategy": label,
                    "seed": int(seed),
                    "rule": name,
                    "stop_round": stop,
                    "labels_at_stop": history[stop].n_labels if stop is not None else None,
                    "accuracy_at_stop": (
                        float(run["test_accuracy"].iloc[stop]) if stop is not None else math.nan
                    ),
                    "final_labels": final_labels,
                    "final_accuracy": final_accuracy,
                    "labels_to_final_minus_1pt": near,
                    "reason": decision.reason,
                }
            )
    table = pd.DataFrame(rows, columns=list(STOPPING_COLUMNS))
    for column in ("stop_round", "labels_at_stop", "labels_to_final_minus_1pt"):
        table[column] = table[column].astype("Int64")
    return table


def _stop_labels(group: pd.DataFrame) -> list[float]:
    """Labels at stop per seed, ``inf`` for a seed whose rule never stopped."""
    return [math.inf if pd.isna(v) else float(v) for v in group["labels_at_stop"]]


def _median_text(values: Sequence[float]) -> str:
    median = censored_quantile(values, 0.5)
    return "never" if math.isinf(median) else f"{median:g}"


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.1f}"


def stopping_markdown(table: pd.DataFrame, title: str = "Stopping rules") -> str:
    """:func:`stopping_table` as Markdown: one row per strategy x rule, over seeds."""
    lines = [
        f"# {title}",
        "",
        "| Strategy | Rule | Stopped (k/n) | Labels at stop: median (per seed) | "
        "Acc. at stop (%, mean) | Final labels | Final acc. (%, mean) | "
        "Labels to final − 1 pt: median |",
        "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (strategy, rule), group in table.groupby(["strategy", "rule"], sort=False):
        stops = _stop_labels(group)
        stopped = sum(1 for s in stops if math.isfinite(s))
        per_seed = ", ".join(
            f"s{seed}: {'never' if math.isinf(s) else f'{s:g}'}"
            for seed, s in zip(group["seed"], stops, strict=True)
        )
        at_stop = group["accuracy_at_stop"].dropna()
        lines.append(
            f"| `{strategy}` | `{rule}` | {stopped}/{len(group)} | "
            f"{_median_text(stops)} ({per_seed}) | "
            f"{_pct(float(at_stop.mean())) if len(at_stop) else '–'} | "
            f"{float(group['final_labels'].median()):g} | "
            f"{_pct(float(group['final_accuracy'].mean()))} | "
            f"{float(group['labels_to_final_minus_1pt'].median()):g} |"
        )
    lines += [
        "",
        "**How to read this table**",
        "",
        "- Each rule is evaluated after every round on the rounds so far, as it would have "
        "run live; *labels at stop* is `n_labels` at the first round where it says stop. "
        "*never*: it did not stop within the run (a median that depends on such a seed is "
        "*never*).",
        "- *Acc. at stop* is the test accuracy of that round's model, averaged over the "
        "seeds that stopped; compare it with the final accuracy of the whole run.",
        "- *Labels to final − 1 pt*: per seed, the labels at the first round whose accuracy "
        "came within 1 point of the run's final accuracy: a rule that stops well before "
        "it stopped too early, one that stops well after it spent labels for little gain.",
        "- `stopping.csv` holds every seed, with the rule's reason at its stop.",
        "",
    ]
    return "\n".join(lines)


def plot_stopping(
    df: pd.DataFrame,
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    strategy_order: Sequence[str] | None = None,
) -> Path:
    """The learning curve of each strategy (mean test accuracy over seeds against labels,
    one panel each), with a vertical line per rule at the median over seeds of the labels
    at which it stops (a marker where it meets the curve) and a dotted grey line at the
    median labels to within 1 point of the final accuracy. A rule that never stops for
    half the seeds or more has no line; the legend says so. Written atomically.

    Raises:
        InvalidInputError: a malformed results table.
    """
    df = validate_results(df)
    labels = list(strategy_order) if strategy_order is not None else list(df["strategy"].unique())
    labels = [s for s in labels if (df["strategy"] == s).any()]
    colors = strategy_colors(labels)
    rules = list(dict.fromkeys(table["rule"]))
    n_cols = min(3, max(1, len(labels)))
    n_rows = math.ceil(len(labels) / n_cols)
    with rc_context(STYLE):
        fig = new_figure((4.2 * n_cols + 0.4, 3.4 * n_rows + 0.5))
        axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey=True)
        for ax in axes.flat[len(labels) :]:
            ax.set_visible(False)
        for ax, label in zip(axes.flat, labels, strict=False):
            runs = df[df["strategy"] == label]
            mean = runs.groupby("n_labels")["test_accuracy"].mean()
            x, y = mean.index.to_numpy(dtype=np.float64), mean.to_numpy()
            n_seeds = runs["seed"].nunique()
            ax.plot(x, y, color=colors[label], linewidth=1.8, label=f"{label} (mean)", zorder=3)
            rows = table[table["strategy"] == label]
            near = float(rows["labels_to_final_minus_1pt"].median()) if len(rows) else math.nan
            if math.isfinite(near):
                ax.axvline(
                    near,
                    color="0.45",
                    linestyle=":",
                    linewidth=1.2,
                    zorder=1,
                    label=f"final − 1 pt: {near:g}",
                )
            for i, rule in enumerate(rules):
                group = rows[rows["rule"] == rule]
                stops = _stop_labels(group)
                stopped = sum(1 for s in stops if math.isfinite(s))
                median = censored_quantile(stops, 0.5)
                color = _RULE_COLORS[i % len(_RULE_COLORS)]
                if math.isinf(median) or math.isnan(median):
                    ax.plot(
                        [],
                        [],
                        color=color,
                        linestyle=_RULE_STYLES[i % len(_RULE_STYLES)],
                        label=f"{rule}: never ({stopped}/{len(stops)})",
                    )
                    continue
                ax.axvline(
                    median,
                    color=color,
                    linestyle=_RULE_STYLES[i % len(_RULE_STYLES)],
                    linewidth=1.4,
                    zorder=2,
                    label=f"{rule}: {median:g} ({stopped}/{len(stops)})",
                )
                ax.plot(
                    [median],
                    [float(np.interp(median, x, y))],
                    marker="o",
                    markersize=6,
                    color=color,
                    markeredgecolor="black",
                    markeredgewidth=0.6,
                    zorder=4,
                )
            ax.set_title(f"{label} ({n_seeds} seed{'s' if n_seeds != 1 else ''})")
            ax.set_xlabel("Number of labelled examples")
            ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
            ax.grid(True, which="major")
            ax.legend(
                loc="lower right",
                fontsize=7,
                frameon=True,
                framealpha=0.9,
                title="stops at (median labels, k/n seeds)",
                title_fontsize=7,
            )
        for row in axes:
            row[0].set_ylabel("Test accuracy")
        fig.suptitle("Where each stopping rule would stop")
        return atomic_savefig(fig, path)


def write_stopping(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    rules: Mapping[str, StoppingRule],
    *,
    figures_dir: str = "figures",
) -> list[Path]:
    """Write ``stopping.csv``, ``stopping.md`` and ``<figures_dir>/stopping.png`` for
    ``rules`` (``{label: rule}``, e.g. :func:`stopping_rules` of the resolved config);
    returns the paths. Every file is written atomically."""
    directory = Path(results_dir)
    if not rules:
        raise InvalidInputError("write_stopping needs at least one stopping rule")
    table = stopping_table(df, rules)
    md = stopping_markdown(table, title=f"Stopping rules: `{directory.name}`")
    return [
        atomic_write_text(directory / STOPPING_CSV, table.to_csv(index=False)),
        atomic_write_text(directory / STOPPING_MD, md),
        plot_stopping(df, table, directory / figures_dir / STOPPING_FIGURE),
    ]
