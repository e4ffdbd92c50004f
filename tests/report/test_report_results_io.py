"""load_results / validate_results / snapshots / atomic writes."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayesal import _atomic
from bayesal._atomic import atomic_savefig, atomic_write_text
from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.report.results_io import (
    load_results,
    load_snapshot,
    parse_ids,
    snapshot_files,
    validate_results,
    validate_snapshot,
)


def _table(fx: SimpleNamespace, **overrides: object) -> pd.DataFrame:
    df = fx.synthetic_results({"random": 50.0, "bald": 20.0}, seeds=(0, 1), n_rounds=3)
    for col, value in overrides.items():
        df[col] = df[col].astype(object)
        df.loc[2, col] = value
    return df


def _write(fx: SimpleNamespace, tmp_path: Path, df: pd.DataFrame) -> Path:
    return fx.write_results_dir(tmp_path / "run", df)


def test_load_round_trip_types_and_order(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = _table(fx)
    shuffled = df.sample(frac=1.0, random_state=0)
    loaded = load_results(_write(fx, tmp_path, shuffled))
    assert list(loaded.columns) == fx.COLUMNS
    assert len(loaded) == len(df)
    for col in ("seed", "round", "n_labels"):
        assert loaded[col].dtype == np.int64
    # Strategies keep their order of first appearance; seeds and rounds are sorted.
    first = list(dict.fromkeys(shuffled["strategy"]))
    assert list(dict.fromkeys(loaded["strategy"])) == first
    run = loaded[(loaded["strategy"] == "bald") & (loaded["seed"] == 1)]
    assert run["round"].tolist() == [0, 1, 2, 3]
    expected = df[(df["strategy"] == "bald") & (df["seed"] == 1)]
    np.testing.assert_allclose(run["test_accuracy"], expected["test_accuracy"])
    # The last round acquires nothing: an empty cell, read back as "".
    assert run["acquired_ids"].iloc[-1] == ""
    assert parse_ids(run["acquired_ids"].iloc[0]) == [
        int(t) for t in expected["acquired_ids"].iloc[0].split()
    ]


def test_label_na_stays_a_string_and_extra_columns_are_kept(
    fx: SimpleNamespace, tmp_path: Path
) -> None:
    df = _table(fx)
    df["strategy"] = df["strategy"].replace({"random": "NA"})
    df["dataset"] = "two_moons"
    loaded = load_results(_write(fx, tmp_path, df))
    assert set(loaded["strategy"]) == {"NA", "bald"}
    assert (loaded["dataset"] == "two_moons").all()


def test_missing_directory_says_to_run_first(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"bayesal run CONFIG --out"):
        load_results(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"no results\.csv.*bayesal run CONFIG --out"):
        load_results(tmp_path / "empty")


def test_missing_columns_are_named(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = _table(fx).drop(columns=["test_accuracy", "eval_seconds"])
    with pytest.raises(InvalidInputError, match=r"\['test_accuracy', 'eval_seconds'\]"):
        load_results(_write(fx, tmp_path, df))


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        (
            {"test_accuracy": "high"},
            r"'test_accuracy' must hold numbers; row 3 \(line 4 of the file\) has 'high'",
        ),
        ({"test_accuracy": 93.0}, r"fraction in \[0, 1\].*percentage"),
        ({"test_accuracy": ""}, r"fraction in \[0, 1\]"),
        ({"seed": 1.5}, r"'seed' must hold integers; row 3 \(line 4"),
        ({"n_labels": ""}, r"'n_labels' must hold integers"),
        ({"train_seconds": -1.0}, r"negative 'train_seconds' in row 3 \(line 4 of the file\)"),
        ({"acquired_ids": "[1, 2]"}, r"acquired_ids must be space-separated"),
        ({"acquired_ids": "3 -4"}, r"acquired_ids must be space-separated"),
        ({"strategy": " "}, r"empty strategy label in row 3 \(line 4 of the file\)"),
    ],
)
def test_malformed_cells_are_reported(
    fx: SimpleNamespace, tmp_path: Path, overrides: dict, pattern: str
) -> None:
    with pytest.raises(InvalidInputError, match=pattern):
        load_results(_write(fx, tmp_path, _table(fx, **overrides)))


def test_blank_nll_and_timings_are_allowed(fx: SimpleNamespace, tmp_path: Path) -> None:
    loaded = load_results(_write(fx, tmp_path, _table(fx, test_nll="", select_seconds="")))
    assert loaded["test_nll"].isna().sum() == 1
    assert loaded["select_seconds"].isna().sum() == 1


def test_duplicate_gap_and_decreasing_labels(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = _table(fx)
    with pytest.raises(InvalidInputError, match=r"duplicate rows for strategy='random', seed=0"):
        validate_results(pd.concat([df, df.iloc[[1]]]))
    with pytest.raises(InvalidInputError, match=r"rounds \[0, 2, 3\].*without gaps"):
        validate_results(df.drop(index=1))
    bad = df.copy()
    bad.loc[2, "n_labels"] = 0
    with pytest.raises(InvalidInputError, match=r"n_labels decreases"):
        validate_results(bad)


@pytest.mark.parametrize(
    "cut, message",
    [
        # the last line: the last seed of the last strategy loses its last round
        (1, r"strategy='random', seed=1 stops at round 2, while other seeds of 'random' "),
        # the last four lines: that seed is gone altogether
        (4, r"strategy='random' lacks seed\(s\) \[1\], which 'bald' have"),
    ],
)
def test_report_on_a_results_csv_cut_at_a_line_boundary_names_the_seed(
    fx: SimpleNamespace, tmp_path: Path, cut: int, message: str
) -> None:
    from click.testing import CliRunner

    from bayesal.cli import main

    df = _table(fx).sort_values(["strategy", "seed", "round"])  # as the runner writes it
    run = _write(fx, tmp_path, df)
    path = run / "results.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-cut]))
    with pytest.raises(InvalidInputError, match=message):
        load_results(run)
    result = CliRunner().invoke(main, ["report", str(run)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert re.search(message, line) and str(path) in line
    assert "wrote" not in result.output
    # In memory, a table over different seeds stays allowed unless asked for a whole grid.
    partial = df.iloc[:-cut]
    validate_results(partial)
    with pytest.raises(InvalidInputError, match=message):
        validate_results(partial, complete=True)


def test_empty_file_and_header_only(fx: SimpleNamespace, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text("")
    with pytest.raises(InvalidInputError, match="is empty"):
        load_results(run)
    (run / "results.csv").write_text(",".join(fx.COLUMNS) + "\n")
    with pytest.raises(InvalidInputError, match="no rows"):
        load_results(run)


# ----------------------------------------------------------------------------- snapshots


def test_snapshot_files_and_load(
    fx: SimpleNamespace, tmp_path: Path, small_snapshots: dict
) -> None:
    snaps = dict(small_snapshots)
    snaps[("bald__v2", 12)] = small_snapshots[("bald", 0)]
    run = fx.write_results_dir(tmp_path / "run", fx.synthetic_results(), snaps)
    (run / "snapshots" / "notes.npz").write_bytes(b"not a snapshot name")
    files = snapshot_files(run)
    assert set(files) == {("random", 0), ("bald", 0), ("bald__v2", 12)}
    arrays = load_snapshot(files[("bald", 0)])
    assert arrays["labelled_mask"].dtype == bool
    np.testing.assert_array_equal(arrays["rounds"], small_snapshots[("bald", 0)]["rounds"])
    assert snapshot_files(tmp_path / "elsewhere") == {}


def test_snapshot_validation_errors(tmp_path: Path, small_snapshots: dict) -> None:
    snap = dict(small_snapshots[("bald", 0)])
    with pytest.raises(InvalidInputError, match=r"lacks array\(s\) \['expected_entropy'\]"):
        validate_snapshot({k: v for k, v in snap.items() if k != "expected_entropy"})
    wrong = dict(snap, mean_prob=snap["mean_prob"].transpose(0, 2, 1))
    with pytest.raises(InvalidInputError, match=r"mean_prob has shape"):
        validate_snapshot(wrong)
    with pytest.raises(InvalidInputError, match=r"train_x must have 2 dimension"):
        validate_snapshot(dict(snap, train_x=snap["train_x"].ravel()))
    bad = tmp_path / "bad__seed0.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match="not a readable .npz"):
        load_snapshot(bad)
    with pytest.raises(DataNotFoundError):
        load_snapshot(tmp_path / "absent__seed0.npz")


# ------------------------------------------------------------------------- atomic writes


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_atomic_write_text_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "summary.md"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.md"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.csv"
    atomic_write_text(target, "old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    monkeypatch.setattr(_atomic.os, "replace", os.replace)
    assert target.read_text() == "old"
    assert _no_temp_files(tmp_path)


def test_failed_savefig_leaves_no_temp(tmp_path: Path) -> None:
    class Exploding:
        def savefig(self, fh: object, **kwargs: object) -> None:
            fh.write(b"half a png")  # type: ignore[attr-defined]
            raise RuntimeError("renderer died")

    target = tmp_path / "figures" / "curve.png"
    with pytest.raises(RuntimeError, match="renderer died"):
        atomic_savefig(Exploding(), target)
    assert not target.exists()
    assert _no_temp_files(tmp_path)
