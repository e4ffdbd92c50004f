"""The ``stopping:`` section of an experiment config: validation, digests, the extra
columns of the trial files and results.csv (present only when configured, every other
column unchanged), the resume guard, and the report's stopping files."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from bayesal.errors import ConfigError
from bayesal.experiment import RESULT_COLUMNS, config_from_dict, run_experiment, trial_path
from bayesal.experiment.results import check_trial
from bayesal.experiment.trial import SHARED_FIELDS, config_trial_digest, trial_digest
from bayesal.report import load_results, write_report
from bayesal.report.stopping import STOPPING_COLUMNS
from bayesal.results_schema import STOP_COLUMNS

TINY: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "two_moons", "params": {"n_train": 60, "n_test": 40, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 4},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 15},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 3,
}
RULES = [
    {"name": "budget", "params": {"max_labels": 8}},
    {"name": "stabilizing_predictions", "params": {"threshold": 0.5, "window": 2}},
    {"name": "uncertainty_threshold", "label": "bald_low", "params": {"threshold": 0.5}},
    {"name": "accuracy_plateau", "params": {"window": 1}},
]
STOPPING = {"stop_set_size": 30, "rules": RULES}
TIMINGS = {"train_seconds", "score_seconds", "select_seconds", "eval_seconds"}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same tiny grid without and with stopping evidence."""
    root = tmp_path_factory.mktemp("stopping")
    run_experiment(config_from_dict(TINY), root / "plain", workers=1, progress=False)
    run_experiment(
        config_from_dict({**TINY, "stopping": STOPPING}), root / "stop", workers=1, progress=False
    )
    return root / "plain", root / "stop"


# ------------------------------------------------------------------------------ config


def test_absent_stopping_changes_no_dump_and_no_digest() -> None:
    config = config_from_dict(TINY)
    assert config.stopping is None
    dumped = config.model_dump(mode="json")
    assert "stopping" not in dumped and "stopping" not in config.to_yaml()
    # The digest is that of the payload before stopping existed.
    payload = {
        "shared": {f: dumped.get(f) for f in SHARED_FIELDS},
        "strategy": dumped["strategies"][0],
        "seed": 0,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert (
        config_trial_digest(config, "random", 0) == hashlib.sha256(canonical.encode()).hexdigest()
    )


def test_stopping_defaults_and_round_trip() -> None:
    config = config_from_dict(
        {**TINY, "stopping": {"rules": [{"name": "budget", "params": {"max_labels": 5}}]}}
    )
    assert config.stopping is not None and config.stopping.stop_set_size == 1000
    assert [r.label for r in config.stopping.rules] == ["budget"]
    again = config_from_dict(yaml.safe_load(config.to_yaml()))
    assert again == config
    assert config_from_dict({**TINY, "stopping": {}}).stopping.rules == []  # type: ignore[union-attr]


def test_only_the_stop_set_enters_the_digest() -> None:
    plain = config_trial_digest(config_from_dict(TINY), "bald", 1)
    with_stop = config_from_dict({**TINY, "stopping": STOPPING})
    other_rules = config_from_dict({**TINY, "stopping": {"stop_set_size": 30, "rules": []}})
    other_size = config_from_dict({**TINY, "stopping": {"stop_set_size": 31}})
    assert config_trial_digest(with_stop, "bald", 1) != plain
    assert config_trial_digest(with_stop, "bald", 1) == config_trial_digest(other_rules, "bald", 1)
    assert config_trial_digest(with_stop, "bald", 1) != config_trial_digest(other_size, "bald", 1)
    assert trial_digest(with_stop.model_dump(mode="json"), "bald", 1) == config_trial_digest(
        with_stop, "bald", 1
    )


TWICE = [{"name": "stabilizing_predictions"}, {"name": "stabilizing_predictions"}]
NAN_THRESHOLD = {"name": "uncertainty_threshold", "params": {"threshold": float("nan")}}


@pytest.mark.parametrize(
    ("stopping", "match"),
    [
        (
            {"rules": [{"name": "budgt"}]},
            r"stopping.rules\[0\].name: unknown stopping rule 'budgt'. Did you mean 'budget'",
        ),
        (
            {"rules": [{"name": "budget"}]},
            r"stopping.rules\[0\]: .*missing a required argument: 'max_labels'",
        ),
        (
            {"rules": [{"name": "budget", "params": {"max_labels": 0}}]},
            "max_labels must be an integer >= 1",
        ),
        ({"rules": TWICE}, "labels must be unique"),
        ({"rules": [{"name": "budget", "params": {"max_labels": 3}, "label": "a b"}]}, "'a b'"),
        ({"stop_set_size": 0}, r"stopping.stop_set_size"),
        ({"stop_set_size": 10, "rule": []}, r"rule: unknown key \(did you mean 'rules'\?\)"),
        ({"rules": [NAN_THRESHOLD]}, "not a finite number"),
    ],
)
def test_bad_stopping_sections(stopping: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_dict({**TINY, "stopping": stopping})


# ------------------------------------------------------------------------------ results


def test_columns_only_when_configured(runs: tuple[Path, Path]) -> None:
    plain, stop = runs
    assert tuple(_rows(plain / "results.csv")[0]) == RESULT_COLUMNS
    assert tuple(_rows(stop / "results.csv")[0]) == RESULT_COLUMNS + STOP_COLUMNS
    for name in ("random__seed0.csv", "bald__seed1.csv"):
        header = (stop / "trials" / name).read_text().splitlines()[1].split(",")
        assert tuple(header) == RESULT_COLUMNS + STOP_COLUMNS


def test_other_columns_identical(runs: tuple[Path, Path]) -> None:
    plain, stop = runs
    a, b = _rows(plain / "results.csv"), _rows(stop / "results.csv")
    assert len(a) == len(b) == 2 * 2 * 4
    for x, y in zip(a, b, strict=True):
        for column in RESULT_COLUMNS:
            if column not in TIMINGS:
                assert x[column] == y[column], column


def test_evidence_values(runs: tuple[Path, Path]) -> None:
    df = load_results(runs[1])
    assert df["stop_agreement"].dtype == float  # checked as numbers when present
    first = df["round"] == 0
    assert df.loc[first, "stop_agreement"].isna().all()
    kappa = df.loc[~first, "stop_agreement"]
    assert kappa.notna().all() and ((kappa >= -1) & (kappa <= 1)).all()
    assert ((df["stop_mean_bald"] >= 0) & (df["stop_mean_bald"] <= df["stop_mean_entropy"])).all()
    assert (df["stop_mean_entropy"] <= math.log(2) + 1e-9).all()
    # round 0 is the same model for both strategies of a seed (paired comparison)
    r0 = df[first].set_index(["seed", "strategy"])["stop_mean_entropy"].unstack()
    assert (r0["bald"] == r0["random"]).all()


def test_trial_check_wants_the_configured_columns(runs: tuple[Path, Path]) -> None:
    plain, stop = runs
    config = config_from_dict({**TINY, "stopping": STOPPING})
    common = {"rounds": 3, "initial_labels": 4, "acquisition_size": 2, "legacy_ok": False}
    digest = config_trial_digest(config, "bald", 0)
    path = trial_path(stop, "bald", 0)
    assert (
        check_trial(path, label="bald", seed=0, config_digest=digest, stopping=True, **common)
        is None
    )
    problem = check_trial(
        path, label="bald", seed=0, config_digest=digest, stopping=False, **common
    )
    assert problem is not None and "stopping-evidence columns" in problem
    plain_digest = config_trial_digest(config_from_dict(TINY), "bald", 0)
    problem = check_trial(
        trial_path(plain, "bald", 0), label="bald", seed=0, config_digest=plain_digest,
        stopping=True, **common,
    )  # fmt: skip
    assert problem is not None and "lacks the stopping-evidence columns" in problem


def test_resume_guard_and_rules_only_change(runs: tuple[Path, Path], tmp_path: Path) -> None:
    plain, stop = runs
    with pytest.raises(ConfigError, match="stopping.stop_set_size"):
        run_experiment(config_from_dict({**TINY, "stopping": STOPPING}), plain, progress=False)
    with pytest.raises(ConfigError, match="stopping.stop_set_size"):
        run_experiment(config_from_dict(TINY), stop, progress=False)
    # New rules alone: nothing is recomputed, the resolved config takes them.
    copy = shutil.copytree(stop, tmp_path / "copy")
    before = {p.name: p.read_bytes() for p in (copy / "trials").iterdir()}
    fewer = {"stop_set_size": 30, "rules": RULES[:1]}
    run_experiment(config_from_dict({**TINY, "stopping": fewer}), copy, progress=False)
    assert {p.name: p.read_bytes() for p in (copy / "trials").iterdir()} == before
    assert (copy / "results.csv").read_bytes() == (stop / "results.csv").read_bytes()
    resolved = yaml.safe_load((copy / "config.resolved.yaml").read_text())
    assert [r["name"] for r in resolved["stopping"]["rules"]] == ["budget"]


# ------------------------------------------------------------------------------ report


def test_report_writes_the_stopping_table(runs: tuple[Path, Path]) -> None:
    plain, stop = runs
    written = {p.name for p in write_report(stop)}
    assert {"stopping.csv", "stopping.md", "stopping.png"} <= written
    assert not {"stopping.csv", "stopping.png"} & {p.name for p in write_report(plain)}
    table = pd.read_csv(stop / "stopping.csv")
    assert tuple(table.columns) == STOPPING_COLUMNS
    assert len(table) == 2 * 2 * len(RULES)
    assert list(table["rule"].unique()) == [
        "budget",
        "stabilizing_predictions",
        "bald_low",
        "accuracy_plateau",
    ]
    budget = table[table["rule"] == "budget"]
    assert (budget["stop_round"] == 2).all() and (budget["labels_at_stop"] == 8).all()
    assert (table["final_labels"] == 10).all()
    df = load_results(stop)
    for _, row in table.iterrows():
        run = df[(df["strategy"] == row["strategy"]) & (df["seed"] == row["seed"])]
        assert row["final_accuracy"] == pytest.approx(run["test_accuracy"].iloc[-1])
        if not pd.isna(row["stop_round"]):
            at = run[run["round"] == row["stop_round"]]
            assert row["accuracy_at_stop"] == pytest.approx(at["test_accuracy"].iloc[0])
            assert row["labels_at_stop"] == at["n_labels"].iloc[0]
        else:
            assert pd.isna(row["labels_at_stop"]) and pd.isna(row["accuracy_at_stop"])
        assert isinstance(row["reason"], str) and row["reason"]
    assert (stop / "figures" / "stopping.png").read_bytes()[:4] == b"\x89PNG"
    assert "| `bald` | `budget` | 2/2 | 8 (s0: 8, s1: 8) |" in (stop / "stopping.md").read_text()
