"""The bayesal command line, through click's CliRunner."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bayesal.acquisition import available_strategies
from bayesal.cli import main
from bayesal.registry import import_object

CONFIG = {
    "name": "cli",
    "dataset": {"name": "two_moons", "params": {"n_train": 50, "n_test": 30}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 8}},
    "posterior": {"name": "mc_dropout", "num_samples": 3},
    "training": {"epochs": 1, "min_steps": 5},
    "strategies": ["random", "bald", "margin"],
    "seeds": 3,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 5,
    "snapshots": {"rounds": [0, 1], "resolution": 8, "seeds": [0]},
}


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_strategies_of_a_task_are_the_task_tables() -> None:
    from bayesal.tasks.table import TASKS, strategies_for

    for task in TASKS:
        result = CliRunner().invoke(main, ["strategies", "--task", task])
        assert result.exit_code == 0, result.output
        expected = available_strategies() if task == "classification" else strategies_for(task)
        assert result.output.split() == list(expected)
    bad = CliRunner().invoke(main, ["strategies", "--task", "ranking"])
    assert bad.exit_code != 0 and "ranking" in bad.output


def test_strategies_lists_the_registry() -> None:
    result = CliRunner().invoke(main, ["strategies"])
    assert result.exit_code == 0
    assert result.output.split() == available_strategies()


@pytest.mark.parametrize(
    "command, names",
    [
        ("posteriors", "bayesal.posterior:available_posteriors"),
        ("datasets", "bayesal.data.registry:available_datasets"),
        ("models", "bayesal.models.registry:available_models"),
        ("stopping-rules", "bayesal.stopping:available_stopping_rules"),
    ],
)
def test_listing_commands_print_one_name_per_line(command: str, names: str) -> None:
    result = CliRunner().invoke(main, [command])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == import_object(names)()


def test_listing_commands_import_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = tmp_path / "bal_cli_test_plugin.py"
    plugin.write_text(
        "from bayesal.models.registry import MODELS\n"
        "from bayesal.models.two_moons import TwoMoonsMLP\n"
        "MODELS.register('cli_plugin_mlp', TwoMoonsMLP, overwrite=True)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        result = CliRunner().invoke(main, ["models", "--plugin", "bal_cli_test_plugin"])
        assert result.exit_code == 0, result.output
        assert "cli_plugin_mlp" in result.output.splitlines()
    finally:
        from bayesal.models.registry import MODELS

        if "cli_plugin_mlp" in MODELS:
            MODELS.unregister("cli_plugin_mlp")
        sys.modules.pop("bal_cli_test_plugin", None)
    result = CliRunner().invoke(main, ["strategies", "--plugin", "no_such_bal_plugin"])
    assert result.exit_code == 2 and "plugin module 'no_such_bal_plugin'" in result.stderr


def test_run_with_overrides_then_report(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(config_file), "--out", str(out), "--seeds", "1", "--rounds", "1"]
    result = CliRunner().invoke(
        main, [*args, "--strategies", "random,bald", "--workers", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 2  # header + 2 strategies x 1 seed x 2 rounds
    assert {line.split(",")[0] for line in lines[1:]} == {"random", "bald"}
    assert (out / "summary.md").is_file()
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["seeds"] == [0] and resolved["rounds"] == 1

    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "figures" / "learning_curves.png").is_file()
    assert f"wrote {out / 'figures' / 'learning_curves.png'}" in result.output.splitlines()

    # --collect-only with more seeds: the finished trials only, nothing run
    (out / "results.csv").unlink()
    (out / "summary.md").unlink()
    result = CliRunner().invoke(
        main, [*args[:-4], "--seeds", "3", "--rounds", "1", "--collect-only", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "results.csv").read_text().splitlines() == lines
    assert (out / "summary.md").is_file()
    trials = sorted(p.name for p in (out / "trials").iterdir())
    assert trials == ["bald__seed0.csv", "random__seed0.csv"]  # margin never ran


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--strategies", "random,balt"],
            "strategies[1].name: unknown acquisition strategy 'balt'",
        ),
        (["--rounds", "-2"], "rounds: Input should be greater than or equal to 0"),
        (["--seeds", "0"], "seeds: a seed count must be >= 1"),
    ],
)
def test_bad_overrides_exit_2_with_one_line(
    config_file: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, ["run", str(config_file), "--out", str(tmp_path), *extra])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr
    assert not (tmp_path / "results.csv").exists()


def test_missing_files_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "no.yaml"), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no.yaml does not exist" in result.stderr
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.stderr.startswith("bayesal: error:")


def test_usage_errors(config_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(config_file)])
    assert result.exit_code == 2 and "--out" in result.stderr
    result = CliRunner().invoke(
        main, ["run", str(config_file), "--out", str(tmp_path), "--workers", "0"]
    )
    assert result.exit_code == 2 and "--workers" in result.stderr


def test_a_dataset_without_a_test_set_runs_and_says_there_is_no_summary(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    np.savez(tmp_path / "pool.npz", x=x, y=(x[:, 0] > 0).astype(np.int64))
    config = {
        "name": "no_test",
        "dataset": {"name": "npy", "params": {"path": str(tmp_path / "pool.npz")}},
        "model": {"name": "two_moons_mlp"},
        "training": {"epochs": 1, "min_steps": 5},
        "strategies": ["bald"],
        "seeds": 1,
        "initial_labels": 4,
        "acquisition_size": 2,
        "rounds": 2,
        "device": "cpu",
    }
    path = tmp_path / "no_test.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "no test set" in result.output
    assert (out / "results.csv").is_file() and not (out / "summary.md").exists()
    report = CliRunner().invoke(main, ["report", str(out)])
    assert report.exit_code == 2 and "has no test metrics" in report.output


# ------------------------------------------------------- snapshot rounds and --rounds


def test_rounds_below_the_snapshot_rounds_drops_them_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "snapshots": {"rounds": [0, 3], "resolution": 8}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", str(path), "--out", str(out), "--rounds", "1", "--seeds", "1"]
        + ["--strategies", "random", "--workers", "1", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "bayesal: note: snapshots.rounds [3] exceed rounds (1): dropped, snapshots are taken "
        "at rounds [0]"
    ) in result.stderr.splitlines()
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["rounds"] == 1 and resolved["snapshots"]["rounds"] == [0]


def test_a_config_directory_says_it_is_a_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == (
        f"bayesal: error: config {tmp_path} is a directory, not a config file (give a YAML file)\n"
    )


# ------------------------------------------------------------------ file-system errors

_SMALL_RUN = [
    "--seeds",
    "1",
    "--rounds",
    "1",
    "--strategies",
    "random",
    "--workers",
    "1",
    "--quiet",
]


def _run_fails_with_one_line(config_file: Path, out: Path) -> str:
    result = CliRunner().invoke(main, ["run", str(config_file), "--out", str(out), *_SMALL_RUN])
    assert result.exit_code == 2, (result.exception, result.output)
    assert "Traceback" not in result.output + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bayesal: error: "), result.stderr
    return lines[0]


def test_out_is_an_existing_file(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "afile"
    out.write_text("x")
    line = _run_fails_with_one_line(config_file, out)
    assert str(out) in line and "not a directory" in line
    assert out.read_text() == "x"


def test_out_under_a_file(config_file: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "out"
    line = _run_fails_with_one_line(config_file, out)
    assert str(tmp_path / "afile") in line and "Not a directory" in line


def test_a_file_where_the_trials_folder_goes(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "trials").write_text("in the way")
    line = _run_fails_with_one_line(config_file, out)
    assert str(out / "trials") in line
    assert (out / "trials").read_text() == "in the way"


def test_out_not_writable(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, whom chmod does not stop: refuse creating --out as the OS would.
    out = tmp_path / "locked" / "out"
    mkdir = Path.mkdir

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        if self == out or out in self.parents:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        mkdir(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refuse)
    line = _run_fails_with_one_line(config_file, out)
    assert line == f"bayesal: error: {out}: Permission denied"


def test_disk_full(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk fails a write or its fsync with ENOSPC and no file name: the line names
    # the file being written.
    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out"
    line = _run_fails_with_one_line(config_file, out)
    assert line.startswith(f"bayesal: error: {out}{os.sep}")
    assert line.endswith(": No space left on device")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no temp file left


def test_an_os_error_without_errno_is_a_bug_with_a_traceback(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bayesal.experiment

    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError("raised by Python code, not the OS")

    monkeypatch.setattr(bayesal.experiment, "load_config", broken)
    result = CliRunner().invoke(main, ["run", str(config_file), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and isinstance(result.exception, OSError)


def test_a_narrowed_run_that_leaves_the_grid_uneven_saves_and_notes(
    config_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    base = ["run", str(config_file), "--out", str(out), "--rounds", "1", "--quiet"]
    first = CliRunner().invoke(main, [*base, "--strategies", "random", "--seeds", "2"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, [*base, "--strategies", "bald", "--seeds", "1"])
    assert second.exit_code == 0, second.output
    assert "bayesal: note: no summary yet" in second.output
    assert "strategy='bald' lacks seed(s) [1]" in second.output
    rows = (out / "results.csv").read_text().splitlines()[1:]
    assert sorted({tuple(r.split(",")[:2]) for r in rows}) == [
        ("bald", "0"),
        ("random", "0"),
        ("random", "1"),
    ]
    report = CliRunner().invoke(main, ["report", str(out)])
    assert report.exit_code == 2 and "lacks seed(s) [1]" in report.output


def test_a_rejected_trial_is_one_warning_line(config_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["run", str(config_file), "--out", str(out), "--rounds", "1", "--seeds", "1"]
    args += ["--strategies", "random", "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0
    trial = out / "trials" / "random__seed0.csv"
    trial.write_text("\n".join(trial.read_text().splitlines()[:-1]) + "\n")  # cut short
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("bayesal: warning:")]
    assert len(warned) == 1 and "random__seed0.csv" in warned[0]


def _curves_dir(root: Path) -> Path:
    """A results directory: random and bald over 3 seeds, labels 20, 30, 40."""
    import pandas as pd

    rows = []
    for strategy, accs in {"random": [0.5, 0.75, 0.85], "bald": [0.5, 0.85, 0.95]}.items():
        for seed in range(3):
            for rnd, acc in enumerate(accs):
                rows.append(
                    [strategy, seed, rnd, 20 + 10 * rnd, acc + 0.01 * seed, 0.5, 0.1, 0.1, 0.1,
                     0.1, "" if rnd == 2 else str(rnd)]
                )  # fmt: skip
    columns = ["strategy", "seed", "round", "n_labels", "test_accuracy", "test_nll",
               "train_seconds", "score_seconds", "select_seconds", "eval_seconds",
               "acquired_ids"]  # fmt: skip
    root.mkdir()
    pd.DataFrame(rows, columns=columns).to_csv(root / "results.csv", index=False)
    return root


def test_report_thresholds_option_and_verdicts(tmp_path: Path) -> None:
    out = _curves_dir(tmp_path / "out")
    (out / "config.resolved.yaml").write_text(yaml.safe_dump({"report": {"thresholds": [0.9]}}))
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "labels_to_90_median" in (out / "summary.csv").read_text().splitlines()[0]
    assert f"wrote {out / 'paired.md'}" in result.output.splitlines()
    assert "paired over 3 seeds, against 'random' (positive = better):" in result.output
    # bald: AULC +7.5 points on every seed; 90%: random never (> 40), bald at 40.
    assert (
        "  bald: AULC +7.5 points, 3/0 wins/losses: more than seed noise (better); "
        "to 90%: ≥ +0 labels"
    ) in result.output
    result = CliRunner().invoke(main, ["report", str(out), "--thresholds", "0.84, 0.8"])
    assert result.exit_code == 0, result.output
    header = (out / "summary.csv").read_text().splitlines()[0]
    assert "labels_to_80_median" in header and "labels_to_84_median" in header
    assert "labels_to_90" not in header
    assert "to 80%: +10 labels; to 84%: +10 labels" in result.output


@pytest.mark.parametrize(
    "value, message",
    [
        ("90,95", "a percentage? give 0.9"),
        ("0.9,abc", "'abc' is not a number"),
        ("0.9,0.9", "distinct"),
        ("0", "fraction in (0, 1]"),
    ],
)
def test_report_bad_thresholds_exit_2(tmp_path: Path, value: str, message: str) -> None:
    out = _curves_dir(tmp_path / "out")
    result = CliRunner().invoke(main, ["report", str(out), "--thresholds", value])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output
    assert not (out / "summary.csv").exists()


# ------------------------------------------------ plugin code that raises or returns nonsense

_PLUGIN = """
import torch
from torch import nn
from bayesal.acquisition import register_strategy
from bayesal.acquisition.scored import ScoredStrategy, TopKSelector
from bayesal.models.registry import register_model


def boom_score(log_probs_N_K_C):
    raise RuntimeError("boom in score")


def short_score(log_probs_N_K_C):
    return torch.zeros(log_probs_N_K_C.shape[0] - 1)


def inf_score(log_probs_N_K_C):
    return torch.full((log_probs_N_K_C.shape[0],), float("inf"))


def make_boom():
    return ScoredStrategy("boom", boom_score, TopKSelector())


def make_short():
    return ScoredStrategy("short", short_score, TopKSelector())


def make_inf():
    return ScoredStrategy("inf", inf_score, TopKSelector())


def make_broken():
    raise RuntimeError("cannot build me")


class FailsInTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)
        self.drop = nn.Dropout(0.2)

    def forward(self, x):
        if self.training:
            raise RuntimeError("the model failed in training")
        return self.drop(self.layer(x))


def failing_model():
    return FailsInTraining()


def unbuildable_model():
    raise RuntimeError("model factory failed")


register_strategy("boom", make_boom, overwrite=True)
register_strategy("short", make_short, overwrite=True)
register_strategy("inf", make_inf, overwrite=True)
register_strategy("broken", make_broken, overwrite=True)
register_model("failing_model", failing_model, overwrite=True)
register_model("unbuildable_model", unbuildable_model, overwrite=True)
"""


@pytest.fixture(autouse=True)
def _forget_plugin_registrations() -> Iterator[None]:
    """The plugins of these tests register strategies and models in this process: remove
    them afterwards, so that later tests (a Ray run ships every registration to its
    workers) do not meet names whose module they cannot import."""
    from bayesal.acquisition.registry import STRATEGIES
    from bayesal.models.registry import MODELS

    before = {registry: set(registry.names()) for registry in (STRATEGIES, MODELS)}
    yield
    for registry, names in before.items():
        for name in set(registry.names()) - names:
            registry.unregister(name)


def _plugin_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, strategy: str, model: str = "two_moons_mlp"
) -> object:
    module = f"plug_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = {
        **CONFIG,
        "plugins": [module],
        "model": {"name": model, "params": {} if model != "two_moons_mlp" else {"hidden": 8}},
        "strategies": [strategy],
        "seeds": 1,
        "rounds": 1,
        "snapshots": None,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--workers", "1"]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize(
    ("strategy", "model", "message"),
    [
        ("boom", "two_moons_mlp", r"trial 'boom' seed 0: plugin code plug_\w+\.boom_score "
         r"\(.*plug_\w+\.py:10\) raised RuntimeError: boom in score"),
        ("random", "failing_model", r"plugin code plug_\w+\.forward "
         r"\(.*\) raised RuntimeError: the model failed in training"),
        ("random", "unbuildable_model", "model 'unbuildable_model' cannot be built with "
         "params {}: RuntimeError: model factory failed"),
        ("broken", "two_moons_mlp", "strategy 'broken' cannot be built with params {}: "
         "RuntimeError: cannot build me"),
        ("short", "two_moons_mlp", r"strategy 'short' returned scores of shape \[\d+\] for"),
        ("inf", "two_moons_mlp", "strategy 'inf' gave none of the"),
    ],
)  # fmt: skip
def test_run_with_a_plugin_that_raises_or_returns_bad_scores_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strategy: str, model: str, message: str
) -> None:
    import re

    result = _plugin_run(tmp_path, monkeypatch, strategy=strategy, model=model)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("bayesal: error:"), lines
    assert re.search(message, lines[0]), lines[0]


def test_a_plugin_that_raises_in_a_worker_process_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "plug_in_worker"
    (tmp_path / f"{module}.py").write_text(_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), *sys.path]))
    config = {**CONFIG, "plugins": [module], "strategies": ["boom", "random"], "seeds": 1,
              "rounds": 1, "snapshots": None}  # fmt: skip
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--workers", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and "trial 'boom' seed 0: plugin code plug_in_worker.boom_score" in lines[0]
    )
