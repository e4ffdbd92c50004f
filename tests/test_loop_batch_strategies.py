"""BatchBALD, EPIG, PowerEPIG and PowerBALD named in an experiment YAML, run by the runner."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from bayesal.experiment import load_config, run_experiment

CONFIG = {
    "name": "tiny_batch",
    "dataset": {"name": "two_moons", "params": {"n_train": 80, "n_test": 40, "seed": 3}},
    "model": {"name": "two_moons_mlp", "params": {"hidden": 16}},
    "posterior": {"name": "mc_dropout", "num_samples": 6},
    "training": {"lr": 0.01, "epochs": 1, "batch_size": 32, "min_steps": 15},
    "strategies": [
        "bald",
        # C = 2, K = 6: C^(b-1) K = 12 for the second pick, 24 for the third, so with
        # exact_budget 12 the second pick is exact and the third is sampled.
        {"name": "batchbald", "params": {"num_samples": 200, "exact_budget": 12}},
        "epig",
        {"name": "power_epig", "params": {"temperature": 0.5}},
        {"name": "power_bald", "params": {"temperature": 0.5}},
    ],
    "seeds": [0, 1],
    "initial_labels": 4,
    "acquisition_size": 3,
    "rounds": 2,
    "num_target_samples": 10,
}
TIMINGS = {"train_seconds", "score_seconds", "select_seconds", "eval_seconds"}


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "results.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k not in TIMINGS} for r in csv.DictReader(fh)]


def _run(tmp_path: Path, name: str) -> list[dict[str, str]]:
    config_path = tmp_path / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    out = tmp_path / name
    run_experiment(load_config(config_path), out, workers=1, progress=False)
    return _rows(out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, str]], ...]:
    tmp = tmp_path_factory.mktemp("batch_loop")
    return _run(tmp, "first"), _run(tmp, "again")


def test_every_strategy_runs_every_round(runs) -> None:
    rows = runs[0]
    strategies = {"bald", "batchbald", "epig", "power_epig", "power_bald"}
    assert {r["strategy"] for r in rows} == strategies
    assert len(rows) == 5 * 2 * 3
    for strategy in strategies - {"bald"}:
        for seed in ("0", "1"):
            trial = [r for r in rows if r["strategy"] == strategy and r["seed"] == seed]
            acquired = [int(i) for r in trial for i in r["acquired_ids"].split()]
            assert [int(r["n_labels"]) for r in trial] == [4, 7, 10]
            assert len(acquired) == 6 == len(set(acquired))
            assert all(0 <= i < 80 for i in acquired)


def test_same_seed_repeats_exactly(runs) -> None:
    first, again = runs
    assert first == again


def test_batchbald_first_pick_is_the_bald_argmax(runs) -> None:
    # Round 0 of one seed: same initial labels, model and posterior draw for every
    # strategy, and BatchBALD's first pick is the BALD arg-max.
    rows = runs[0]
    for seed in ("0", "1"):
        first = {
            r["strategy"]: r["acquired_ids"].split()
            for r in rows
            if r["seed"] == seed and r["round"] == "0"
        }
        assert first["batchbald"][0] == first["bald"][0]
