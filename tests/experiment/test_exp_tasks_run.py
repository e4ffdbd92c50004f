"""``bayesal run`` and ``bayesal report`` of tiny multi-label and regression studies, end
to end: the task's metric columns, the same results for the same seed, resumption, and
the task's report."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.experiment.results import check_trial, trial_path
from bayesal.experiment.trial import trial_digest
from bayesal.results_schema import TASK_METRIC_COLUMNS, result_columns

TINY: dict[str, dict[str, Any]] = {
    "multilabel": {
        "name": "tiny_ml",
        "task": "multilabel",
        "dataset": {"name": "digits_multilabel"},
        "model": {"name": "mlp", "params": {"in_features": 64, "hidden": 8, "depth": 1}},
        "posterior": {"name": "mc_dropout", "num_samples": 3},
        "training": {"epochs": 1, "min_steps": 3},
        "strategies": ["random", "bald"],
        "seeds": 2,
        "initial_labels": 8,
        "acquisition_size": 4,
        "rounds": 2,
        "device": "cpu",
    },
    "regression": {
        "name": "tiny_reg",
        "task": "regression",
        "dataset": {"name": "diabetes"},
        "model": {"name": "mlp", "params": {"in_features": 10, "hidden": 8, "depth": 1}},
        "posterior": {"name": "mc_dropout", "num_samples": 3},
        "training": {"epochs": 1, "min_steps": 3},
        "strategies": ["random", "bald", "predictive_variance"],
        "seeds": 2,
        "initial_labels": 8,
        "acquisition_size": 4,
        "rounds": 2,
        "device": "cpu",
    },
}


def _run(tmp_path: Path, task: str, out: str) -> tuple[Path, list[dict[str, str]]]:
    config = tmp_path / f"{task}.yaml"
    config.write_text(yaml.safe_dump(TINY[task]))
    result = CliRunner().invoke(
        main, ["run", str(config), "--out", str(tmp_path / out), "--workers", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / out / "results.csv", newline="") as fh:
        return tmp_path / out, list(csv.DictReader(fh))


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_bayesal_run_records_the_task_metrics_instead_of_accuracy(
    tmp_path: Path, task: str
) -> None:
    out, rows = _run(tmp_path, task, "out")
    header = list(rows[0])
    assert tuple(header) == result_columns(False, task)
    assert "test_accuracy" not in header and "test_nll" not in header
    strategies = TINY[task]["strategies"]
    assert len(rows) == len(strategies) * 2 * 3  # arms x seeds x rounds 0..2
    for row in rows:
        values = {m: float(row[m]) for m in TASK_METRIC_COLUMNS[task]}
        assert all(math.isfinite(v) for v in values.values())
        if task == "multilabel":
            assert all(0.0 <= v <= 1.0 for v in values.values())
        else:
            assert values["rmse"] >= 0.0 and 0.0 <= values["coverage_90"] <= 1.0
        assert int(row["n_labels"]) == 8 + 4 * int(row["round"])
    # The summary bayesal run writes is the task's: its primary metric named.
    summary = (out / "summary.md").read_text()
    assert ("f1_macro" if task == "multilabel" else "rmse") in summary


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_same_config_and_seed_give_the_same_picks_and_metrics(tmp_path: Path, task: str) -> None:
    _, first = _run(tmp_path, task, "a")
    _, second = _run(tmp_path, task, "b")
    drop = ("train_seconds", "score_seconds", "select_seconds", "eval_seconds")
    assert [{k: v for k, v in r.items() if k not in drop} for r in first] == [
        {k: v for k, v in r.items() if k not in drop} for r in second
    ]


def test_seeds_of_a_regression_study_start_from_different_random_initial_sets(
    tmp_path: Path,
) -> None:
    _, rows = _run(tmp_path, "regression", "out")
    # Arms of one seed share the initial set, so their round-0 metrics agree (the same
    # model seed and labels); two seeds differ.
    round0 = {(r["strategy"], r["seed"]): r["rmse"] for r in rows if r["round"] == "0"}
    assert round0[("random", "0")] == round0[("bald", "0")] == round0[("predictive_variance", "0")]
    assert round0[("random", "0")] != round0[("random", "1")]


def test_a_rerun_resumes_and_a_trial_of_another_task_is_rejected(tmp_path: Path) -> None:
    out, rows = _run(tmp_path, "regression", "out")
    before = (out / "results.csv").read_text()
    _, again = _run(tmp_path, "regression", "out")  # every trial on disk: nothing recomputed
    assert (out / "results.csv").read_text() == before
    grid = yaml.safe_load((out / "config.resolved.yaml").read_text())
    kwargs = {
        "label": "bald",
        "seed": 0,
        "config_digest": trial_digest(grid, "bald", 0),
        "rounds": 2,
        "initial_labels": 8,
        "acquisition_size": 4,
        "legacy_ok": False,
    }
    path = trial_path(out, "bald", 0)
    assert check_trial(path, task="regression", **kwargs) is None
    problem = check_trial(path, task="multilabel", **kwargs)
    assert problem is not None and "task 'multilabel'" in problem


@pytest.mark.parametrize("task", ["multilabel", "regression"])
def test_bayesal_report_writes_the_task_report_and_signed_verdicts(
    tmp_path: Path, task: str
) -> None:
    out, _ = _run(tmp_path, task, "out")
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("summary.csv", "summary.md", "per_seed.csv", "paired.csv", "paired.md"):
        assert (out / name).is_file()
    assert (out / "figures" / "learning_curves.png").is_file()
    assert "positive = better than random" in result.output
    paired = (out / "paired.md").read_text()
    assert "positive = better than random" in paired
    if task == "regression":
        assert "AULC(random) − AULC(strategy)" in paired
