"""Report thresholds: validation, the config's ``report`` section, and who wins."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bayesal.errors import ConfigError, InvalidInputError
from bayesal.experiment import config_from_dict
from bayesal.report import write_report, write_summary
from bayesal.report.results_io import configured_thresholds
from bayesal.thresholds import DEFAULT_THRESHOLDS, check_thresholds, parse_thresholds

REPO = Path(__file__).resolve().parents[2]
CONFIG = {
    "name": "thresholds",
    "dataset": {"name": "two_moons", "params": {"n_train": 50, "n_test": 30}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 3,
}


def test_valid_thresholds_are_sorted() -> None:
    assert check_thresholds([0.95, 0.8, 1]) == (0.8, 0.95, 1.0)
    assert parse_thresholds(" 0.9, 0.8 ") == (0.8, 0.9)
    assert parse_thresholds("0.975") == (0.975,)
    assert DEFAULT_THRESHOLDS == (0.90, 0.95)


@pytest.mark.parametrize(
    "values, message",
    [
        ([0.0], r"fraction in \(0, 1\]"),
        ([-0.1], r"fraction in \(0, 1\]"),
        ([1.01], r"fraction in \(0, 1\]"),
        ([90], "a percentage[?] give 0.9"),
        ([math.nan], "not a finite number"),
        ([math.inf], "not a finite number"),
        ([0.9, 0.9], "distinct; 90% given more than once"),
        ([0.9, 0.9000000001], "distinct"),  # would share the column labels_to_90
        ([], "at least one"),
        ([True], "not a number"),
        (["0.9"], "not a number"),
    ],
)
def test_invalid_thresholds(values: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_thresholds(values)


@pytest.mark.parametrize("text", ["0.9,,0.95", "0.9,abc", "", "90,95"])
def test_parse_thresholds_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_thresholds(text)


def test_config_report_section() -> None:
    plain = config_from_dict(CONFIG)
    assert plain.report is None and "report" not in plain.model_dump(mode="json")
    cfg = config_from_dict({**CONFIG, "report": {"thresholds": [0.95, 0.8]}})
    assert cfg.report is not None and cfg.report.thresholds == [0.8, 0.95]
    assert yaml.safe_load(cfg.to_yaml())["report"] == {"thresholds": [0.8, 0.95]}
    assert config_from_dict({**CONFIG, "report": {}}).report.thresholds == [0.9, 0.95]
    # No trial depends on it: the trials' digests are those of the plain config.
    from bayesal.experiment.trial import trial_digest

    resolved, plain_resolved = cfg.model_dump(mode="json"), plain.model_dump(mode="json")
    assert trial_digest(resolved, "bald", 1) == trial_digest(plain_resolved, "bald", 1)


@pytest.mark.parametrize(
    "report, message",
    [
        ({"thresholds": [0.9, 1.5]}, "report.thresholds: accuracy threshold 1.5"),
        ({"thresholds": [0.9, 0.9]}, "report.thresholds: accuracy thresholds must be distinct"),
        ({"thresholds": [0.9, float("nan")]}, "not a finite number"),
        ({"thresholds": 0.9}, "report.thresholds: thresholds must be a list"),
        ({"thresholds": []}, "at least one"),
        ({"threshold": [0.9]}, "report.threshold"),  # unknown key
    ],
)
def test_config_report_section_refuses(report: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**CONFIG, "report": report})


def test_configured_thresholds_of_a_resolved_config() -> None:
    assert configured_thresholds(None) == DEFAULT_THRESHOLDS
    assert configured_thresholds({"name": "x"}) == DEFAULT_THRESHOLDS
    assert configured_thresholds({"report": {"thresholds": [0.85, 0.7]}}) == (0.7, 0.85)
    with pytest.raises(InvalidInputError, match="report.thresholds: .*--thresholds"):
        configured_thresholds({"report": {"thresholds": [0.9, 2]}})
    with pytest.raises(InvalidInputError, match="must be a list"):
        configured_thresholds({"report": {"thresholds": "0.9"}})


def _write_config(directory: Path, report: dict | None) -> None:
    config = {"name": "x"} if report is None else {"name": "x", "report": report}
    (directory / "config.resolved.yaml").write_text(yaml.safe_dump(config))


def _threshold_columns(directory: Path) -> list[str]:
    columns = pd.read_csv(directory / "per_seed.csv").columns
    return [c for c in columns if c.startswith("labels_to_")]


def test_report_thresholds_from_config_and_from_the_caller(results_dir: Path) -> None:
    write_report(results_dir)  # no resolved config: the defaults
    assert _threshold_columns(results_dir) == ["labels_to_90", "labels_to_95"]

    _write_config(results_dir, {"thresholds": [0.8, 0.85]})
    write_report(results_dir)
    assert _threshold_columns(results_dir) == ["labels_to_80", "labels_to_85"]
    assert "Labels to 80%: median" in (results_dir / "summary.md").read_text()
    assert sorted(pd.read_csv(results_dir / "labels_saved.csv")["threshold"].unique()) == [
        0.8,
        0.85,
    ]
    metrics = set(pd.read_csv(results_dir / "paired.csv")["metric"])
    assert metrics == {"aulc", "labels_to_80", "labels_to_85"}

    # The caller (bayesal report --thresholds) wins over the config.
    write_report(results_dir, thresholds=(0.7,))
    assert _threshold_columns(results_dir) == ["labels_to_70"]
    # ... even over an invalid section, which alone is an error naming it.
    _write_config(results_dir, {"thresholds": [0.9, 95]})
    write_report(results_dir, thresholds=(0.9,))
    with pytest.raises(InvalidInputError, match="report.thresholds"):
        write_report(results_dir)
    with pytest.raises(InvalidInputError, match="must be a fraction"):
        write_report(results_dir, thresholds=(0.9, 0))


def test_bayesal_run_summary_uses_the_config_thresholds(results_dir: Path) -> None:
    _write_config(results_dir, {"thresholds": [0.75]})
    write_summary(results_dir)
    assert _threshold_columns(results_dir) == ["labels_to_75"]


COMMITTED = sorted(p.parent.name for p in (REPO / "benchmarks" / "results").glob("*/results.csv"))


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_reports_are_unchanged(name: str, tmp_path: Path) -> None:
    """``bayesal report`` on a copy of a committed study rewrites its tables byte for byte
    (the default thresholds, 90% and 95%, are those the committed tables were made with);
    the tables added since are checked too, once they are committed."""
    committed = REPO / "benchmarks" / "results" / name
    copy = tmp_path / name  # the same name: the titles hold it
    copy.mkdir()
    for file in ("results.csv", "config.resolved.yaml", "results.manifest.json"):
        if (committed / file).is_file():
            shutil.copy(committed / file, copy / file)
    written = write_report(copy)
    compared = 0
    for path in written:
        if path.suffix in (".csv", ".md") and (committed / path.name).is_file():
            assert path.read_bytes() == (committed / path.name).read_bytes(), path.name
            compared += 1
    assert compared >= 4  # summary and per_seed (.csv and .md) at least
