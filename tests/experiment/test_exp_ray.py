"""``executor="ray"``: the same grid on a local Ray cluster gives the local executor's files."""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bayesal.errors import BayesalError, InvalidInputError
from bayesal.experiment import config_from_dict, run_experiment
from bayesal.experiment.ray_executor import (
    RAY_INSTALL,
    RayUnavailableError,
    _cause,
    import_ray,
)

TINY: dict[str, Any] = {
    "name": "tiny_ray",
    "dataset": {"name": "two_moons", "params": {"n_train": 60, "n_test": 40, "seed": 1}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 4},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 15},
    "strategies": ["random", "bald"],
    "seeds": 2,
    "initial_labels": 4,
    "acquisition_size": 2,
    "rounds": 2,
    "snapshots": {"rounds": [0, 2], "resolution": 9, "seeds": [0]},
}
TIMINGS = {"train_seconds", "score_seconds", "select_seconds", "eval_seconds"}


def _rows_without_timings(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(fh)]


@pytest.fixture
def ray_temp_dir() -> Iterator[dict[str, Any]]:
    """A short private temp folder for Ray's session files (its unix sockets need a short
    path), removed afterwards."""
    folder = tempfile.mkdtemp(prefix="bal-ray-", dir="/tmp")
    yield {"_temp_dir": folder}
    shutil.rmtree(folder, ignore_errors=True)


def test_missing_ray_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(RayUnavailableError, match=r"pip install 'bayesal\[ray\]'") as info:
        import_ray()
    assert isinstance(info.value, BayesalError) and RAY_INSTALL in str(info.value)
    with pytest.raises(RayUnavailableError):
        run_experiment(config_from_dict(TINY), tmp_path / "x", executor="ray", progress=False)
    assert not (tmp_path / "x").exists()  # refused before writing anything


def test_ray_options_need_the_ray_executor(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="executor='ray'"):
        run_experiment(config_from_dict(TINY), tmp_path, ray_address="auto", progress=False)
    with pytest.raises(InvalidInputError, match="executor must be one of"):
        run_experiment(config_from_dict(TINY), tmp_path, executor="dask", progress=False)  # type: ignore[arg-type]


@pytest.mark.slow
def test_ray_grid_equals_local_grid_and_resumes(
    tmp_path: Path, ray_temp_dir: dict[str, Any]
) -> None:
    ray = pytest.importorskip("ray", reason=f"ray is not installed ({RAY_INSTALL})")
    config = config_from_dict(TINY)
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    run_experiment(config, local, workers=1, progress=False)
    # A killed earlier run left 3 of the 4 trials (bald seed 0 and its snapshot missing).
    for sub in ("trials", "snapshots"):
        (on_ray / sub).mkdir(parents=True)
        for f in (local / sub).iterdir():
            if not f.name.startswith("bald__seed0."):
                (on_ray / sub / f.name).write_bytes(f.read_bytes())
    kept = {p.name: p.stat().st_mtime_ns for p in (on_ray / "trials").iterdir()}

    run_experiment(
        config, on_ray, workers=2, executor="ray", ray_init_kwargs=ray_temp_dir, progress=False
    )
    assert not ray.is_initialized()  # the local cluster it started is shut down

    assert {n: (on_ray / "trials" / n).stat().st_mtime_ns for n in kept} == kept  # not redone
    assert sorted(p.name for p in (on_ray / "trials").iterdir()) == sorted(
        p.name for p in (local / "trials").iterdir()
    )
    assert _rows_without_timings(on_ray / "results.csv") == _rows_without_timings(
        local / "results.csv"
    )
    with (
        np.load(on_ray / "snapshots" / "bald__seed0.npz") as a,
        np.load(local / "snapshots" / "bald__seed0.npz") as b,
    ):
        assert sorted(a.files) == sorted(b.files)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert (on_ray / "config.resolved.yaml").read_bytes() == (
        local / "config.resolved.yaml"
    ).read_bytes()


def test_task_errors_are_unwrapped() -> None:
    ray = pytest.importorskip("ray", reason=f"ray is not installed ({RAY_INSTALL})")
    original = InvalidInputError("4 initial labels + 50 rounds x 2 need 104 training examples")
    wrapped = ray.exceptions.RayTaskError("_ray_trial", "Traceback ...", original)
    assert _cause(ray, wrapped) is original
    other = RuntimeError("not a task error")
    assert _cause(ray, other) is other
