"""summary_table numbers checked against a hand-built results table."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bayesal.errors import DataNotFoundError, InvalidInputError
from bayesal.report import per_seed_markdown, per_seed_table, summary_table, write_summary
from bayesal.report.tables import CONVENTIONS_MD, censored_quantile, threshold_key

F32_NINETY = float(np.float32(0.9))  # 0.8999999761581421: how float32 stores 90%

# strategy -> n_labels per round, and per seed the accuracy per round.
HAND = {
    "a": (
        [10, 20, 40],
        {
            0: [0.5, 0.9, 0.95],  # 90% at 20, 95% at 40
            1: [0.6, 0.8, 0.9],  # 90% at 40, 95% never
            2: [0.7, 0.92, 0.96],  # 90% at 20, 95% at 40
            3: [0.4, 0.7, 0.85],  # never
        },
    ),
    "b": (
        [5, 10, 15],
        {
            0: [0.5, F32_NINETY, 0.91],  # 90% at 10 (float32 rounding tolerated)
            1: [0.5, 0.6, 0.93],  # 90% at 15
            2: [0.5, 0.6, 0.7],  # never
        },
    ),
}


def hand_table(first: str = "a") -> pd.DataFrame:
    rows = []
    order = [first] + [s for s in HAND if s != first]
    for label in order:
        n_labels, per_seed = HAND[label]
        for seed, accs in per_seed.items():
            for r, (n, acc) in enumerate(zip(n_labels, accs, strict=True)):
                last = r == len(accs) - 1
                rows.append(
                    {
                        "strategy": label,
                        "seed": seed,
                        "round": r,
                        "n_labels": n,
                        "test_accuracy": acc,
                        "test_nll": 1.0 - acc,
                        "train_seconds": float(r + 1),  # mean over rounds 1, 2, 3 -> 2
                        "score_seconds": 0.0 if last else 0.5,  # last round scores nothing
                        "select_seconds": 0.0 if last else 0.1,
                        "eval_seconds": 0.2,
                        "acquired_ids": "" if last else f"{100 * seed + r} {100 * seed + r + 50}",
                    }
                )
    return pd.DataFrame(rows)


def test_summary_by_hand() -> None:
    s = summary_table(hand_table()).set_index("strategy")
    assert list(s.index) == ["a", "b"]
    a, b = s.loc["a"], s.loc["b"]
    assert a["n_seeds"] == 4 and b["n_seeds"] == 3
    assert a["final_n_labels"] == 40 and b["final_n_labels"] == 15

    final_a = [0.95, 0.9, 0.96, 0.85]
    assert a["final_accuracy_mean"] == pytest.approx(statistics.mean(final_a))
    assert a["final_accuracy_std"] == pytest.approx(statistics.stdev(final_a))

    # Trapezoids over labels 10 -> 20 -> 40, divided by the span 30.
    aulc_a = [
        ((0.5 + 0.9) / 2 * 10 + (0.9 + 0.95) / 2 * 20) / 30,  # 0.85
        ((0.6 + 0.8) / 2 * 10 + (0.8 + 0.9) / 2 * 20) / 30,  # 0.8
        ((0.7 + 0.92) / 2 * 10 + (0.92 + 0.96) / 2 * 20) / 30,
        ((0.4 + 0.7) / 2 * 10 + (0.7 + 0.85) / 2 * 20) / 30,  # 0.7
    ]
    assert aulc_a[0] == pytest.approx(0.85) and aulc_a[3] == pytest.approx(0.7)
    assert a["aulc_mean"] == pytest.approx(statistics.mean(aulc_a))
    assert a["aulc_std"] == pytest.approx(statistics.stdev(aulc_a))

    # a, 90%: needed = [20, 40, 20, never] -> sorted [20, 20, 40, inf]:
    # median at position 1.5 = 30; Q1 at 0.75 = 20; Q3 at 2.25 leans on "never".
    assert a["labels_to_90_median"] == 30
    assert a["labels_to_90_q25"] == 20
    assert math.isnan(a["labels_to_90_q75"])
    assert a["labels_to_90_reached"] == 3
    # a, 95%: [40, never, 40, never]: exactly half reach it -> no median.
    assert math.isnan(a["labels_to_95_median"])
    assert a["labels_to_95_q25"] == 40
    assert a["labels_to_95_reached"] == 2
    # b, 90%: [10, 15, never]: median 15 (2 of 3 reach), Q1 12.5, Q3 not reached.
    assert b["labels_to_90_median"] == 15
    assert b["labels_to_90_q25"] == 12.5
    assert math.isnan(b["labels_to_90_q75"])
    assert b["labels_to_90_reached"] == 2
    assert b["labels_to_95_reached"] == 0
    assert math.isnan(b["labels_to_95_q25"])

    # Timings: train/eval over every round; score/select only over rounds that acquired.
    assert a["train_seconds_mean"] == pytest.approx(2.0)
    assert a["eval_seconds_mean"] == pytest.approx(0.2)
    assert a["score_seconds_mean"] == pytest.approx(0.5)
    assert a["select_seconds_mean"] == pytest.approx(0.1)


def test_per_seed_by_hand() -> None:
    rows = per_seed_table(hand_table()).set_index(["strategy", "seed"])
    assert list(rows.index) == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 0),
        ("b", 1),
        ("b", 2),
    ]
    assert rows.loc[("a", 0), "labels_to_90"] == 20 and rows.loc[("a", 0), "labels_to_95"] == 40
    assert rows.loc[("a", 1), "labels_to_90"] == 40 and math.isnan(
        rows.loc[("a", 1), "labels_to_95"]
    )
    assert math.isnan(rows.loc[("a", 3), "labels_to_90"])
    assert rows.loc[("b", 0), "labels_to_90"] == 10  # float32 0.9 counts as reaching 90%
    assert (
        rows.loc[("a", 1), "final_accuracy"] == 0.9 and rows.loc[("b", 2), "final_n_labels"] == 15
    )
    assert rows.loc[("a", 0), "aulc"] == pytest.approx(0.85)
    assert rows["final_n_labels"].dtype == np.int64
    md = per_seed_markdown(per_seed_table(hand_table(), thresholds=(0.85,)))
    assert "## Labels to 85% test accuracy" in md and "Labels to 90%" not in md
    assert "| `a` | 20 | 40 | 20 | 40 |" in md
    with pytest.raises(InvalidInputError, match="fraction in"):
        per_seed_table(hand_table(), thresholds=(90,))


def test_strategy_order_and_custom_thresholds() -> None:
    s = summary_table(hand_table(first="b"), thresholds=(0.85, 0.975))
    assert list(s["strategy"]) == ["b", "a"]
    assert "labels_to_85_median" in s.columns and "labels_to_97.5_reached" in s.columns
    a = s.set_index("strategy").loc["a"]
    # 85%: [20, 40, 20, 40] -> median 30, Q1 20, Q3 40, all reached.
    assert (a["labels_to_85_median"], a["labels_to_85_q25"], a["labels_to_85_q75"]) == (
        30,
        20,
        40,
    )
    assert a["labels_to_97.5_reached"] == 0


def test_single_seed_has_nan_std_and_single_round_nan_aulc() -> None:
    df = hand_table()
    one = df[(df["strategy"] == "a") & (df["seed"] == 0)]
    s = summary_table(one).iloc[0]
    assert s["final_accuracy_mean"] == 0.95 and math.isnan(s["final_accuracy_std"])
    only_round0 = one[one["round"] == 0]
    assert math.isnan(summary_table(only_round0).iloc[0]["aulc_mean"])


def test_column_validation_and_bad_thresholds() -> None:
    with pytest.raises(InvalidInputError, match=r"lacks column\(s\) \['n_labels'\]"):
        summary_table(hand_table().drop(columns="n_labels"))
    with pytest.raises(InvalidInputError, match="threshold 90"):
        summary_table(hand_table(), thresholds=(90,))


def test_threshold_key() -> None:
    assert threshold_key(0.9) == "labels_to_90"
    assert threshold_key(0.95) == "labels_to_95"
    assert threshold_key(0.975) == "labels_to_97.5"


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=12), st.sampled_from([0.25, 0.5, 0.75])
)
def test_censored_quantile_matches_numpy_without_inf(values: list[int], q: float) -> None:
    assert censored_quantile(values, q) == pytest.approx(float(np.quantile(values, q)))


@given(
    st.lists(st.integers(0, 10_000), min_size=1, max_size=8),
    st.integers(1, 8),
    st.sampled_from([0.25, 0.5, 0.75]),
)
def test_censored_quantile_is_finite_iff_it_uses_only_reached_seeds(
    reached: list[int], n_never: int, q: float
) -> None:
    values = reached + [math.inf] * n_never
    n = len(values)
    pos = (n - 1) * q
    result = censored_quantile(values, q)
    needs_unreached = (
        math.ceil(pos) >= len(reached)
        and pos != math.floor(pos)
        or (math.floor(pos) >= len(reached))
    )
    assert math.isinf(result) == needs_unreached
    if not needs_unreached:
        # Same as the quantile of the values with "never" replaced by any larger number.
        big = np.array(reached + [10**9] * n_never, dtype=float)
        assert result == pytest.approx(float(np.quantile(big, q)))


def test_write_summary_refuses_a_strategy_missing_a_seed(
    fx: SimpleNamespace, tmp_path: Path
) -> None:
    # The hand table's b has no seed 3: from a file, that is an error naming it, not a
    # summary over fewer seeds.
    run = fx.write_results_dir(tmp_path / "run", hand_table())
    with pytest.raises(InvalidInputError, match=r"strategy='b' lacks seed\(s\) \[3\]"):
        write_summary(run)
    assert sorted(p.name for p in run.iterdir()) == ["results.csv"]


def _whole_grid(df: pd.DataFrame) -> pd.DataFrame:
    """The hand table with b's seed 3 (a copy of its seed 2: 90% never reached)."""
    extra = df[(df["strategy"] == "b") & (df["seed"] == 2)].assign(seed=3)
    return pd.concat([df, extra], ignore_index=True)


def test_write_summary_files(fx: SimpleNamespace, tmp_path: Path) -> None:
    run = fx.write_results_dir(tmp_path / "run", _whole_grid(hand_table()))
    assert write_summary(run) is None
    csv = pd.read_csv(run / "summary.csv")
    assert list(csv["strategy"]) == ["a", "b"]
    assert csv.loc[0, "labels_to_90_median"] == 30
    assert math.isnan(csv.loc[0, "labels_to_95_median"])
    md = (run / "summary.md").read_text()
    assert "| `a` | 4 | 40 | 91.5 ± 5.1 |" in md
    assert "30 [20, n.r.] (3/4)" in md
    assert "n.r. [40, n.r.] (2/4)" in md
    assert "n.r. [13.75, n.r.] (2/4)" in md  # b: 10, 15, never, never
    assert CONVENTIONS_MD in md
    per_seed = pd.read_csv(run / "per_seed.csv")
    assert list(per_seed.columns) == [
        "strategy", "seed", "final_n_labels", "final_accuracy", "aulc",
        "labels_to_90", "labels_to_95",
    ]  # fmt: skip
    assert len(per_seed) == 8
    per_seed_md = (run / "per_seed.md").read_text()
    assert "| Strategy | seed 0 | seed 1 | seed 2 | seed 3 |" in per_seed_md
    # 90%: a reaches it at 20, 40, 20, never; b at 10, 15, never, never.
    assert "| `a` | 20 | 40 | 20 | n.r. |" in per_seed_md
    assert "| `b` | 10 | 15 | n.r. | n.r. |" in per_seed_md
    assert "| `a` | 95.0 | 90.0 | 96.0 | 85.0 |" in per_seed_md  # final accuracy
    assert sorted(p.name for p in run.iterdir()) == [
        "per_seed.csv", "per_seed.md", "results.csv", "summary.csv", "summary.md",
    ]  # fmt: skip


def test_write_summary_without_results(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="bayesal run CONFIG --out"):
        write_summary(tmp_path / "missing")
