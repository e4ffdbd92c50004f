"""The labels-to-accuracy table beside the published MNIST numbers, from a hand-built table."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bayesal.report import write_report
from bayesal.report.published import (
    COMPARISON_CSV,
    COMPARISON_MD,
    GAL2017_INITIAL_LABELS,
    comparison_table,
    protocol_notes,
    published_table,
    write_comparison,
)
from bayesal.report.tables import labels_to_threshold_of_mean_curve

N_LABELS = [20, 30, 40, 50]
# label -> per seed accuracy at N_LABELS; first crossings noted by hand.
HAND = {
    "bald": {
        0: [0.80, 0.91, 0.95, 0.96],  # 90% at 30, 95% at 40
        1: [0.85, 0.89, 0.92, 0.95],  # 90% at 40, 95% at 50
        2: [0.90, 0.93, 0.96, 0.97],  # 90% at 20, 95% at 40
        3: [0.70, 0.80, 0.88, 0.91],  # 90% at 50, 95% never
    },
    "random": {s: [0.5, 0.6, 0.7, 0.8] for s in range(4)},  # never
    "vr": {s: [0.9, 0.95, 0.96, 0.97] for s in range(4)},  # 90% at 20, 95% at 30
}
CONFIG = {
    "name": "hand",
    "dataset": {"name": "mnist", "params": {}},
    "posterior": {"name": "mc_dropout", "num_samples": 100, "members": None},
    "strategies": [
        {"name": "random", "label": "random"},
        {"name": "bald", "label": "bald"},
        {"name": "variation_ratios", "label": "vr"},
    ],
    "initial_labels": 20,
    "acquisition_size": 10,
    "rounds": 3,
    "pool_subset": 2000,
    "test_subset": None,
}


def hand_table() -> pd.DataFrame:
    rows = []
    for label, per_seed in HAND.items():
        for seed, accs in per_seed.items():
            for r, (n, acc) in enumerate(zip(N_LABELS, accs, strict=True)):
                last = r == len(N_LABELS) - 1
                rows.append(
                    {
                        "strategy": label,
                        "seed": seed,
                        "round": r,
                        "n_labels": n,
                        "test_accuracy": acc,
                        "test_nll": 1 - acc,
                        "train_seconds": 1.0,
                        "score_seconds": 0.0 if last else 0.5,
                        "select_seconds": 0.0 if last else 0.1,
                        "eval_seconds": 0.2,
                        "acquired_ids": ""
                        if last
                        else " ".join(str(100 * r + i) for i in range(10)),
                    }
                )
    return pd.DataFrame(rows)


def _nan(x: float) -> bool:
    return isinstance(x, float) and math.isnan(x)


def test_published_numbers_and_their_conversion() -> None:
    pub = published_table()
    gal = pub[pub["source"] == "gal2017"].set_index(["strategy", "threshold"])
    expected = {
        "random": (255, 835),
        "bald": (145, 335),
        "variation_ratios": (120, 295),
        "entropy": (165, 355),
    }
    for name, (to_90, to_95) in expected.items():
        assert gal.loc[(name, 0.90), "as_published"] == to_90
        assert gal.loc[(name, 0.95), "as_published"] == to_95
        assert gal.loc[(name, 0.90), "labels"] == to_90 + GAL2017_INITIAL_LABELS
        assert gal.loc[(name, 0.95), "labels"] == to_95 + GAL2017_INITIAL_LABELS
    seed = pub[pub["source"] == "seed_study"].set_index("strategy")
    assert (seed["threshold"] == 0.95).all()
    assert seed["labels"].to_dict() == {"random": 670, "margin": 320, "entropy": 460, "bald": 400}
    assert (seed["labels"] == seed["as_published"]).all()  # total labels: no conversion


def test_mean_curve_crossing_by_hand() -> None:
    df = hand_table()
    bald = df[df["strategy"] == "bald"]
    # seed means per round: 0.8125, 0.8825, 0.9275, 0.9475
    assert labels_to_threshold_of_mean_curve(bald, 0.90) == 40
    assert math.isinf(labels_to_threshold_of_mean_curve(bald, 0.95))
    # a round missing from one seed does not count
    partial = bald[~((bald["seed"] == 3) & (bald["round"] == 2))]
    assert labels_to_threshold_of_mean_curve(partial, 0.90) == 50


def test_comparison_table_by_hand() -> None:
    table = comparison_table(
        hand_table(), initial_labels=20, strategy_names={"vr": "variation_ratios"}
    ).set_index("strategy")
    # arms in results order, then published strategies the results lack
    assert list(table.index) == ["bald", "random", "vr", "entropy", "margin"]

    bald = table.loc["bald"]
    # 90%: [30, 40, 20, 50] -> sorted 20 30 40 50: median 35, Q1 27.5, Q3 42.5
    assert (bald["labels_to_90_median"], bald["labels_to_90_q25"]) == (35, 27.5)
    assert bald["labels_to_90_q75"] == 42.5 and bald["labels_to_90_reached"] == 4
    # 95%: [40, 50, 40, inf] -> median 45, Q1 40, Q3 between 50 and inf: not reached
    assert (bald["labels_to_95_median"], bald["labels_to_95_q25"]) == (45, 40)
    assert _nan(bald["labels_to_95_q75"]) and bald["labels_to_95_reached"] == 3
    assert bald["labels_to_90_mean_curve"] == 40 and _nan(bald["labels_to_95_mean_curve"])
    assert bald["acquired_to_95_median"] == 25
    assert (bald["gal2017_acquired_to_90"], bald["gal2017_labels_to_90"]) == (145, 165)
    assert (bald["gal2017_acquired_to_95"], bald["gal2017_labels_to_95"]) == (335, 355)
    assert bald["seed_study_labels_to_95"] == 400

    random = table.loc["random"]
    assert random["labels_to_95_reached"] == 0 and _nan(random["labels_to_95_median"])
    assert random["gal2017_labels_to_95"] == 855 and random["seed_study_labels_to_95"] == 670

    vr = table.loc["vr"]
    assert vr["strategy_name"] == "variation_ratios"
    assert (vr["labels_to_90_median"], vr["labels_to_95_median"]) == (20, 30)
    assert vr["gal2017_labels_to_95"] == 315 and _nan(vr["seed_study_labels_to_95"])

    entropy, margin = table.loc["entropy"], table.loc["margin"]
    assert entropy["n_seeds"] == 0 and _nan(entropy["labels_to_95_median"])
    assert entropy["gal2017_labels_to_90"] == 185 and entropy["seed_study_labels_to_95"] == 460
    assert _nan(margin["gal2017_labels_to_95"]) and margin["seed_study_labels_to_95"] == 320


def test_write_comparison_files(tmp_path: Path) -> None:
    paths = write_comparison(tmp_path, hand_table(), CONFIG)
    assert [p.name for p in paths] == [COMPARISON_CSV, COMPARISON_MD]
    csv = pd.read_csv(tmp_path / COMPARISON_CSV)
    assert csv.loc[csv["strategy"] == "vr", "strategy_name"].item() == "variation_ratios"
    md = (tmp_path / COMPARISON_MD).read_text()
    lines = {line.split(" |")[0]: line for line in md.splitlines() if line.startswith("| `")}
    bald = lines["| `bald`"]
    assert "**35** [27.5, 42.5] (4/4)" in bald and "165 (145)" in bald
    assert "**45** [40, n.r.] (3/4)" in bald and "355 (335)" in bald and "| 400 |" in bald
    assert "**n.r.** [n.r., n.r.] (0/4)" in lines["| `random`"]
    assert "variation_ratios" in lines["| `vr` (variation_ratios)"]
    assert "20 + acquired" in md and "Counting conventions" in md
    assert "Not the Gal et al. protocol" in md  # 3 acquisitions, not 100


def test_protocol_notes_flag_differences() -> None:
    gal = {**CONFIG, "rounds": 100}
    notes = protocol_notes(gal)
    assert len(notes) == 1 and "K = 100" in notes[0] and "test set complete" in notes[0]
    quick = {**gal, "initial_labels": 10, "test_subset": 2000}
    flagged = protocol_notes(quick)[1]
    assert "initial_labels 10 (Gal et al.: 20)" in flagged and "test_subset 2000" in flagged
    assert protocol_notes(None) == []


@pytest.mark.parametrize(
    ("dataset", "published", "expected"),
    [("mnist", None, True), ("two_moons", None, False), ("two_moons", True, True),
     ("mnist", False, False)],
)  # fmt: skip
def test_write_report_adds_the_comparison_for_mnist(
    tmp_path: Path, dataset: str, published: bool | None, expected: bool
) -> None:
    hand_table().to_csv(tmp_path / "results.csv", index=False)
    config = {**CONFIG, "dataset": {"name": dataset, "params": {}}}
    (tmp_path / "config.resolved.yaml").write_text(yaml.safe_dump(config))
    written = write_report(tmp_path, published=published)
    names = [p.name for p in written]
    assert (COMPARISON_MD in names) is expected
    assert (tmp_path / COMPARISON_CSV).is_file() is expected
    assert names[:5] == [
        "summary.csv", "summary.md", "per_seed.csv", "per_seed.md", "learning_curves.png",
    ]  # fmt: skip
