"""benchmarks/repeated_mnist_table.py: copies per batch and the table it prints."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "repeated_mnist_table.py"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("repeated_mnist_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_distinct_images_count_copies_once(table) -> None:
    n_base = 100  # id r * 100 + i is copy r of image i
    acquired = pd.Series(["3 103 203 7", "1 2 3 4", None])
    # batch 1: images {3, 7} -> 2; batch 2: 4 images; the initial round acquired nothing
    assert table.distinct_per_batch(acquired, n_base) == pytest.approx(3.0)
    assert math.isnan(table.distinct_per_batch(pd.Series([None]), n_base))


def test_prints_one_row_per_strategy(table, tmp_path: Path, monkeypatch, capsys) -> None:
    rows = []
    for strategy, accs, ids in [
        ("bald", [0.5, 0.8, 0.85], "1 56001 112001"),  # three copies of image 1
        ("random", [0.5, 0.91, 0.95], "1 2 3"),
    ]:
        for seed in (0, 1):
            for rnd, acc in enumerate(accs):
                rows.append(
                    {
                        "strategy": strategy,
                        "seed": seed,
                        "round": rnd,
                        "n_labels": 20 + 3 * rnd,
                        "test_accuracy": acc,
                        "test_nll": 0.5,
                        **dict.fromkeys(
                            ["train_seconds", "score_seconds", "select_seconds", "eval_seconds"],
                            0.1,
                        ),
                        "acquired_ids": ids if rnd < 2 else "",
                    }
                )
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    (tmp_path / "config.resolved.yaml").write_text(
        "dataset:\n  name: repeated_mnist\n  params: {validation_size: 4000}\n"
    )
    monkeypatch.setattr("sys.argv", ["repeated_mnist_table.py", str(tmp_path)])
    table.main()
    out = capsys.readouterr().out.splitlines()
    bald = next(line for line in out if line.startswith("| `bald`"))
    random = next(line for line in out if line.startswith("| `random`"))
    assert "n.r. [n.r., n.r.] (0/2)" in bald and bald.endswith("| 1.00 |")
    assert "| 23 [23, 23] (2/2) | 23 | 195 |" in random and random.endswith("| 3.00 |")
