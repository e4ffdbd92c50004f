"""Claims of the issue-23 task studies (multi-label digits, diabetes and make_friedman1
regression): every number and verdict their READMEs and docs/tasks.md state, recomputed
from the committed results.csv by ``bayesal.report.task_report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayesal.report.results_io import load_results, read_resolved_config
from bayesal.report.task_report import (
    configured_task_thresholds,
    task_paired_table,
    task_summary_table,
)
from bayesal.results_schema import TASK_METRIC_COLUMNS

RESULTS = Path("benchmarks/results")

#: study -> (task, its arms other than random, in README order)
STUDIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "digits_multilabel": ("multilabel", ("bald", "entropy", "margin")),
    "diabetes_regression": ("regression", ("bald", "predictive_variance")),
    "friedman1_regression": ("regression", ("bald", "predictive_variance")),
}


def _inputs(root: Path, study: str) -> tuple[Any, Any, Any]:
    directory = root / RESULTS / study
    config = read_resolved_config(directory)
    return load_results(directory), configured_task_thresholds(config), config


def paired_row(c: Any, study: str, strategy: str, metric: str = "aulc") -> Any:
    """``strategy`` against random in a task study: ``mean``, ``ci_low``, ``ci_high``
    (the primary metric's AULC difference, signed positive = better than random),
    ``median_low`` / ``median_high`` (labels saved), ``wins``, ``losses``, ``ties``, ``n``,
    ``verdict`` (a choice: better | within seed noise | worse)."""

    def source(root: Path) -> dict[str, Any]:
        df, thresholds, config = _inputs(root, study)
        paired, _ = task_paired_table(df, thresholds, config)
        rows = paired[(paired["strategy"] == strategy) & (paired["metric"] == metric)]
        if rows.empty:
            raise KeyError(f"{study}: no paired row {strategy} vs random on {metric}")
        r = rows.iloc[0]
        return {
            "mean": float(r["mean_diff"]),
            "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]),
            "median_low": float(r["median_diff_low"]),
            "median_high": float(r["median_diff_high"]),
            "wins": int(r["wins"]),
            "losses": int(r["losses"]),
            "ties": int(r["ties"]),
            "n": int(r["n_seeds"]),
            "verdict": c.verdict_choice(str(r["verdict"])),
        }

    source.__doc__ = f"tasks_studies.paired_row({study!r}, {strategy!r}, {metric!r})"
    return source


def summary_row(study: str, strategy: str) -> Any:
    """A strategy's row of a task study's summary: ``n``, ``final_<metric>_mean`` /
    ``_std`` for every metric of the task, ``aulc_mean`` / ``aulc_std``, and per
    threshold ``l<i>`` (i = 0, 1, ...) the median labels as text ("n.r." when not
    reached) and ``r<i>`` the seeds that got there."""

    def source(root: Path) -> dict[str, Any]:
        df, thresholds, _ = _inputs(root, study)
        summary = task_summary_table(df, thresholds)
        row = summary[summary["strategy"] == strategy]
        if row.empty:
            raise KeyError(f"{study}: no strategy {strategy}")
        r = row.iloc[0]
        task = STUDIES[study][0]
        values: dict[str, Any] = {
            "n": int(r["n_seeds"]),
            "aulc_mean": float(r["aulc_mean"]),
            "aulc_std": float(r["aulc_std"]),
        }
        for column in TASK_METRIC_COLUMNS[task]:
            values[f"final_{column}_mean"] = float(r[f"final_{column}_mean"])
            values[f"final_{column}_std"] = float(r[f"final_{column}_std"])
        keys = [k.removesuffix("_median") for k in summary.columns if k.endswith("_median")]
        for i, key in enumerate(keys):
            median = float(r[f"{key}_median"])
            values[f"l{i}"] = "n.r." if median != median else f"{median:g}"
            values[f"r{i}"] = int(r[f"{key}_reached"])
        return values

    source.__doc__ = f"tasks_studies.summary_row({study!r}, {strategy!r})"
    return source


def _row_template(task: str, label: str) -> str:
    metrics = " | ".join(
        f"{{final_{m}_mean:.3f}} ± {{final_{m}_std:.3f}}" for m in TASK_METRIC_COLUMNS[task]
    )
    return (
        f"| {label} | {metrics} | {{aulc_mean:.3f}} ± {{aulc_std:.3f}} "
        "| {l0} ({r0}/{n}) | {l1} ({r1}/{n}) |"
    )


def _verdict_template(label: str) -> str:
    return (
        f"{label}: AULC {{mean:+.4f}} [{{ci_low:+.4f}}, {{ci_high:+.4f}}], "
        "{wins}/{losses} wins/losses: "
        "{verdict:more than seed noise (better)|within seed noise|more than seed noise (worse)}"
    )


def claims(c: Any) -> list[Any]:
    out: list[Any] = []
    for study, (task, arms) in STUDIES.items():
        readme = f"benchmarks/results/{study}/README.md"
        for strategy in ("random", *arms):
            out.append(c.Claim(readme, _row_template(task, strategy), summary_row(study, strategy)))
        for strategy in arms:
            source = paired_row(c, study, strategy)
            out.append(c.Claim(readme, _verdict_template(strategy), source))
            out.append(c.Claim("docs/tasks.md", _verdict_template(strategy), source))
    return out
