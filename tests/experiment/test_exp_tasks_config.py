"""``task:`` in an experiment config: validation against the task table, what it refuses,
and that a classification config dumps and digests exactly as before ``task:`` existed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from bayesal.errors import ConfigError, InvalidInputError
from bayesal.experiment import config_from_dict
from bayesal.experiment.config import CONFIG_TASKS
from bayesal.experiment.trial import check_budget, config_trial_digest, load_trial_dataset
from bayesal.loop import TASK_RUNS
from bayesal.tasks import TASK_STRATEGIES

REGRESSION: dict[str, Any] = {
    "name": "tiny_reg",
    "task": "regression",
    "dataset": {"name": "diabetes"},
    "model": {"name": "mlp", "params": {"in_features": 10, "num_classes": 2, "hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 4},
    "strategies": ["random", "bald", "predictive_variance"],
    "seeds": 2,
    "initial_labels": 6,
    "acquisition_size": 2,
    "rounds": 2,
    "device": "cpu",
}
MULTILABEL: dict[str, Any] = {
    **REGRESSION,
    "name": "tiny_ml",
    "task": "multilabel",
    "dataset": {"name": "digits_multilabel"},
    "model": {"name": "mlp", "params": {"in_features": 64, "num_classes": 4, "hidden": 8}},
    "strategies": [
        "random",
        "bald",
        {"name": "margin", "label": "margin_min", "params": {"reduction": "min"}},
    ],
}
CLASSIFICATION: dict[str, Any] = {
    **REGRESSION,
    "name": "tiny_wine",
    "dataset": {"name": "wine"},
    "model": {"name": "mlp", "params": {"in_features": 13, "num_classes": 3, "hidden": 8}},
    "strategies": ["random", "bald"],
}
del CLASSIFICATION["task"]


def test_config_tasks_are_classification_and_the_tasks_the_loop_runs() -> None:
    assert CONFIG_TASKS == ("classification", *TASK_RUNS)


def test_task_classification_given_or_left_out_dumps_and_digests_the_same() -> None:
    left_out = config_from_dict(CLASSIFICATION)
    given = config_from_dict({**CLASSIFICATION, "task": "classification"})
    assert "task" not in yaml.safe_load(left_out.to_yaml())
    assert given.to_yaml() == left_out.to_yaml()
    assert config_trial_digest(given, "bald", 0) == config_trial_digest(left_out, "bald", 0)


def test_a_regression_config_dumps_its_task_and_round_trips() -> None:
    cfg = config_from_dict(REGRESSION)
    dumped = yaml.safe_load(cfg.to_yaml())
    assert dumped["task"] == "regression"
    assert config_from_dict(dumped).model_dump() == cfg.model_dump()


def test_the_task_enters_the_trial_digest() -> None:
    arms = {"strategies": ["random", "bald"]}
    reg = config_from_dict({**REGRESSION, **arms})
    # The same arms and fields under another task digest differently.
    as_ml = config_from_dict({**REGRESSION, **arms, "task": "multilabel"})
    assert config_trial_digest(reg, "bald", 0) != config_trial_digest(as_ml, "bald", 0)


def test_an_unknown_task_is_refused_naming_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"task: .*'classification', 'multilabel', 'regression' or 'segmentation'",
    ):
        config_from_dict({**REGRESSION, "task": "ranking"})


def test_a_strategy_of_another_task_is_refused_naming_the_task_strategies() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({**REGRESSION, "strategies": ["random", "margin"]})
    message = str(err.value)
    assert "strategies.1.name" in message or "strategies[1].name" in message
    assert "strategy 'margin' does not apply to task 'regression'" in message
    for name in ("predictive_variance", "epistemic_variance", "bald"):
        assert name in message


def test_a_classification_only_strategy_is_refused_for_multilabel() -> None:
    with pytest.raises(ConfigError, match=r"'batchbald' does not apply to task 'multilabel'"):
        config_from_dict({**MULTILABEL, "strategies": ["random", "batchbald"]})


def test_a_task_strategy_is_refused_for_classification_as_unknown() -> None:
    with pytest.raises(ConfigError, match=r"predictive_variance"):
        config_from_dict({**CLASSIFICATION, "strategies": ["random", "predictive_variance"]})


def test_every_strategy_of_the_task_table_is_accepted() -> None:
    for task, base in (("regression", REGRESSION), ("multilabel", MULTILABEL)):
        cfg = config_from_dict({**base, "strategies": list(TASK_STRATEGIES[task])})
        assert [s.label for s in cfg.strategies] == list(TASK_STRATEGIES[task])
        for spec in cfg.strategies:
            assert cfg.build_strategy(spec).name  # built by the task table


def test_task_strategy_params_are_checked_by_the_task_table() -> None:
    cfg = config_from_dict(MULTILABEL)
    assert cfg.strategy("margin_min").params == {"reduction": "min"}
    bad = {"name": "margin", "params": {"bogus": 1}}
    with pytest.raises(ConfigError, match=r"strategies\[1\]: .*'margin'.*bogus"):
        config_from_dict({**MULTILABEL, "strategies": ["random", bad]})


def test_a_classification_only_posterior_is_refused_for_a_task() -> None:
    raw = {**MULTILABEL, "posterior": {"name": "forest"}}
    del raw["model"]
    with pytest.raises(
        ConfigError, match=r"supports classification and regression only.*mc_dropout or ensemble"
    ):
        config_from_dict(raw)
    raw = {**REGRESSION, "posterior": {"name": "laplace"}}
    with pytest.raises(
        ConfigError, match=r"supports classification only.*mc_dropout or ensemble or forest"
    ):
        config_from_dict(raw)


def test_a_regression_forest_config_needs_no_model() -> None:
    raw = {**REGRESSION, "posterior": {"name": "forest", "params": {"n_estimators": 10}}}
    del raw["model"]
    cfg = config_from_dict(raw)
    assert cfg.model is None and cfg.posterior.name == "forest"


@pytest.mark.parametrize(
    ("section", "value", "word"),
    [
        ("stopping", {"stop_set_size": 10}, "stopping"),
        ("snapshots", {"rounds": [1]}, "snapshots"),
    ],
)
def test_classification_only_sections_are_refused_for_a_task(
    section: str, value: Any, word: str
) -> None:
    with pytest.raises(ConfigError, match=rf"task 'regression' does not take {word}"):
        config_from_dict({**REGRESSION, section: value})


def test_a_dataset_of_another_task_is_refused_before_the_run() -> None:
    cfg = config_from_dict(
        {
            **REGRESSION,
            "dataset": {"name": "wine"},
            "model": {"name": "mlp", "params": {"in_features": 13, "num_classes": 2}},
        }
    )
    with pytest.raises(
        InvalidInputError, match=r"task is 'regression'.*'wine' is a classification"
    ):
        check_budget(cfg, load_trial_dataset(cfg))


def test_the_yaml_example_of_docs_tasks_is_a_valid_config_and_the_shipped_one() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs" / "tasks.md").read_text(encoding="utf-8")
    section = text.split("## In a study (YAML)", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    cfg = config_from_dict(yaml.safe_load(block))
    assert cfg.task == "regression"
    shipped = config_from_dict(
        yaml.safe_load((root / "configs" / "diabetes_regression.yaml").read_text())
    )
    assert cfg.model_dump(exclude={"description"}) == shipped.model_dump(exclude={"description"})
