"""``task: segmentation`` in an experiment config: ``bayesal run`` of a tiny shapes study
records mIoU and pixel accuracy every round, equal to what the learner's ``evaluate``
gives for the same labels; the same seed gives the same file; strategies of other tasks
are refused; ``bayesal report`` reports mIoU."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.results_schema import result_columns

DATA = {"n_train": 16, "n_test": 4, "image_size": 12, "max_shapes": 2, "seed": 1}
MODEL = {"in_channels": 1, "num_classes": 4, "base": 4, "depth": 1, "dropout": 0.5}
TINY: dict[str, Any] = {
    "name": "tiny_seg",
    "task": "segmentation",
    "dataset": {"name": "shapes", "params": DATA},
    "model": {"name": "unet", "params": MODEL},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"epochs": 1, "min_steps": 3, "batch_size": 4},
    "strategies": ["random", {"name": "bald", "params": {"reduction": "top_q", "q": 0.1}}],
    "seeds": 1,
    "initial_labels": 3,
    "acquisition_size": 2,
    "rounds": 2,
    "device": "cpu",
}


def _run(tmp_path: Path, config: dict[str, Any], out: str) -> list[dict[str, str]]:
    path = tmp_path / "seg.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(
        main, ["run", str(path), "--out", str(tmp_path / out), "--workers", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    with open(tmp_path / out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_bayesal_run_records_miou_and_pixel_accuracy_every_round(tmp_path: Path) -> None:
    rows = _run(tmp_path, TINY, "out")
    assert tuple(rows[0]) == result_columns(False, "segmentation")
    assert len(rows) == 2 * 3  # arms x rounds 0..2
    for row in rows:
        assert 0.0 <= float(row["miou"]) <= 1.0 and 0.0 <= float(row["pixel_accuracy"]) <= 1.0
    assert [int(r["n_labels"]) for r in rows if r["strategy"] == "random"] == [3, 5, 7]
    again = _run(tmp_path, TINY, "again")  # same seed: same metrics and picks (not timings)
    kept = ("strategy", "round", "n_labels", "miou", "pixel_accuracy", "acquired_ids")
    assert [[r[k] for k in kept] for r in again] == [[r[k] for k in kept] for r in rows]


def test_round_zero_is_the_same_for_every_arm_of_a_seed(tmp_path: Path) -> None:
    """The same initial images and the same training seeds: the arms differ only by what
    they acquire, so round 0's metrics are equal (a paired study)."""
    rows = _run(tmp_path, TINY, "out")
    first = {r["strategy"]: (r["miou"], r["pixel_accuracy"]) for r in rows if r["round"] == "0"}
    assert first["random"] == first["bald"]


def test_a_strategy_of_another_task_is_refused_naming_the_segmentation_strategies(
    tmp_path: Path,
) -> None:
    config = {**TINY, "strategies": ["random", "batchbald"]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "does not apply to task 'segmentation'" in result.output
    assert "entropy" in result.output


def test_bayesal_report_reports_miou(tmp_path: Path) -> None:
    _run(tmp_path, TINY, "out")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "mIoU" in (tmp_path / "out" / "summary.md").read_text()


@pytest.mark.parametrize("bad", [{"num_classes": 1}])
def test_the_unet_model_params_are_checked(bad: dict[str, int], tmp_path: Path) -> None:
    config = {**TINY, "model": {"name": "unet", "params": {**MODEL, **bad}}}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "num_classes" in result.output
