"""Config validation: field paths in messages, strategy arms, overrides, file errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bayesal.errors import ConfigError, DataNotFoundError
from bayesal.experiment.config import (
    MAX_EXAMPLES,
    MAX_MEMBERS,
    MAX_NUM_SAMPLES,
    MAX_ROUNDS,
    MAX_SEED,
    MAX_SEEDS,
    ConfigNote,
    ExperimentConfig,
    config_from_dict,
    load_config,
)

SHIPPED = Path(__file__).parents[2] / "configs"

BASE: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "two_moons", "params": {"n_train": 100, "n_test": 50}},
    "model": {"name": "two_moons_mlp"},
    "strategies": [
        "random",
        {"name": "bald", "label": "bald_ens", "posterior": {"name": "ensemble", "members": 3}},
    ],
    "compares_posteriors": True,
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
        (
            {"training": {"optimiser": "adam"}},
            "training.optimiser: unknown key (did you mean 'optimizer'?)",
        ),
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
        ({"model": {"name": "resnet"}}, "model.name: unknown model 'resnet'"),
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
        ({"snapshots": {"rounds": [1], "seeds": [7]}}, "snapshots.seeds [7] are not among seeds"),
        ({"learning_rate": 1}, "learning_rate: unknown key"),
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
    raw = {k: v for k, v in BASE.items() if k != "dataset"}
    assert "dataset: Field required" in _error(raw)
    # model: may be left out only for posteriors that train no network (forest).
    raw = {k: v for k, v in BASE.items() if k != "model"}
    assert "model: is required: the posterior of arm(s) random (mc_dropout)" in _error(raw)


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
    with pytest.raises(ConfigError, match=f"invalid config {bad}: malformed YAML at line"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listy)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(BASE))
    assert load_config(good, {"rounds": 2}).rounds == 2


def test_shipped_two_moons_config_is_valid() -> None:
    cfg = load_config(SHIPPED / "two_moons.yaml")
    labels = [s.label for s in cfg.strategies]
    assert {"random", "margin", "entropy", "bald", "bald_ensemble"} <= set(labels)
    assert cfg.posterior_for(cfg.strategy("bald_ensemble")).name == "ensemble"
    assert cfg.posterior_for(cfg.strategy("bald")).name == "mc_dropout"
    assert len(cfg.seeds) >= 5
    assert cfg.snapshots is not None and 0 in cfg.snapshots.seeds


def test_a_directory_given_as_config_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"config {tmp_path} is a directory, not a config file"):
        load_config(tmp_path)


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"invalid config {path}: not UTF-8 text"):
        load_config(path)


# ------------------------------------------------------------- snapshot rounds vs rounds


def test_snapshot_rounds_beyond_rounds_are_dropped_with_a_note() -> None:
    # (This replaces the old expectation that such a config is an error.)
    raw = _with(snapshots={"rounds": [0, 2, 50], "seeds": [0]})
    with pytest.warns(ConfigNote, match=r"snapshots.rounds \[50\] exceed rounds \(4\): dropped"):
        cfg = config_from_dict(raw, {"rounds": 4})
    assert cfg.snapshots is not None and cfg.snapshots.rounds == [0, 2]
    # The resolved config holds what runs, and validates again without a note.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ExperimentConfig.model_validate(yaml.safe_load(cfg.to_yaml())) == cfg
    # Every snapshot round beyond: no snapshots at all.
    with pytest.warns(ConfigNote, match=r"\[2, 50\] exceed rounds \(1\): dropped, no snapshots"):
        cfg = config_from_dict(_with(snapshots={"rounds": [2, 50]}), {"rounds": 1})
    assert cfg.snapshots is None
    # Snapshot seeds are still checked.
    with pytest.raises(ConfigError, match=r"snapshots.seeds \[7\] are not among seeds"):
        config_from_dict(_with(snapshots={"rounds": [50], "seeds": [7]}), {"rounds": 4})


@pytest.mark.parametrize(
    "overrides, kept",
    [
        ({"rounds": 3}, [0, 2]),  # `bayesal run configs/two_moons.yaml --rounds 3` (docs)
        ({"seeds": 2, "rounds": 5}, [0, 2, 5]),  # the load_config example of docs/usage.md
    ],
)
def test_documented_rounds_overrides_of_the_shipped_config_work(
    overrides: dict[str, Any], kept: list[int]
) -> None:
    with pytest.warns(ConfigNote, match="exceed rounds"):
        cfg = load_config(SHIPPED / "two_moons.yaml", overrides)
    assert cfg.rounds == overrides["rounds"]
    assert cfg.snapshots is not None and cfg.snapshots.rounds == kept


# ------------------------------------------------------------------ non-finite numbers


@pytest.mark.parametrize(
    "changes, where",
    [
        (
            {"dataset": {"name": "two_moons", "params": {"n_train": 100, "noise": float("nan")}}},
            "dataset.params.noise: nan",
        ),
        (
            {"model": {"name": "two_moons_mlp", "params": {"p": float("inf")}}},
            "model.params.p: inf",
        ),
        (
            {"posterior": {"name": "mc_dropout", "params": {"x": float("-inf")}}},
            "posterior.params.x: -inf",
        ),
        (
            {"strategies": ["random", {"name": "bald", "params": {"a": [1.0, float("nan")]}}]},
            "strategies[1].params.a[1]: nan",
        ),
        (
            {
                "strategies": [
                    {"name": "bald", "posterior": {"name": "ensemble", "params": {"t": np.inf}}}
                ]
            },
            "strategies[0].posterior.params.t: inf",
        ),
        ({"training": {"lr": float("inf")}}, "training.lr: inf"),
        ({"training": {"weight_decay": float("nan")}}, "training.weight_decay: nan"),
        ({"description": float("nan")}, "description: nan"),
    ],
)
def test_nan_and_infinity_are_refused_anywhere_with_the_field_path(
    changes: dict[str, Any], where: str
) -> None:
    message = _error(_with(**changes))
    assert f"{where} is not a finite number" in message


def test_yaml_nan_in_dataset_params_is_refused(tmp_path: Path) -> None:
    # `noise: .nan` used to pass, be written to the resolved config as null and crash a
    # worker with a TypeError.
    path = tmp_path / "cfg.yaml"
    path.write_text(
        yaml.safe_dump(_with(dataset={"name": "two_moons", "params": {"noise": 0.2}})).replace(
            "noise: 0.2", "noise: .nan"
        )
    )
    with pytest.raises(ConfigError, match=r"dataset.params.noise: nan is not a finite number"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"training.lr: inf is not a finite number"):
        load_config(path, {"dataset.params.noise": 0.2, "training.lr": float("inf")})


# ------------------------------------------------------------------------------ bounds


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"training": {"epochs": 10**23}}, "training.epochs: Input should be less than or equal"),
        ({"training": {"epochs": 1e23}}, "training.epochs: must be a whole number"),
        ({"training": {"epochs": 50.0}}, "training.epochs: must be a whole number"),
        ({"training": {"min_steps": 10**8}}, "training.min_steps: Input should be less than"),
        ({"training": {"batch_size": 10**7}}, "training.batch_size: Input should be less than"),
        ({"rounds": MAX_ROUNDS + 1}, "rounds: Input should be less than or equal to 100000"),
        ({"rounds": 3.0}, "rounds: must be a whole number (an int), got float 3.0"),
        ({"rounds": True}, "rounds: must be a whole number (an int), got bool True"),
        ({"initial_labels": MAX_EXAMPLES + 1}, "initial_labels: Input should be less than"),
        ({"acquisition_size": MAX_EXAMPLES + 1}, "acquisition_size: Input should be less than"),
        ({"pool_subset": MAX_EXAMPLES + 1}, "pool_subset: Input should be less than"),
        ({"test_subset": MAX_EXAMPLES + 1}, "test_subset: Input should be less than"),
        ({"num_target_samples": 1e12}, "num_target_samples: must be a whole number"),
        ({"num_target_samples": MAX_EXAMPLES + 1}, "num_target_samples: Input should be less"),
        ({"chunk_size": MAX_EXAMPLES + 1}, "chunk_size: Input should be less than"),
        ({"chunk_size": 4096.0}, "chunk_size: must be a whole number"),
        ({"seeds": MAX_SEEDS + 1}, f"seeds: a seed count must be <= {MAX_SEEDS}"),
        ({"seeds": [0, MAX_SEED + 1]}, "seeds[1]: Input should be less than or equal"),
        (
            {"posterior": {"name": "mc_dropout", "num_samples": MAX_NUM_SAMPLES + 1}},
            "posterior.num_samples: Input should be less than or equal",
        ),
        (
            {"posterior": {"name": "mc_dropout", "params": {"num_samples": 10**9}}},
            f"posterior: params.num_samples must be between 1 and {MAX_NUM_SAMPLES}",
        ),
        (
            {"posterior": {"name": "mc_dropout", "params": {"num_samples": 20.0}}},
            "posterior: params.num_samples must be a whole number",
        ),
        (
            {"posterior": {"name": "ensemble", "members": MAX_MEMBERS + 1}},
            "posterior.members: Input should be less than or equal",
        ),
        (
            {"strategies": [{"name": "bald", "posterior": {"name": "ensemble", "members": 3.0}}]},
            "strategies[0].posterior.members: must be a whole number",
        ),
        ({"snapshots": {"rounds": [0], "resolution": 80.0}}, "snapshots.resolution: must be a"),
        ({"snapshots": {"rounds": [MAX_ROUNDS + 1]}}, "snapshots.rounds[0]: Input should be less"),
    ],
)
def test_absurd_numbers_are_refused(changes: dict[str, Any], expected: str) -> None:
    assert expected in _error(_with(**changes))


def test_bounds_are_generous() -> None:
    cfg = config_from_dict(
        _with(
            training={"epochs": 100_000, "min_steps": 10_000_000, "batch_size": 1_000_000},
            seeds=[0, MAX_SEED],
            rounds=MAX_ROUNDS,
            initial_labels=MAX_EXAMPLES,
            chunk_size=MAX_EXAMPLES,
            posterior={"name": "mc_dropout", "num_samples": MAX_NUM_SAMPLES},
        )
    )
    assert cfg.training.epochs == 100_000 and cfg.rounds == MAX_ROUNDS
    # numpy ints and digit strings are whole numbers too
    cfg = config_from_dict(BASE, {"rounds": np.int64(3), "seeds": np.int64(2), "chunk_size": "64"})
    assert (cfg.rounds, cfg.seeds, cfg.chunk_size) == (3, [0, 1], 64)


def test_a_key_given_twice_in_a_config_file_is_refused_naming_the_key_and_both_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "twice.yaml"
    text = "rounds: 3\n" + yaml.safe_dump(BASE, sort_keys=False) + "rounds: 2\n"
    path.write_text(text)
    last = len(text.splitlines())
    with pytest.raises(ConfigError, match=f"duplicate key 'rounds': line 1 and line {last}"):
        load_config(path)


def test_a_key_given_twice_inside_a_section_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    raw = {k: v for k, v in BASE.items() if k != "training"}
    path.write_text(yaml.safe_dump(raw) + "training:\n  lr: 0.1\n  epochs: 2\n  lr: 0.5\n")
    with pytest.raises(ConfigError, match="duplicate key 'lr'"):
        load_config(path)


def test_a_python_tag_in_a_config_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "tag.yaml"
    path.write_text(yaml.safe_dump(BASE) + "description: !!python/name:os.system ''\n")
    with pytest.raises(ConfigError, match="no !!python tags"):
        load_config(path)


def test_an_arm_with_its_own_posterior_needs_compares_posteriors() -> None:
    raw = {key: value for key, value in BASE.items() if key != "compares_posteriors"}
    with pytest.raises(ConfigError, match="bald_ens override the posterior"):
        config_from_dict(raw)
    assert (
        "compares_posteriors" not in config_from_dict({**raw, "strategies": ["random"]}).to_yaml()
    )
    assert "compares_posteriors: true" in config_from_dict(BASE).to_yaml()
