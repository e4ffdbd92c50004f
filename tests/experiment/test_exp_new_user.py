"""A new user's first config: what the data determines is filled in, every mistake is
reported at once (a misspelt key with its close match), and a dataset without a test
set is said to measure no accuracy before the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from bayesal.cli import main
from bayesal.errors import ConfigError
from bayesal.experiment import config_from_dict


def _table(path: Path, n: int = 80, *, label: str = "target") -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")
    rows = [f"{r[0]:.4f},{r[1]:.4f},{r[2]:.4f},{t}" for r, t in zip(x, y, strict=True)]
    lines = [f"a,b,c,{label}", *rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv_config(tmp_path: Path, **params: Any) -> dict[str, Any]:
    return {
        "name": "first",
        "dataset": {
            "name": "csv",
            "params": {
                "path": str(_table(tmp_path / "t.csv")),
                "label_column": "target",
                "test_fraction": 0.25,
                **params,
            },
        },  # fmt: skip
        "model": {"name": "mlp"},  # no in_features, no num_classes
        "posterior": {"name": "mc_dropout", "num_samples": 3},
        "training": {"epochs": 1, "min_steps": 3},
        "strategies": ["random", "bald"],
        "seeds": 1,
        "initial_labels": 4,
        "acquisition_size": 2,
        "rounds": 1,
        "device": "cpu",
    }


def _run(tmp_path: Path, config: dict[str, Any], *extra: str) -> Any:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--workers", "1"]
    return CliRunner().invoke(main, [*args, *extra])


def test_an_mlp_without_in_features_or_num_classes_is_a_valid_config() -> None:
    raw = {"name": "x", "dataset": {"name": "wine"}, "model": {"name": "mlp"},
           "strategies": ["random"]}  # fmt: skip
    cfg = config_from_dict(raw)
    assert cfg.model is not None and cfg.model.data_params() == ["in_features", "num_classes"]


def test_run_fills_in_features_and_num_classes_from_a_csv_and_resumes(tmp_path: Path) -> None:
    config = _csv_config(tmp_path)
    first = _run(tmp_path, config)
    assert first.exit_code == 0, first.output
    resolved = yaml.safe_load((tmp_path / "out" / "config.resolved.yaml").read_text())
    assert resolved["model"]["params"] == {"in_features": 3, "num_classes": 2}
    again = _run(tmp_path, config)  # the same config resumes the directory
    assert again.exit_code == 0, again.output
    collected = _run(tmp_path, config, "--collect-only")
    assert collected.exit_code == 0, collected.output


def test_a_wrong_in_features_given_in_the_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = _csv_config(tmp_path)
    config["model"] = {"name": "mlp", "params": {"in_features": 5}}
    result = _run(tmp_path, config)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_every_file_and_column_mistake_is_reported_in_one_line(tmp_path: Path) -> None:
    config = _csv_config(tmp_path, test_fraction=0.0)
    config["dataset"]["params"].update(
        label_column="targt", feature_columns=["a", "bb"], test_path=str(tmp_path / "no.csv")
    )
    result = _run(tmp_path, config)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    assert "dataset.params.test_path: file" in line and "no.csv' does not exist" in line
    assert "label_column: no column 'targt'" in line and "did you mean 'target'?" in line
    assert "feature_columns: no column 'bb'" in line
    assert not (tmp_path / "out").exists()


def test_an_invalid_config_also_reports_the_dataset_file_mistakes(tmp_path: Path) -> None:
    config = _csv_config(tmp_path)
    config["dataset"]["params"]["path"] = str(tmp_path / "missing.csv")
    config["training"] = {"lr": -1}
    result = _run(tmp_path, config)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "training.lr: Input should be greater than 0" in line
    assert "dataset.params.path: file" in line and "missing.csv' does not exist" in line


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"round": 2}, "round: unknown key (did you mean 'rounds'?)"),
        ({"training": {"lrr": 0.1}}, "training.lrr: unknown key (did you mean 'lr'?)"),
        ({"strategies": [{"name": "bald", "lable": "b"}]},
         "strategies[0].lable: unknown key (did you mean 'label'?)"),
        ({"posterior": {"name": "mc_dropout", "num_sample": 3}},
         "posterior.num_sample: unknown key (did you mean 'num_samples'?)"),
    ],
)  # fmt: skip
def test_a_misspelt_key_gets_its_close_match(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({**_csv_config(tmp_path), **changes})
    assert expected in str(info.value)
    assert "Extra inputs are not permitted" not in str(info.value)


def test_a_csv_without_a_test_set_says_before_the_run_that_no_accuracy_is_measured(
    tmp_path: Path,
) -> None:
    config = _csv_config(tmp_path, test_fraction=0.0)
    result = _run(tmp_path, config)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "has no test set" in line]
    assert notes and notes[0].startswith("bayesal: note: dataset 'csv' has no test set")
    assert "measures no accuracy" in notes[0] and "test_fraction" in notes[0]
    assert "no test set" in result.stdout  # and the end-of-run line, as before
