"""The grid runner: files, resume after a kill, workers, snapshots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bayesal.experiment.runner as runner
from bayesal.errors import ConfigError, DataNotFoundError
from bayesal.experiment import RESULT_COLUMNS, config_from_dict, run_experiment, trial_path

TINY: dict[str, Any] = {
    "name": "tiny",
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


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _no_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMINGS} for row in rows]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grid")
    run_experiment(config_from_dict(TINY), out, workers=1, progress=False)
    return out


def test_results_table(first_run: Path) -> None:
    rows = _rows(first_run / "results.csv")
    assert tuple(rows[0]) == RESULT_COLUMNS
    keys = [(r["strategy"], int(r["seed"]), int(r["round"])) for r in rows]
    assert keys == sorted(keys) and len(keys) == 2 * 2 * 3
    for r in rows:
        ids = r["acquired_ids"].split()
        assert len(ids) == (2 if r["round"] != "2" else 0)
        assert int(r["n_labels"]) == 4 + 2 * int(r["round"])
    assert (first_run / "config.resolved.yaml").is_file()
    assert sorted(p.name for p in (first_run / "trials").iterdir()) == [
        "bald__seed0.csv",
        "bald__seed1.csv",
        "random__seed0.csv",
        "random__seed1.csv",
    ]


def test_snapshots(first_run: Path) -> None:
    files = sorted(p.name for p in (first_run / "snapshots").iterdir())
    assert files == ["bald__seed0.npz", "random__seed0.npz"]
    with np.load(first_run / "snapshots" / "bald__seed0.npz") as npz:
        snap = {k: npz[k] for k in npz.files}
    assert snap["rounds"].tolist() == [0, 2]
    assert snap["grid_x"].shape == snap["grid_y"].shape == (9,)
    for name in ("mean_prob", "predictive_entropy", "expected_entropy"):
        assert snap[name].shape == (2, 9, 9)
    assert snap["labelled_mask"].shape == snap["acquired_mask"].shape == (2, 60)
    assert snap["labelled_mask"].sum(1).tolist() == [4, 8]
    assert snap["acquired_mask"].sum(1).tolist() == [2, 0]
    assert not (snap["labelled_mask"][0] & snap["acquired_mask"][0]).any()
    bald = snap["predictive_entropy"] - snap["expected_entropy"]
    assert (bald >= -1e-6).all() and (snap["predictive_entropy"] <= np.log(2) + 1e-6).all()
    assert ((snap["mean_prob"] >= 0) & (snap["mean_prob"] <= 1)).all()
    train_x = snap["train_x"]
    assert snap["grid_x"][0] < train_x[:, 0].min() and snap["grid_x"][-1] > train_x[:, 0].max()
    acquired_r0 = np.flatnonzero(snap["acquired_mask"][0]).tolist()
    rows = _rows(first_run / "results.csv")
    row = next(
        r for r in rows if r["strategy"] == "bald" and r["seed"] == "0" and r["round"] == "0"
    )
    assert sorted(int(i) for i in row["acquired_ids"].split()) == acquired_r0


def test_resume_recomputes_only_missing_trials(
    first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "grid"
    out.mkdir()
    for sub in ("trials", "snapshots"):
        (out / sub).mkdir()
        for f in (first_run / sub).iterdir():
            (out / sub / f.name).write_bytes(f.read_bytes())
    (out / "config.resolved.yaml").write_bytes((first_run / "config.resolved.yaml").read_bytes())
    trial_path(out, "bald", 1).unlink()  # killed before this trial finished ...
    (out / "trials" / ".bald__seed1.csv.x1y2.tmp").write_text("strategy,se")  # ... mid-write
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "trials").glob("*.csv")}

    calls: list[tuple[str, int]] = []
    real = runner.run_trial

    def spy(config: Any, out_dir: Any, label: str, seed: int, **kw: Any) -> Path:
        calls.append((label, seed))
        return real(config, out_dir, label, seed, **kw)

    monkeypatch.setattr(runner, "run_trial", spy)
    run_experiment(config_from_dict(TINY), out, workers=1, progress=False)
    assert calls == [("bald", 1)]
    assert {p: (out / "trials" / p).stat().st_mtime_ns for p in kept} == kept
    assert _no_times(_rows(out / "results.csv")) == _no_times(_rows(first_run / "results.csv"))


def test_missing_snapshot_reruns_its_trial(
    first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "grid"
    (out / "trials").mkdir(parents=True)
    for f in (first_run / "trials").iterdir():
        (out / "trials" / f.name).write_bytes(f.read_bytes())
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(runner, "run_trial", lambda c, o, lab, s, **kw: calls.append((lab, s)))
    run_experiment(config_from_dict(TINY), out, workers=1, progress=False)
    assert sorted(calls) == [("bald", 0), ("random", 0)]


def test_refuses_to_resume_a_different_config(first_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid"
    out.mkdir()
    (out / "config.resolved.yaml").write_bytes((first_run / "config.resolved.yaml").read_bytes())
    changed = config_from_dict({**TINY, "rounds": 3})
    with pytest.raises(ConfigError, match="differs in: rounds"):
        run_experiment(changed, out, workers=1, progress=False)


def test_two_workers_give_the_same_results(first_run: Path, tmp_path: Path) -> None:
    run_experiment(config_from_dict(TINY), tmp_path, workers=2, progress=False)
    assert _no_times(_rows(tmp_path / "results.csv")) == _no_times(_rows(first_run / "results.csv"))
    with (
        np.load(tmp_path / "snapshots" / "bald__seed0.npz") as a,
        np.load(first_run / "snapshots" / "bald__seed0.npz") as b,
    ):
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


def test_last_trial_of_a_resumed_run_gets_the_threads_of_a_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Torch sums in another order with another thread count, so a resumed run's one
    # remaining trial must get cores // workers threads, as it would have as a worker.
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    seen: list[int] = []
    real = runner.run_trial

    def spy(config: Any, out_dir: Any, label: str, seed: int, **kw: Any) -> Path:
        seen.append(runner.torch.get_num_threads())
        return real(config, out_dir, label, seed, **kw)

    monkeypatch.setattr(runner, "run_trial", spy)
    before = runner.torch.get_num_threads()
    one_trial = config_from_dict({**TINY, "strategies": ["random"], "seeds": 1})
    run_experiment(one_trial, tmp_path, workers=2, progress=False)
    assert seen == [4]  # 8 cores // 2 workers
    assert runner.torch.get_num_threads() == before


def test_collect_only_assembles_finished_trials_and_runs_none(
    first_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "grid"
    (out / "trials").mkdir(parents=True)
    for f in (first_run / "trials").iterdir():
        (out / "trials" / f.name).write_bytes(f.read_bytes())
    trial_path(out, "bald", 1).unlink()  # a run that was killed while busy with this one
    left_over = out / "trials" / ".bald__seed1.csv.0123456789ab.tmp"
    left_over.write_text("strategy,se")
    monkeypatch.setattr(runner, "run_trial", lambda *a, **kw: pytest.fail("ran a trial"))
    running = (first_run / "config.resolved.yaml").read_text() + "# the run in progress\n"
    (out / "config.resolved.yaml").write_text(running)
    config = config_from_dict({**TINY, "snapshots": None})
    run_experiment(config, out, workers=1, progress=False, collect_only=True)
    assert (out / "config.resolved.yaml").read_text() == running
    rows = _rows(out / "results.csv")
    assert sorted({(r["strategy"], r["seed"]) for r in rows}) == [
        ("bald", "0"),
        ("random", "0"),
        ("random", "1"),
    ]
    expected = [
        r for r in _rows(first_run / "results.csv") if (r["strategy"], r["seed"]) != ("bald", "1")
    ]
    assert rows == expected
    # --collect-only holds the directory's lock, so no run can be writing: what a killed
    # writer left is stale and goes (issue 14: "stale temporary files removed at start").
    assert not left_over.exists()


def test_collect_only_without_finished_trials_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="no finished trial"):
        run_experiment(config_from_dict(TINY), tmp_path, progress=False, collect_only=True)
