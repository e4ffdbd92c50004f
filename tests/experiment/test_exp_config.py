"""Config validation: field paths in messages, strategy arms, overrides, file errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bayesal.errors import ConfigError, DataNotFoundError
from bayesal.experiment.config import ExperimentConfig, config_from_dict, load_config

BASE: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "two_moons", "params": {"n_train": 100, "n_test": 50}},
    "model": {"name": "two_moons_mlp"},
    "strategies": [
        "random",
        {"name": "bald", "label": "bald_ens", "posterior": {"name": "ensemble", "members": 3}},
    ],
    "seeds": 2,
}


def _with(**changes: Any) -> dict[str, Any]:
    raw = {**BASE}
    raw.update(changes)
    return raw


def _error(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, source="cfg.yaml")
    return str(info.value)


def test_valid_config_fills_defaults() -> None:
    cfg = config_from_dict(BASE)
    assert cfg.seeds == [0, 1]
    assert [s.label for s in cfg.strategies] == ["random", "bald_ens"]
    assert cfg.posterior.name == "mc_dropout" and cfg.posterior.k == 20
    assert cfg.posterior_for(cfg.strategies[1]).k == 3
    assert cfg.trials() == [("random", 0), ("random", 1), ("bald_ens", 0), ("bald_ens", 1)]


def test_resolved_yaml_round_trips() -> None:
    cfg = config_from_dict(BASE)
    again = ExperimentConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"training": {"lr": 0}}, "training.lr: Input should be greater than 0"),
        ({"training": {"optimiser": "adam"}}, "training.optimiser: Extra inputs are not permitted"),
        ({"rounds": -1}, "rounds: Input should be greater than or equal to 0"),
        ({"seeds": [0, 0]}, "seeds: seeds must be distinct"),
        (
            {"strategies": ["random", "balt"]},
            "strategies[1].name: unknown acquisition strategy 'balt'",
        ),
        ({"strategies": ["bald", "bald"]}, "strategies: strategy labels must be unique"),
        (
            {"strategies": [{"name": "bald", "params": {"beta": 2}}]},
            "strategies[0]: strategy 'bald'",
        ),
        ({"strategies": [{"name": "bald", "label": "a/b"}]}, "strategies[0]: label 'a/b'"),
        ({"dataset": {"name": "moons"}}, "dataset.name: unknown dataset 'moons'"),
        (
            {"dataset": {"name": "two_moons", "params": {"nois": 0.2}}},
            "dataset: dataset 'two_moons' does not accept parameters ['nois']",
        ),
        ({"dataset": {"name": "mypkg_nope.data:load"}}, "dataset.name: dataset 'mypkg_nope"),
        ({"model": {"name": "mlp"}}, "model.name: unknown model 'mlp'"),
        ({"posterior": {"name": "laplce"}}, "posterior.name: unknown posterior 'laplce'"),
        (
            {"posterior": {"name": "mc_dropout", "params": {"temperature": 2}}},
            "posterior: posterior 'mc_dropout' does not accept parameters",
        ),
        (
            {"posterior": {"name": "mc_dropout", "num_samples": 3, "params": {"num_samples": 4}}},
            "posterior: num_samples is given twice",
        ),
        ({"posterior": {"name": "mc_dropout", "members": 3}}, "posterior: members applies"),
        ({"device": "gpu"}, "device: unknown device 'gpu'"),
        ({"plugins": ["no_such_bal_plugin"]}, "plugins: plugin module 'no_such_bal_plugin'"),
        (
            {"model": {"name": "two_moons_mlp", "params": {"width": 3}}},
            "model: model 'two_moons_mlp'",
        ),
        ({"posterior": {"name": "ensemble", "num_samples": 3}}, "posterior: an ensemble uses"),
        ({"pool_subset": 3, "acquisition_size": 5}, "pool_subset (3) must be >= acquisition_size"),
        ({"snapshots": {"rounds": [50]}, "rounds": 4}, "snapshots.rounds [50] exceed rounds"),
        ({"snapshots": {"rounds": [1], "seeds": [7]}}, "snapshots.seeds [7] are not among seeds"),
        ({"learning_rate": 1}, "learning_rate: Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_field_and_the_file(changes: dict[str, Any], expected: str) -> None:
    message = _error(_with(**changes))
    assert message.startswith("invalid config cfg.yaml: ")
    assert expected in message


def test_a_typo_in_dataset_params_names_the_accepted_ones() -> None:
    message = _error(_with(dataset={"name": "two_moons", "params": {"nois": 0.2}}))
    assert "its parameters are n_train, n_test, noise, seed" in message


def test_names_may_be_import_paths() -> None:
    cfg = config_from_dict(
        _with(
            dataset={"name": "bayesal.data.two_moons:load_two_moons", "params": {"n_train": 30}},
            model={"name": "bayesal.models.two_moons:TwoMoonsMLP", "params": {"hidden": 4}},
            posterior={"name": "bayesal.posterior.methods:EnsembleMethod", "members": 2},
            strategies=[
                "bayesal.acquisition.batchbald:BatchBALDStrategy",
                {"name": "bayesal.acquisition.batchbald:BatchBALDStrategy", "label": "bb2"},
            ],
        )
    )
    assert [s.label for s in cfg.strategies] == ["BatchBALDStrategy", "bb2"]
    assert cfg.posterior.k == 2 and cfg.posterior.build().num_models == 2


def test_posterior_build_and_params() -> None:
    cfg = config_from_dict(BASE)
    method = cfg.posterior.build()
    assert (method.name, method.num_samples, method.num_models) == ("mc_dropout", 20, 1)
    arm = cfg.posterior_for(cfg.strategies[1])
    assert arm.members == 3 and arm.build().num_models == 3
    cfg = config_from_dict(_with(posterior={"name": "mc_dropout", "params": {"num_samples": 7}}))
    assert cfg.posterior.k == 7 and cfg.posterior.num_samples is None
    again = ExperimentConfig.model_validate(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert cfg.device == "auto" and cfg.plugins == []


def test_missing_required_field() -> None:
    raw = {k: v for k, v in BASE.items() if k != "model"}
    assert "model: Field required" in _error(raw)


def test_overrides_are_validated_and_can_pick_arms_by_label() -> None:
    cfg = config_from_dict(BASE, {"seeds": 1, "rounds": 3, "strategies": ["bald_ens", "margin"]})
    assert cfg.seeds == [0] and cfg.rounds == 3
    assert [(s.label, s.name) for s in cfg.strategies] == [
        ("bald_ens", "bald"),
        ("margin", "margin"),
    ]
    assert cfg.strategies[0].posterior is not None and cfg.strategies[0].posterior.members == 3
    cfg = config_from_dict(BASE, {"training.lr": 0.5})
    assert cfg.training.lr == 0.5
    with pytest.raises(ConfigError, match="seeds: a seed count must be >= 1"):
        config_from_dict(BASE, {"seeds": 0})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="nope.yaml does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=f"invalid config {bad}: not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listy)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert load_config(good, {"rounds": 2}).rounds == 2


def test_shipped_two_moons_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "configs" / "two_moons.yaml")
    labels = [s.label for s in cfg.strategies]
    assert {"random", "margin", "entropy", "bald", "bald_ensemble"} <= set(labels)
    assert cfg.posterior_for(cfg.strategy("bald_ensemble")).name == "ensemble"
    assert cfg.posterior_for(cfg.strategy("bald")).name == "mc_dropout"
    assert len(cfg.seeds) >= 5
    assert cfg.snapshots is not None and 0 in cfg.snapshots.seeds
