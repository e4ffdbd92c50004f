"""Figures and write_report, from synthetic results and TwoMoons snapshots."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.report import build as build_module
from bayesal.report import (
    plot_acquisition_grid,
    plot_bald_anatomy,
    plot_learning_curves,
    strategy_colors,
    write_report,
)
from bayesal.report.two_moons import _pick_rounds

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, checking its signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def logistic_snapshot(rounds: int = 3, n_train: int = 60, grid: int = 25) -> dict:
    """A hand-made snapshot: p(y=1|x) a logistic function of x1 that sharpens each round."""
    rng = np.random.default_rng(0)
    gx, gy = np.linspace(-2, 2, grid), np.linspace(-1, 1, grid - 5)
    xx, _ = np.meshgrid(gx, gy)
    slopes = np.arange(1, rounds + 1)[:, None, None]
    mean_prob = 1 / (1 + np.exp(-slopes * xx))
    predictive = -(mean_prob * np.log(mean_prob) + (1 - mean_prob) * np.log(1 - mean_prob))
    expected = 0.6 * predictive
    train_x = rng.uniform([-2, -1], [2, 1], size=(n_train, 2))
    train_y = (train_x[:, 0] > 0).astype(int)
    labelled = np.zeros((rounds, n_train), bool)
    acquired = np.zeros((rounds, n_train), bool)
    for r in range(rounds):
        labelled[r, : 2 + 3 * r] = True
        acquired[r, 2 + 3 * r : 5 + 3 * r] = r < rounds - 1
    return {
        "grid_x": gx,
        "grid_y": gy,
        "rounds": np.arange(rounds),
        "mean_prob": mean_prob,
        "predictive_entropy": predictive,
        "expected_entropy": expected,
        "labelled_mask": labelled,
        "acquired_mask": acquired,
        "train_x": train_x,
        "train_y": train_y,
    }


def test_learning_curves_png(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = fx.synthetic_results(seeds=(0, 1, 2), n_rounds=6)
    path = plot_learning_curves(df, tmp_path / "figs" / "curves.png", thresholds=(0.9,))
    width, height = png_size(path)
    assert 800 < width < 2500 and 500 < height < 2000
    assert sorted(p.name for p in path.parent.iterdir()) == ["curves.png"]


def test_learning_curves_single_seed_and_uneven_seeds(fx: SimpleNamespace, tmp_path: Path) -> None:
    one = fx.synthetic_results({"bald": 20.0}, seeds=(0,), n_rounds=3)
    png_size(plot_learning_curves(one, tmp_path / "one.png"))
    uneven = fx.synthetic_results(seeds=(0, 1, 2), n_rounds=3)
    uneven = uneven[~((uneven["strategy"] == "random") & (uneven["seed"] == 2))]
    png_size(plot_learning_curves(uneven, tmp_path / "uneven.png"))


def test_learning_curves_validate_input(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = fx.synthetic_results(n_rounds=2).drop(columns="test_accuracy")
    with pytest.raises(InvalidInputError, match="test_accuracy"):
        plot_learning_curves(df, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_strategy_colors_fixed_and_distinct() -> None:
    colors = strategy_colors(["my_method", "random", "bald", "other", "batchbald"])
    assert colors["random"] == "#7f7f7f"
    assert colors == strategy_colors(["my_method", "random", "bald", "other", "batchbald"])
    assert strategy_colors(["bald"])["bald"] == colors["bald"]  # fixed, whatever else is there
    assert len(set(colors.values())) == len(colors)


def test_acquisition_grid_png(small_snapshots: dict, tmp_path: Path) -> None:
    snaps = {label: arrays for (label, _), arrays in small_snapshots.items()}
    path = plot_acquisition_grid(snaps, tmp_path / "grid.png", seed=0)
    width, height = png_size(path)
    assert width > height  # 2 rows x 4 rounds
    # An explicit subset of rounds, and a plain logistic snapshot with another grid.
    snaps["logistic"] = logistic_snapshot(rounds=3)
    path = plot_acquisition_grid(snaps, tmp_path / "grid2.png", seed=0, rounds=[0, 2])
    png_size(path)


def test_acquisition_grid_errors(small_snapshots: dict, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="at least one snapshot"):
        plot_acquisition_grid({}, tmp_path / "g.png", seed=0)
    snaps = {"bald": small_snapshots[("bald", 0)]}
    with pytest.raises(InvalidInputError, match=r"round\(s\) \[5\] are in no snapshot"):
        plot_acquisition_grid(snaps, tmp_path / "g.png", seed=0, rounds=[0, 5])
    broken = dict(small_snapshots[("bald", 0)])
    del broken["acquired_mask"]
    with pytest.raises(InvalidInputError, match="acquired_mask"):
        plot_acquisition_grid({"bald": broken}, tmp_path / "g.png", seed=0)
    assert not list(tmp_path.iterdir())


def test_pick_rounds_keeps_first_and_last() -> None:
    assert _pick_rounds([0, 1, 2], 6) == [0, 1, 2]
    picked = _pick_rounds(list(range(0, 40, 2)), 6)
    assert len(picked) == 6 and picked[0] == 0 and picked[-1] == 38
    assert picked == sorted(set(picked))


def test_bald_anatomy_png(tmp_path: Path) -> None:
    snap = logistic_snapshot(rounds=3)
    width, height = png_size(plot_bald_anatomy(snap, tmp_path / "anatomy.png", round=1))
    assert width > 800 and height > 600
    with pytest.raises(InvalidInputError, match=r"no round 7; its rounds are \[0, 1, 2\]"):
        plot_bald_anatomy(snap, tmp_path / "other.png", round=7)


def test_bald_anatomy_reads_an_npz_file(small_snapshots: dict, tmp_path: Path) -> None:
    np.savez(tmp_path / "bald__seed0.npz", **small_snapshots[("bald", 0)])
    with np.load(tmp_path / "bald__seed0.npz") as npz:
        png_size(plot_bald_anatomy(npz, tmp_path / "anatomy.png", round=2))


# --------------------------------------------------------------------------- write_report


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_write_report_everything(
    fx: SimpleNamespace, small_snapshots: dict, tmp_path: Path
) -> None:
    snaps = dict(small_snapshots)
    snaps[("random", 3)] = small_snapshots[("random", 0)]
    run = fx.write_results_dir(tmp_path / "run", fx.synthetic_results(n_rounds=4), snaps)
    inputs = _files(run)
    written = write_report(run)
    expected = [
        "summary.csv",
        "summary.md",
        "per_seed.csv",
        "per_seed.md",
        "figures/learning_curves.png",
        "labels_saved.csv",
        "labels_saved.md",
        "paired.csv",
        "paired.md",
        "paired_per_seed.csv",
        "figures/acquisition_grid.png",
        "figures/acquisition_grid_seed3.png",
        "figures/bald_anatomy.png",
    ]
    assert [str(p.relative_to(run)) for p in written] == expected
    for path in written:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            png_size(path)
    # Nothing else appeared: in particular no temp files.
    assert _files(run) == inputs | set(expected)


def test_write_report_without_snapshots_and_rerun(results_dir: Path) -> None:
    inputs = _files(results_dir)
    written = write_report(results_dir)
    assert [p.name for p in written] == [
        "summary.csv", "summary.md", "per_seed.csv", "per_seed.md", "learning_curves.png",
        "labels_saved.csv", "labels_saved.md", "paired.csv", "paired.md", "paired_per_seed.csv",
    ]  # fmt: skip
    before = {p: p.read_bytes() for p in written}
    # Running again overwrites in place, leaving nothing else behind.
    assert write_report(results_dir) == written
    assert _files(results_dir) == inputs | {str(p.relative_to(results_dir)) for p in written}
    assert (results_dir / "summary.md").read_bytes() == before[results_dir / "summary.md"]


def test_write_report_bald_anatomy_choice(
    fx: SimpleNamespace, small_snapshots: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[np.ndarray, int]] = []

    def fake_anatomy(snapshot: dict, path: Path, round: int, title: str | None = None) -> Path:
        calls.append((snapshot["acquired_mask"], round))
        return Path(path)

    monkeypatch.setattr(build_module, "plot_bald_anatomy", fake_anatomy)
    monkeypatch.setattr(build_module, "plot_acquisition_grid", lambda s, path, seed: Path(path))
    df = fx.synthetic_results(n_rounds=3)
    random_snap, bald_snap = small_snapshots[("random", 0)], small_snapshots[("bald", 0)]
    # "bald" is preferred even when another strategy comes first; middle of rounds [0,2,4,6].
    fx.write_results_dir(tmp_path / "one", df, {("random", 0): random_snap, ("bald", 0): bald_snap})
    write_report(tmp_path / "one")
    np.testing.assert_array_equal(calls[-1][0], bald_snap["acquired_mask"])
    assert calls[-1][1] == 4
    # Without "bald": the first strategy of the results table that has a snapshot.
    fx.write_results_dir(
        tmp_path / "two", df, {("entropy", 0): bald_snap, ("random", 0): random_snap}
    )
    write_report(tmp_path / "two")
    np.testing.assert_array_equal(calls[-1][0], random_snap["acquired_mask"])


def test_write_report_skips_a_bad_snapshot_with_a_warning(
    fx: SimpleNamespace, small_snapshots: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grids: list[list[str]] = []

    def fake_grid(snapshots: dict, path: Path, seed: int) -> Path:
        grids.append(list(snapshots))
        return Path(path)

    monkeypatch.setattr(build_module, "plot_acquisition_grid", fake_grid)
    monkeypatch.setattr(build_module, "plot_bald_anatomy", lambda s, path, r, title: Path(path))
    run = fx.write_results_dir(
        tmp_path / "run",
        fx.synthetic_results(n_rounds=3),
        {("bald", 0): small_snapshots[("bald", 0)]},
    )
    (run / "snapshots" / "random__seed0.npz").write_bytes(b"truncated")
    with pytest.warns(UserWarning, match=r"skipping snapshot .*random__seed0\.npz"):
        written = write_report(run)
    assert "acquisition_grid.png" in {p.name for p in written}
    assert grids == [["bald"]]


def test_write_report_missing_results(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataNotFoundError, match="bayesal run CONFIG --out"):
            write_report(tmp_path / "nothing")
