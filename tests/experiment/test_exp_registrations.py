"""Run-time registrations and plugins reach the processes that run trials."""

from __future__ import annotations

import csv
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from bayesal.acquisition import Selection, register_strategy, unregister_strategy
from bayesal.acquisition.registry import STRATEGIES
from bayesal.errors import ConfigError, InvalidInputError
from bayesal.experiment import config_from_dict, run_experiment
from bayesal.experiment.ray_executor import _ray_trial, gpus_per_trial
from bayesal.experiment.registrations import prepare_worker, shippable_registrations
from bayesal.models.registry import MODELS
from bayesal.registry import registry_snapshot

REPO = Path(__file__).resolve().parents[2]

TINY: dict[str, Any] = {
    "name": "tiny_registered",
    "dataset": {"name": "two_moons", "params": {"n_train": 40, "n_test": 20, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 16, "min_steps": 3},
    "strategies": ["first_positions"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 2,
}


class FirstPositions:
    """Acquires the first ``batch_size`` scored ids (the lowest unlabelled ids): a
    fingerprint no built-in strategy leaves. Module level, so that it pickles."""

    name = "first_positions"
    needs_target = False

    def select(
        self,
        log_probs_N_K_C: torch.Tensor,
        batch_size: int,
        *,
        generator: torch.Generator,
        log_probs_target_M_K_C: torch.Tensor | None = None,
    ) -> Selection:
        return Selection(torch.arange(batch_size), torch.zeros(batch_size))


@pytest.fixture
def first_positions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Spawned workers get this sys.path, so they can import this test module by name and
    # unpickle FirstPositions.
    monkeypatch.syspath_prepend(str(REPO))
    register_strategy("first_positions", FirstPositions)
    try:
        yield
    finally:
        unregister_strategy("first_positions")


def _acquired(path: Path) -> dict[tuple[str, int], list[int]]:
    with open(path, newline="") as fh:
        return {
            (row["seed"], int(row["round"])): [int(i) for i in row["acquired_ids"].split()]
            for row in csv.DictReader(fh)
        }


def test_a_strategy_registered_at_run_time_runs_in_local_workers(
    first_positions: None, tmp_path: Path
) -> None:
    run_experiment(config_from_dict(TINY), tmp_path, workers=2, progress=False)
    acquired = _acquired(tmp_path / "results.csv")
    assert sorted(acquired) == [(s, r) for s in ("0", "1") for r in range(3)]
    for (_seed, r), ids in acquired.items():
        if r < 2:
            # the two lowest unlabelled ids: all below 4 initial + 2 per round + 2
            assert ids == sorted(ids) and len(ids) == 2
            assert max(ids) < 4 + 2 * r + 2 + 2
        else:
            assert ids == []


def test_a_ray_task_installs_the_shipped_registrations(first_positions: None) -> None:
    # The body of a Ray task, run here (no Ray needed): the strategy exists only in the
    # shipped registrations, as in a fresh Ray worker.
    config = config_from_dict({**TINY, "seeds": 1, "rounds": 1})
    shipped = shippable_registrations(config)
    assert shipped["strategy"]["first_positions"] is FirstPositions
    unregister_strategy("first_positions")
    threads = torch.get_num_threads()
    try:
        result = _ray_trial(config, "first_positions", 0, 1, shipped)
    finally:
        torch.set_num_threads(threads)
    assert "first_positions" in STRATEGIES  # installed by the task
    assert [len(r.acquired_ids) for r in result.records] == [2, 0]
    assert gpus_per_trial(config) == (1 if torch.cuda.is_available() else 0)


def test_unpicklable_registrations_are_refused_only_when_used(tmp_path: Path) -> None:
    register_strategy("lambda_first", lambda: FirstPositions())
    try:
        unused = config_from_dict({**TINY, "strategies": ["random"]})
        assert "lambda_first" not in shippable_registrations(unused).get("strategy", {})
        used = config_from_dict({**TINY, "strategies": ["lambda_first"]})
        with pytest.raises(InvalidInputError, match="cannot be sent to worker processes"):
            run_experiment(used, tmp_path / "out", workers=2, progress=False)
        assert not (tmp_path / "out").exists()
    finally:
        unregister_strategy("lambda_first")


PLUGIN = """
from bayesal.models.registry import MODELS
from bayesal.models.two_moons import TwoMoonsMLP


def plugin_mlp(hidden: int = 8):
    return TwoMoonsMLP(hidden=hidden)


MODELS.register("plugin_mlp", plugin_mlp, overwrite=True)
"""


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = "bayesal_test_plugin_models"
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / f"{name}.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    try:
        yield name
    finally:
        sys.modules.pop(name, None)
        if "plugin_mlp" in MODELS:
            MODELS.unregister("plugin_mlp")


def test_plugins_are_imported_before_validation(plugin_module: str) -> None:
    raw = {**TINY, "strategies": ["random"], "model": {"name": "plugin_mlp"}}
    with pytest.raises(ConfigError, match="model.name: unknown model 'plugin_mlp'"):
        config_from_dict(raw)
    config = config_from_dict({**raw, "plugins": [plugin_module]})
    assert config.plugins == [plugin_module] and "plugin_mlp" in MODELS


def test_a_worker_imports_the_plugins(plugin_module: str) -> None:
    assert "plugin_mlp" not in MODELS
    prepare_worker([plugin_module], registry_snapshot())
    assert "plugin_mlp" in MODELS


def test_plugin_errors_name_the_module() -> None:
    with pytest.raises(ConfigError, match="plugins: plugin module 'no_such_plugin_mod'"):
        config_from_dict({**TINY, "strategies": ["random"], "plugins": ["no_such_plugin_mod"]})
    with pytest.raises(ConfigError, match="not a module name"):
        config_from_dict({**TINY, "strategies": ["random"], "plugins": ["pkg.mod:factory"]})
