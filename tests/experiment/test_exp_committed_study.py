"""A committed study re-runs bit for bit: the first rounds of seed 0 of
``configs/wine_mlp.yaml`` (random, margin, BALD) give the ids, accuracies and NLLs of
``benchmarks/results/wine_tabular/mlp/results.csv``. It guards refactors of the learner
(issue 23): same config and seed, same results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "results" / "wine_tabular" / "mlp" / "results.csv"


def test_wine_mlp_seed_0_reruns_bit_for_bit(tmp_path: Path) -> None:
    bayesal = Path(sys.executable).parent / "bayesal"
    done = subprocess.run(
        [str(bayesal), "run", str(ROOT / "configs" / "wine_mlp.yaml"), "--out", "out"]
        + ["--seeds", "1", "--rounds", "4", "--workers", "1", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    new = pd.read_csv(tmp_path / "out" / "results.csv")
    old = pd.read_csv(COMMITTED)
    keys = ["strategy", "seed", "round"]
    merged = new.merge(old, on=keys, suffixes=("_new", "_old"))
    assert len(merged) == len(new) == 3 * 5
    last = merged["round"] == merged["round"].max()  # the final round acquires nothing
    for column in ("n_labels", "test_accuracy", "test_nll", "acquired_ids"):
        rows = merged[~last] if column == "acquired_ids" else merged
        assert (rows[f"{column}_new"] == rows[f"{column}_old"]).all(), column
