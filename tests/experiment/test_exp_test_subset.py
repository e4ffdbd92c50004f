"""``test_subset``: a fixed random subset of the test set, the same for every trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bayesal.data.registry import load_dataset
from bayesal.errors import ConfigError
from bayesal.experiment import config_from_dict, run_experiment
from bayesal.experiment.runner import load_trial_dataset

BASE: dict[str, Any] = {
    "name": "subset",
    "dataset": {"name": "two_moons", "params": {"n_train": 50, "n_test": 40, "seed": 2}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 16, "min_steps": 5},
    "strategies": ["random"],
    "seeds": 1,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 1,
}


def test_subset_rows_are_a_fixed_ordered_subset_of_the_test_set() -> None:
    full = load_dataset("two_moons", n_train=50, n_test=40, seed=2)
    sub = load_trial_dataset(config_from_dict({**BASE, "test_subset": 10}))
    assert sub.test_x.shape == (10, 2) and sub.test_y.shape == (10,)
    # each kept row is a test row, in the original order, without repeats
    rows = [int(torch.nonzero((full.test_x == x).all(1)).flatten()[0]) for x in sub.test_x]
    assert rows == sorted(set(rows))
    assert torch.equal(full.test_y[rows], sub.test_y)
    assert torch.equal(sub.train_x, full.train_x)  # the pool is untouched
    # the same subset for another config with the same dataset and size (other arms, seeds)
    other = load_trial_dataset(config_from_dict({**BASE, "test_subset": 10, "seeds": 3}))
    assert torch.equal(other.test_x, sub.test_x)
    # a larger subset than the test set is the whole test set
    whole = load_trial_dataset(config_from_dict({**BASE, "test_subset": 1000}))
    assert torch.equal(whole.test_x, full.test_x)


def test_changing_the_subset_is_refused_on_resume(tmp_path: Path) -> None:
    run_experiment(config_from_dict({**BASE, "test_subset": 10}), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="differs in: test_subset"):
        run_experiment(config_from_dict({**BASE, "test_subset": 20}), tmp_path, progress=False)


def test_subset_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="test_subset"):
        config_from_dict({**BASE, "test_subset": 0})
