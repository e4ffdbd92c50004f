"""benchmarks/mnist_gal2017_table.py: the README's protocol table from a results directory."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "mnist_gal2017_table.py"
TIMINGS = ["train_seconds", "score_seconds", "select_seconds", "eval_seconds"]


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("mnist_gal2017_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_sorted_by_median_with_every_seed(table, tmp_path: Path, monkeypatch, capsys) -> None:
    rows = []
    # labels per round 20, 30, 40; per seed the accuracy per round.
    curves = {
        "random": {0: [0.5, 0.91, 0.96], 1: [0.5, 0.92, 0.94]},  # 95%: 40, never
        "bald": {0: [0.5, 0.95, 0.97], 1: [0.5, 0.9, 0.95], 2: [0.6, 0.96, 0.98]},  # 30, 40, 30
    }
    for strategy, seeds in curves.items():
        for seed, accs in seeds.items():
            for rnd, acc in enumerate(accs):
                rows.append(
                    {
                        "strategy": strategy,
                        "seed": seed,
                        "round": rnd,
                        "n_labels": 20 + 10 * rnd,
                        "test_accuracy": acc,
                        "test_nll": 0.5,
                        **dict.fromkeys(TIMINGS, 0.1),
                        "acquired_ids": f"{10 * rnd} {10 * rnd + 1}" if rnd < 2 else "",
                    }
                )
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    monkeypatch.setattr("sys.argv", ["mnist_gal2017_table.py", str(tmp_path)])
    table.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| Strategy | Labels to 95%, seeds 0, 1, 2 |")
    assert [line.split(" | ")[0] for line in out[2:]] == ["| `bald`", "| `random`"]
    # bald: 30, 40, 30 -> median 30, IQR [30, 35]; Gal et al. 335 + 20, seed study 400.
    assert out[2] == "| `bald` | 30, 40, 30 | **30** [30, 35] | 355 | 400 | 30 | 96.7 ± 1.5 |"
    # random: 40 and never -> no median and no Q1 (both lean on "never"); no seed 2.
    assert (
        out[3] == "| `random` | 40, n.r., – | **n.r.** [n.r., n.r.] | 855 | 670 | 30 | 95.0 ± 1.4 |"
    )
