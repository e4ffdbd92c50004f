"""run_active_learning(task=...) for multi-label and regression: the records carry the
task's metrics (equal to the learner's evaluate), accuracy is NaN, the initial set is
uniform and the same for every strategy of a seed, and mismatches are refused."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from bayesal.data.registry import load_dataset
from bayesal.data.task_dataset import TaskDataset
from bayesal.errors import InvalidInputError
from bayesal.learner import stream_seed
from bayesal.learner.seeds import _INITIAL
from bayesal.loop import TASK_RUNS, run_active_learning
from bayesal.tasks import build_strategy
from bayesal.training import TrainConfig

TRAIN = TrainConfig(epochs=1, min_steps=3)


def _reg_data(n: int = 40) -> TaskDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([1.0, -0.5, 0.2]) + 0.1 * torch.randn(n, generator=g)
    return TaskDataset("toy", x[:30], y[:30], x[30:], y[30:], num_classes=2, task="regression")


def _mean_only(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 1))


def test_a_regression_run_with_a_mean_only_network_records_its_metrics() -> None:
    data = _reg_data()
    records = run_active_learning(
        data,
        build_strategy("regression", "bald"),
        build_model=_mean_only,
        train_config=TRAIN,
        initial_labels=5,
        acquisition_size=3,
        rounds=2,
        seed=0,
        num_samples=4,
        task="regression",
    )
    assert [r.n_labels for r in records] == [5, 8, 11]
    for r in records:
        assert math.isnan(r.test_accuracy) and math.isnan(r.test_nll)
        assert r.metrics is not None and list(r.metrics) == ["rmse", "nll", "coverage_90"]
        assert r.metrics["rmse"] >= 0 and 0 <= r.metrics["coverage_90"] <= 1
    # The initial set: 5 ids drawn uniformly from the seed's initial stream.
    rng = np.random.default_rng(stream_seed(0, _INITIAL))
    expected = np.sort(rng.choice(30, size=5, replace=False))
    acquired = {i for r in records for i in r.acquired_ids}
    assert not acquired & set(expected.tolist())


def test_the_seeds_initial_set_is_the_same_for_every_strategy() -> None:
    data = load_dataset("digits_multilabel")
    small = TaskDataset(
        "small", data.train_x[:60], data.train_y[:60], data.test_x[:20], data.test_y[:20],
        num_classes=4, task="multilabel",
    )  # fmt: skip

    def net(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Dropout(0.2),
                             nn.Linear(8, 4))  # fmt: skip

    runs = {
        name: run_active_learning(
            small,
            build_strategy("multilabel", name),
            build_model=net,
            train_config=TRAIN,
            initial_labels=6,
            acquisition_size=2,
            rounds=1,
            seed=3,
            num_samples=3,
            task="multilabel",
        )  # fmt: skip
        for name in ("random", "bald")
    }
    # Round 0 is trained on the same labels with the same model seed: equal metrics.
    assert runs["random"][0].metrics == runs["bald"][0].metrics
    assert list(runs["bald"][0].metrics or {}) == list(TASK_RUNS["multilabel"].metric_names)


def test_a_task_that_does_not_match_the_dataset_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"task 'multilabel'.*regression dataset"):
        run_active_learning(
            _reg_data(), build_strategy("multilabel", "bald"), build_model=_mean_only,
            train_config=TRAIN, initial_labels=5, acquisition_size=2, rounds=1, seed=0,
            task="multilabel",
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="classification only"):
        run_active_learning(
            _reg_data(), build_strategy("regression", "bald"), build_model=_mean_only,
            train_config=TRAIN, initial_labels=5, acquisition_size=2, rounds=1, seed=0,
            task="regression", stop_set_size=5,
        )  # fmt: skip
