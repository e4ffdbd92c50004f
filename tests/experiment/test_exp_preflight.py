"""Everything checkable is checked before a file is written; a run that fails before
finishing a trial leaves a directory that a corrected config can use."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from click.testing import CliRunner
from torch import nn

from bayesal.cli import main
from bayesal.data.dataset import Dataset
from bayesal.errors import ConfigError, InvalidInputError
from bayesal.experiment import check_budget, config_from_dict, run_experiment
from bayesal.experiment.plugin_errors import PluginError
from bayesal.experiment.runner import TrialRejectedWarning
from bayesal.models.registry import MODELS
from bayesal.models.two_moons import TwoMoonsMLP

TINY: dict[str, Any] = {
    "name": "preflight",
    "dataset": {"name": "two_moons", "params": {"n_train": 30, "n_test": 20, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 16, "min_steps": 3},
    "strategies": ["random"],
    "seeds": 1,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 1,
}


def _cli_run(tmp_path: Path, raw: dict[str, Any], *extra: str) -> Any:
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    return CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--quiet", *extra])


def test_a_typo_in_dataset_params_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    raw = {**TINY, "dataset": {"name": "two_moons", "params": {"nois": 0.2}}}
    result = _cli_run(tmp_path, raw)
    assert result.exit_code == 2
    assert "dataset: dataset 'two_moons' does not accept parameters ['nois']" in result.stderr
    assert "n_train, n_test, noise, seed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_budget_larger_than_the_pool_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    result = _cli_run(tmp_path, TINY, "--rounds", "20")  # 4 + 20 x 2 = 44 > 30
    assert result.exit_code == 2
    assert "= 44 labels, but dataset 'two_moons' has 30 training examples" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_device_exits_2_and_creates_nothing(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = _cli_run(tmp_path, {**TINY, "device": "cuda"})
    assert result.exit_code == 2 and "device: device 'cuda' asked for" in result.stderr
    assert not (tmp_path / "out").exists()


def _dataset(labels: list[int], num_classes: int) -> Dataset:
    n = len(labels)
    return Dataset(
        "toy", torch.zeros(n, 2), torch.tensor(labels), torch.zeros(0, 2), torch.zeros(0).long(),
        num_classes,
    )  # fmt: skip


def test_check_budget() -> None:
    config = config_from_dict(TINY)
    check_budget(config, _dataset([0, 1] * 5, 2))  # 4 + 1 x 2 = 6 <= 10, 2 of each class
    with pytest.raises(InvalidInputError, match="= 6 labels, but dataset"):
        check_budget(config, _dataset([0, 1, 0, 1, 0], 2))
    with pytest.raises(InvalidInputError, match="needs 2 training examples of every class"):
        check_budget(config, _dataset([0] * 9 + [1], 2))
    odd = config_from_dict({**TINY, "initial_labels": 5})  # 2 + 1 at random: 3 of every class
    with pytest.raises(InvalidInputError, match="class 1 has 2"):
        check_budget(odd, _dataset([0] * 8 + [1] * 2, 2))
    subset = config_from_dict({**TINY, "pool_subset": 11})
    with pytest.raises(InvalidInputError, match=r"pool_subset \(11\) exceeds the 10 training"):
        check_budget(subset, _dataset([0, 1] * 5, 2))


class _Flaky(nn.Module):
    """A TwoMoons MLP whose training forward pass fails when ``fail`` (a bug in a user's
    model that the one-input check before the run cannot see)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.net, self.fail = TwoMoonsMLP(hidden=8), fail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail and self.training:
            raise RuntimeError("bug in the user's model")
        return self.net(x)


@pytest.fixture
def flaky_model() -> Iterator[None]:
    MODELS.register("flaky_mlp", _Flaky)
    try:
        yield
    finally:
        MODELS.unregister("flaky_mlp")


@pytest.mark.parametrize("existing", [False, True])
def test_a_run_whose_first_trial_fails_leaves_a_reusable_directory(
    flaky_model: None, tmp_path: Path, existing: bool
) -> None:
    out = tmp_path / "out"
    if existing:
        out.mkdir()
    broken = config_from_dict({**TINY, "model": {"name": "flaky_mlp", "params": {"fail": True}}})
    # Plugin code that raises: one PluginError naming it (bayesal run prints one line).
    with pytest.raises(PluginError, match=r"\.forward \(.*\) raised RuntimeError: bug in the"):
        run_experiment(broken, out, workers=1, progress=False)
    assert out.exists() == existing  # created by the run and empty: removed
    if existing:
        assert list(out.iterdir()) == []  # no config.resolved.yaml to refuse the fix

    fixed = config_from_dict({**TINY, "model": {"name": "flaky_mlp", "params": {"fail": False}}})
    run_experiment(fixed, out, workers=1, progress=False)
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["model"]["params"] == {"fail": False}
    assert (out / "trials" / "random__seed0.csv").is_file()

    # Once a trial is on disk, the directory is guarded as before.
    with pytest.raises(ConfigError, match="differs in: model"):
        run_experiment(broken, out, workers=1, progress=False)


def test_a_guard_without_trials_says_how_to_reuse_the_directory(tmp_path: Path) -> None:
    (tmp_path / "config.resolved.yaml").write_text(config_from_dict(TINY).to_yaml())
    other = config_from_dict({**TINY, "rounds": 2})
    with pytest.raises(ConfigError, match="it holds no finished trial: delete"):
        run_experiment(other, tmp_path, workers=1, progress=False)


def test_a_resolved_config_of_an_older_version_still_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_from_dict(TINY)
    results = run_experiment(config, tmp_path, workers=1, progress=False)
    files = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "trials").rglob("*")}
    table = results.read_bytes()
    old = yaml.safe_load((tmp_path / "config.resolved.yaml").read_text())
    del old["posterior"]["params"], old["device"], old["plugins"]  # fields added later
    (tmp_path / "config.resolved.yaml").write_text(yaml.safe_dump(old))

    # Resumed: the finished trial is taken as it is (no trial runs again, none is
    # rejected and set aside), and results.csv is the same table.
    def no_trial(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a finished trial ran again: {args[2:4]}")

    monkeypatch.setattr("bayesal.experiment.runner.run_trial", no_trial)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrialRejectedWarning)
        assert run_experiment(config, tmp_path, workers=1, progress=False) == results
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "trials").rglob("*")}
    assert files and after == files
    assert results.read_bytes() == table


@pytest.mark.parametrize(
    "params, message",
    [
        ({"in_features": 3}, "does not run on the pool's inputs"),
        ({"num_classes": 3}, "num_classes=2, but the model returns 3 logits"),
    ],
)
def test_a_model_that_does_not_fit_the_data_exits_2_before_anything(
    tmp_path: Path, params: dict[str, int], message: str
) -> None:
    raw = {**TINY, "model": {"name": "two_moons_mlp", "params": {"hidden": 8, **params}}}
    result = _cli_run(tmp_path, raw)
    assert result.exit_code == 2
    assert "model 'two_moons_mlp' on dataset 'two_moons' (2 classes)" in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
