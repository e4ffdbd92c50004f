"""Tabular studies: configs without a model (forest posterior), the wine dataset, and
a tiny experiment run end to end."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import yaml

from bayesal.errors import ConfigError
from bayesal.experiment import config_from_dict, run_experiment
from bayesal.experiment.config import load_config

SHIPPED = Path(__file__).parents[2] / "configs"

FOREST: dict[str, Any] = {
    "name": "tiny_wine",
    "dataset": {"name": "wine"},
    "posterior": {"name": "forest", "params": {"n_estimators": 10}},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 6,
    "acquisition_size": 1,
    "rounds": 3,
    "device": "cpu",
}


def test_a_forest_config_needs_no_model_and_round_trips() -> None:
    cfg = config_from_dict(FOREST)
    assert cfg.model is None
    dumped = yaml.safe_load(cfg.to_yaml())
    assert "model" not in dumped
    assert config_from_dict(dumped).model_dump() == cfg.model_dump()


def test_a_network_posterior_without_model_is_refused() -> None:
    raw = {**FOREST, "posterior": {"name": "mc_dropout"}}
    with pytest.raises(ConfigError, match=r"model: is required.*random \(mc_dropout\)"):
        config_from_dict(raw)
    # One arm with a network posterior is enough to need a model.
    raw = {
        **FOREST,
        "compares_posteriors": True,
        "strategies": ["random", {"name": "bald", "posterior": {"name": "ensemble"}}],
    }
    with pytest.raises(ConfigError, match=r"arm\(s\) bald \(ensemble\)"):
        config_from_dict(raw)


def test_mixed_arms_forest_and_mlp() -> None:
    raw = {
        **FOREST,
        "model": {"name": "mlp", "params": {"in_features": 13, "num_classes": 3, "hidden": 8}},
        "posterior": {"name": "mc_dropout", "num_samples": 4},
        "compares_posteriors": True,
        "strategies": [
            "random",
            {
                "name": "bald",
                "label": "bald_forest",
                "posterior": {"name": "forest", "params": {"n_estimators": 5}},
            },
        ],
    }
    cfg = config_from_dict(raw)
    assert cfg.posterior_for(cfg.strategies[1]).build().needs_model is False


@pytest.mark.parametrize("name", ["wine_forest.yaml", "wine_mlp.yaml"])
def test_shipped_wine_configs_validate(name: str) -> None:
    cfg = load_config(SHIPPED / name)
    assert [s.label for s in cfg.strategies] == ["random", "margin", "bald"]
    assert len(cfg.seeds) == 10 and cfg.initial_labels == 20 and cfg.acquisition_size == 1


def test_tiny_forest_study_on_wine(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_experiment(config_from_dict(FOREST), out, workers=1, progress=False)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 4
    assert [int(r["n_labels"]) for r in rows[:4]] == [6, 7, 8, 9]
    accuracies = [float(r["test_accuracy"]) for r in rows]
    assert min(accuracies) > 0.5  # wine is easy: 6 labels and 10 trees already do well
    assert "model" not in yaml.safe_load((out / "config.resolved.yaml").read_text())
    # Resuming the finished grid redoes nothing and gives the same table.
    before = (out / "results.csv").read_text()
    run_experiment(config_from_dict(FOREST), out, workers=1, progress=False)
    assert (out / "results.csv").read_text() == before
