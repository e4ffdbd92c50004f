"""The task/strategy table: complete, in step with the strategy registry, and every entry a
score that composes with the acquisition selectors."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import torch

from bayesal.acquisition import ScoredStrategy, StochasticSelector, TopKSelector
from bayesal.acquisition.registry import STRATEGIES
from bayesal.errors import InvalidInputError
from bayesal.tasks import (
    TASK_METRICS,
    TASK_SCORES,
    TASK_STRATEGIES,
    TASKS,
    regression,
    segmentation,
    strategies_for,
    tasks_for,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "bayesal" / "tasks"


def _outputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "multilabel": torch.nn.functional.logsigmoid(torch.randn(9, 4, 3, generator=g)),
        "regression": torch.randn(9, 4, 2, generator=g),
        "segmentation": torch.log_softmax(torch.randn(9, 4, 3, 5, 5, generator=g), dim=2),
    }


def test_classification_lists_the_registry_builtins() -> None:
    builtin = set(STRATEGIES.names()) - set(STRATEGIES.user_entries())
    classification = TASK_STRATEGIES["classification"]
    assert len(set(classification)) == len(classification)
    assert set(classification) == builtin


def test_every_task_has_its_scores_and_metrics() -> None:
    assert tuple(TASK_STRATEGIES) == TASKS
    for task in TASKS[1:]:
        assert set(TASK_SCORES[task]) == set(TASK_STRATEGIES[task])
        assert "random" in TASK_STRATEGIES[task] and "bald" in TASK_STRATEGIES[task]
        assert task in TASK_METRICS
    assert strategies_for("regression") == TASK_STRATEGIES["regression"]
    assert tasks_for("bald") == TASKS
    assert tasks_for("epistemic_variance") == ("regression",)
    assert tasks_for("my_plugin") == ()
    with pytest.raises(InvalidInputError, match="unknown task 'ranking'"):
        strategies_for("ranking")


@pytest.mark.parametrize("task", TASKS[1:])
def test_scores_compose_with_the_selectors_and_pickle(task: str) -> None:
    output = _outputs()[task]
    for name, score in TASK_SCORES[task].items():
        assert pickle.loads(pickle.dumps(score)) is not None
        for selector in (TopKSelector(), StochasticSelector("softmax", 1.0)):
            strategy = ScoredStrategy(name, score, selector)
            selection = strategy.select(output, 3, generator=torch.Generator().manual_seed(1))
            picked = selection.indices_B.tolist()
            assert len(set(picked)) == 3 and all(0 <= i < 9 for i in picked)
            if isinstance(selector, TopKSelector) and name != "random":
                scores = score(output)
                assert torch.equal(selection.scores_B, scores[selection.indices_B])
                assert float(selection.scores_B.min()) >= float(scores.topk(3).values[-1])


def test_regression_entries_read_mean_and_log_variance() -> None:
    output = _outputs()["regression"]
    mean, var = output[..., 0], output[..., 1].exp()
    scores = TASK_SCORES["regression"]
    assert torch.equal(scores["bald"](output), regression.gaussian_mutual_information(mean, var))
    assert torch.equal(
        scores["epistemic_variance"](output), regression.epistemic_variance(mean, var)
    )
    assert torch.equal(
        scores["predictive_variance"](output), regression.predictive_variance(mean, var)
    )
    assert torch.equal(
        scores["random"](output, generator=3), regression.random(mean, var, generator=3)
    )
    y = torch.zeros(9)
    assert TASK_METRICS["regression"](y, output) == regression.metrics(y, mean, var)


def test_segmentation_entries_reduce_by_the_mean() -> None:
    output = _outputs()["segmentation"]
    assert torch.equal(TASK_SCORES["segmentation"]["bald"](output), segmentation.bald(output))


def test_the_package_imports_only_errors_acquisition_and_itself() -> None:
    allowed = ("bayesal.errors", "bayesal.acquisition", "bayesal.tasks")
    for path in SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("bayesal")
            ):
                assert node.module.startswith(allowed), (path.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("bayesal"), (path.name, alias.name)
