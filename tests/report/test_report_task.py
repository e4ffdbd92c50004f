"""The report of a multi-label or regression study (bayesal.report.task_report), on
hand-made results tables: the sign convention (positive = better than random, RMSE
lower-is-better), AULC, labels to t, and the written files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesal.report import write_report
from bayesal.report.paired import verdict_lines
from bayesal.report.task_report import (
    PRIMARY_METRICS,
    labels_to_target,
    task_paired_table,
    task_per_seed_table,
    task_summary_table,
)
from bayesal.results_schema import RESULTS_FILE, result_columns

LABELS = [10, 20, 30]


def _table(task: str, curves: dict[str, dict[int, list[float]]]) -> pd.DataFrame:
    """A results table of ``task``: ``curves[strategy][seed]`` is the primary metric per
    round (10, 20, 30 labels); the other metrics are constants."""
    rows = []
    for strategy, seeds in curves.items():
        for seed, values in seeds.items():
            for r, value in enumerate(values):
                row: dict[str, object] = {
                    "strategy": strategy,
                    "seed": seed,
                    "round": r,
                    "n_labels": LABELS[r],
                    "train_seconds": 0.1,
                    "score_seconds": 0.01 if r < 2 else 0.0,
                    "select_seconds": 0.001 if r < 2 else 0.0,
                    "eval_seconds": 0.02,
                    "acquired_ids": "1 2" if r < 2 else "",
                }
                if task == "regression":
                    row.update(rmse=value, nll=1.0, coverage_90=0.9)
                else:
                    row.update(f1_micro=0.5, f1_macro=value, mean_average_precision=0.6)
                rows.append(row)
    df = pd.DataFrame(rows)
    return df[list(result_columns(False, task))]


# random's RMSE falls 1.0 -> 0.8 -> 0.7; bald's faster, 1.0 -> 0.6 -> 0.5, in each seed
# with a seed offset (so the differences vary a little between seeds).
REGRESSION = {
    "random": {s: [1.0 + 0.01 * s, 0.8 + 0.01 * s, 0.7] for s in range(3)},
    "bald": {s: [1.0 + 0.01 * s, 0.6 + 0.02 * s, 0.5] for s in range(3)},
    "worse": {s: [1.0 + 0.01 * s, 0.9 + 0.01 * s, 0.85] for s in range(3)},
}


def test_labels_to_get_below_an_rmse_is_the_first_round_at_or_under_it() -> None:
    run = _table("regression", {"x": {0: [1.0, 0.6, 0.5]}})
    metric = PRIMARY_METRICS["regression"]
    assert labels_to_target(run, metric, 0.6) == 20  # <= 0.6 at round 1
    assert labels_to_target(run, metric, 0.55) == 30
    assert math.isinf(labels_to_target(run, metric, 0.4))
    higher = PRIMARY_METRICS["multilabel"]
    ml = _table("multilabel", {"x": {0: [0.5, 0.8, 0.9]}})
    assert labels_to_target(ml, higher, 0.8) == 20 and math.isinf(
        labels_to_target(ml, higher, 0.95)
    )


def test_aulc_of_rmse_is_the_hand_computed_trapezoid_over_the_label_span() -> None:
    per_seed = task_per_seed_table(_table("regression", REGRESSION), thresholds=[0.65])
    row = per_seed[(per_seed["strategy"] == "bald") & (per_seed["seed"] == 0)].iloc[0]
    # ((1.0 + 0.6) / 2 * 10 + (0.6 + 0.5) / 2 * 10) / 20
    assert row["aulc"] == pytest.approx((8.0 + 5.5) / 20)
    assert row["final_rmse"] == 0.5 and row["labels_to_rmse_0.65"] == 20


def test_a_strategy_with_lower_rmse_than_random_gets_a_positive_difference() -> None:
    paired, per_seed = task_paired_table(_table("regression", REGRESSION), thresholds=[0.75])
    aulc = paired[paired["metric"] == "aulc"].set_index("strategy")
    # Hand-computed per seed: AULC(random) - AULC(bald).
    expected = []
    for s in range(3):
        area = lambda v: (np.trapezoid(v, LABELS)) / 20  # noqa: E731
        expected.append(area(REGRESSION["random"][s]) - area(REGRESSION["bald"][s]))
    assert aulc.at["bald", "mean_diff"] == pytest.approx(np.mean(expected))
    assert aulc.at["bald", "mean_diff"] > 0 and aulc.at["bald", "wins"] == 3
    assert str(aulc.at["bald", "verdict"]).endswith("(better)")
    assert aulc.at["worse", "mean_diff"] < 0 and aulc.at["worse", "losses"] == 3
    assert str(aulc.at["worse", "verdict"]).endswith("(worse)")
    assert not bool(aulc.at["bald", "higher_is_better"])
    # Labels saved to get below 0.75: random needs 30, bald 20 -> +10 per seed.
    saved = paired[paired["metric"] == "labels_to_rmse_0.75"].set_index("strategy")
    assert saved.at["bald", "median_diff_low"] == 10 == saved.at["bald", "median_diff_high"]
    bald_seeds = per_seed[(per_seed["strategy"] == "bald") & (per_seed["metric"] == "aulc")]
    assert bald_seeds["diff_low"].to_numpy() == pytest.approx(expected)


def test_a_multilabel_strategy_with_higher_f1_than_random_gets_a_positive_difference() -> None:
    curves = {
        "random": {s: [0.5, 0.6 + 0.01 * s, 0.7] for s in range(3)},
        "bald": {s: [0.5, 0.7 + 0.02 * s, 0.8] for s in range(3)},
    }
    paired, _ = task_paired_table(_table("multilabel", curves), thresholds=[0.7])
    aulc = paired[paired["metric"] == "aulc"].set_index("strategy")
    assert aulc.at["bald", "mean_diff"] > 0 and bool(aulc.at["bald", "higher_is_better"])


def test_summary_counts_seeds_that_reach_and_leaves_the_median_unreached() -> None:
    summary = task_summary_table(_table("regression", REGRESSION), thresholds=[0.55])
    rows = summary.set_index("strategy")
    assert rows.at["bald", "labels_to_rmse_0.55_reached"] == 3
    assert rows.at["bald", "labels_to_rmse_0.55_median"] == 30
    assert rows.at["random", "labels_to_rmse_0.55_reached"] == 0
    assert math.isnan(rows.at["random", "labels_to_rmse_0.55_median"])
    assert rows.at["random", "final_rmse_mean"] == pytest.approx(0.7)


def test_write_report_on_a_regression_table_says_lower_is_better_and_the_sign(
    tmp_path: Path,
) -> None:
    _table("regression", REGRESSION).to_csv(tmp_path / RESULTS_FILE, index=False)
    written = write_report(tmp_path, thresholds=[0.75])
    names = {p.name for p in written}
    assert {"summary.md", "summary.csv", "paired.md", "paired.csv", "learning_curves.png"} <= names
    summary = (tmp_path / "summary.md").read_text()
    assert "LOWER is better" in summary and "**at most** t" in summary
    paired = (tmp_path / "paired.md").read_text()
    assert "positive = better than random" in paired
    assert "AULC(random) − AULC(strategy)" in paired
    lines = verdict_lines(tmp_path)
    assert "lower is better; positive = better than random" in lines[0]
    bald = next(line for line in lines if line.strip().startswith("bald:"))
    assert "+0." in bald and "more than seed noise (better)" in bald
