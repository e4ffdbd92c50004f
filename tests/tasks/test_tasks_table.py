"""The task/strategy table: complete, in step with the strategy registry, and every entry a
score that composes with the acquisition selectors."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest
import torch

from bayesal.acquisition import ScoredStrategy, StochasticSelector, TopKSelector
from bayesal.acquisition.registry import STRATEGIES, get_strategy
from bayesal.errors import InvalidInputError, UnknownStrategyError
from bayesal.tasks import (
    TASK_METRICS,
    TASK_SCORES,
    TASK_STRATEGIES,
    TASKS,
    build_strategy,
    multilabel,
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
        names = TASK_STRATEGIES[task]
        assert len(set(names)) == len(names)
        top_k = {n for n in names if n.split("_", 1)[0] not in ("power", "softmax", "softrank")}
        assert top_k == set(TASK_SCORES[task])
        assert "power_margin" not in names  # margins are never positive
        assert "random" in TASK_STRATEGIES[task] and "bald" in TASK_STRATEGIES[task]
        assert task in TASK_METRICS
    assert strategies_for("regression") == TASK_STRATEGIES["regression"]
    assert tasks_for("bald") == TASKS
    assert tasks_for("epistemic_variance") == ("regression",)
    assert tasks_for("softmax_bald") == TASKS
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


@pytest.mark.parametrize("task", TASKS[1:])
def test_build_strategy_builds_every_listed_name(task: str) -> None:
    output = _outputs()[task]
    for name in TASK_STRATEGIES[task]:
        params = (
            {"temperature": 0.5}
            if "_" in name and name.split("_")[0] in ("power", "softmax", "softrank")
            else {}
        )
        strategy = build_strategy(task, name, **params)
        assert strategy.name == name
        assert pickle.loads(pickle.dumps(strategy)) == strategy
        g = torch.Generator().manual_seed(2)
        picked = strategy.select(output, 4, generator=g).indices_B.tolist()
        assert len(set(picked)) == 4
        again = strategy.select(output, 4, generator=torch.Generator().manual_seed(2))
        assert again.indices_B.tolist() == picked  # the generator is the only randomness


def test_build_strategy_parameters() -> None:
    outputs = _outputs()
    seg = outputs["segmentation"]
    g = torch.Generator().manual_seed(0)
    top_q = build_strategy("segmentation", "bald", reduction="top_q", q=0.2)
    expected = segmentation.bald(seg, "top_q", q=0.2)
    assert torch.equal(
        top_q.select(seg, 9, generator=g).scores_B.sort().values, expected.sort().values
    )
    minimum = build_strategy("multilabel", "softrank_margin", reduction="min", temperature=2.0)
    assert minimum.scorer.fn(outputs["multilabel"]).tolist() == (  # type: ignore[attr-defined]
        multilabel.margin(outputs["multilabel"], reduction="min").tolist()
    )
    assert build_strategy("classification", "softmax_bald", temperature=0.5) == get_strategy(
        "softmax_bald", temperature=0.5
    )
    with pytest.raises(UnknownStrategyError, match="does not apply to task 'regression'"):
        build_strategy("regression", "margin")
    with pytest.raises(UnknownStrategyError, match="power_margin"):
        build_strategy("multilabel", "power_margin")
    with pytest.raises(InvalidInputError, match="takes no parameter.*temperature"):
        build_strategy("regression", "bald", temperature=0.5)
    with pytest.raises(InvalidInputError, match="takes no parameter.*reduction"):
        build_strategy("multilabel", "bald", reduction="min")
    with pytest.raises(InvalidInputError, match="'mean' or 'min'"):
        build_strategy("multilabel", "margin", reduction="top_q")
    with pytest.raises(InvalidInputError, match="q must lie in"):
        build_strategy("segmentation", "entropy", reduction="top_q", q=0)
    with pytest.raises(InvalidInputError, match="temperature"):
        build_strategy("segmentation", "softmax_entropy", temperature=-1.0)
    with pytest.raises(InvalidInputError, match="unknown task"):
        build_strategy("ranking", "bald")
