"""The learner's task seam (:mod:`bayesal.learner.task`): classification is the default
task and behaves as the learner did; another task type plugs in as a class in
``TASK_TYPES`` and the learner's teach / evaluate / metrics / save go through it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import Tensor

from bayesal import ActiveLearner
from bayesal.errors import InvalidInputError
from bayesal.learner import persistence
from bayesal.learner.task import TASK_TYPES, ClassificationTask, Task, get_task

TRAINING = {"epochs": 1, "min_steps": 5, "batch_size": 8}


def _pool() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def _learner(**kwargs: Any) -> ActiveLearner:
    x, y = _pool()
    labels = np.full(len(x), -1)
    labels[:6] = y[:6]
    return ActiveLearner(
        x, model="two_moons_mlp", labels=labels, training=TRAINING, device="cpu", **kwargs
    )


def test_classification_is_the_default_task() -> None:
    learner = _learner()
    assert isinstance(learner.task, ClassificationTask)
    assert learner.task.name == "classification" and set(TASK_TYPES) >= {"classification"}
    assert isinstance(get_task("classification"), ClassificationTask)


def test_an_unknown_task_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="task must be one of 'classification'"):
        _learner(task="detection")


def test_classification_checks_labels_strategies_and_output_as_before() -> None:
    task = ClassificationTask()
    ids = np.arange(3, dtype=np.int64)
    assert task.check_labels(ids, np.array([0.0, 1.0, 2.0]), 3).tolist() == [0, 1, 2]
    with pytest.raises(InvalidInputError, match="integers"):
        task.check_labels(ids, [0.5, 1, 2], 3)
    with pytest.raises(InvalidInputError, match=r"labels must lie in \[0, 2\)"):
        task.check_labels(ids, [0, 1, 2], 2)
    with pytest.raises(InvalidInputError, match="logits"):
        task.output_width(torch.zeros(1, 3, 2), None)
    with pytest.raises(InvalidInputError, match="num_classes=4"):
        task.output_width(torch.zeros(1, 3), 4)
    assert task.empty_metrics().keys() == {"accuracy", "nll"}
    assert task.saved_label_problem(np.array([0, 5]), 3) is not None
    assert task.saved_label_problem(np.array([0, 2]), 3) is None


class _CountingTask(ClassificationTask):
    """A made-up task type: classification with its own metric names, to show that the
    learner reads labels, metrics and summaries from the task only."""

    name: ClassVar[str] = "counting"

    def metrics(self, predictive: Tensor, labels: Tensor) -> dict[str, float]:
        return {"n_test": float(len(labels)), "mean_log_prob": float(predictive.mean())}

    def empty_metrics(self) -> dict[str, float]:
        return {"n_test": 0.0, "mean_log_prob": math.nan}

    def label_counts(self, labels: Any, width: int) -> dict[str, Any]:
        return {"labels_seen": len(labels)}


def test_a_task_type_plugs_in_through_task_types(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(TASK_TYPES, "counting", _CountingTask)
    learner = _learner(task="counting")
    x, y = _pool()
    assert learner.evaluate(x[:5], y[:5])["n_test"] == 5.0
    assert learner.evaluate(x[:0], y[:0])["n_test"] == 0.0
    assert learner.metrics()["labels_seen"] == 6
    learner.save(tmp_path / "counting.pt")
    state = torch.load(tmp_path / "counting.pt", weights_only=False)
    assert state["settings"]["task"] == "counting"
    assert isinstance(ActiveLearner.load(tmp_path / "counting.pt").task, _CountingTask)


def test_a_classification_save_names_no_task(tmp_path: Path) -> None:
    """Files of classification learners stay what older versions wrote and read."""
    _learner().save(tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=False)
    assert "task" not in state["settings"]
    assert state["format"] == persistence.STATE_FORMAT == 1


def test_every_task_type_implements_the_whole_seam() -> None:
    seam = [name for name, value in vars(Task).items() if callable(value)]
    assert len(seam) >= 7
    for task_type in TASK_TYPES.values():
        missing = [m for m in seam if getattr(task_type, m) is getattr(Task, m)]
        assert not missing, (task_type.name, missing)
