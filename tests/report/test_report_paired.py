"""Labels saved against random and the paired comparison over seeds (report/paired.py)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bayesal.errors import InvalidInputError
from bayesal.report import write_report
from bayesal.report.paired import (
    OTHER_POSTERIOR,
    arm_posteriors,
    labels_saved_interval,
    labels_saved_markdown,
    labels_saved_table,
    paired_markdown,
    paired_t_interval,
    paired_table,
    random_arms,
    saved_fraction_interval,
    sign_test_p,
    student_t_cdf,
    student_t_quantile,
    verdict_lines,
)

INF = math.inf
TIMINGS = ["train_seconds", "score_seconds", "select_seconds", "eval_seconds"]


def curves_table(curves: dict[str, dict[int, list[float]]], initial: int = 20, batch: int = 10):
    """A results table from ``{strategy: {seed: [accuracy per round]}}``: labels
    ``initial + batch * round``."""
    rows = []
    for strategy, seeds in curves.items():
        for seed, accs in seeds.items():
            for rnd, acc in enumerate(accs):
                rows.append(
                    {
                        "strategy": strategy,
                        "seed": seed,
                        "round": rnd,
                        "n_labels": initial + batch * rnd,
                        "test_accuracy": acc,
                        "test_nll": 0.5,
                        **dict.fromkeys(TIMINGS, 0.1),
                        "acquired_ids": "" if rnd == len(accs) - 1 else str(rnd),
                    }
                )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ the statistics


@pytest.mark.parametrize(
    "p, df, expected",
    [
        (0.975, 1, 12.7062),
        (0.975, 4, 2.7764),
        (0.975, 9, 2.2622),
        (0.975, 30, 2.0423),
        (0.95, 10, 1.8125),
        (0.995, 5, 4.0321),
        (0.975, 1e7, 1.95996),
        (0.025, 4, -2.7764),
        (0.5, 3, 0.0),
    ],
)
def test_student_t_quantile_matches_tables(p: float, df: float, expected: float) -> None:
    assert student_t_quantile(p, df) == pytest.approx(expected, abs=1e-4)
    assert student_t_cdf(student_t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)


def test_student_t_cdf_closed_forms() -> None:
    # df = 1 is Cauchy: F(t) = 1/2 + atan(t) / pi; df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    for t in (-3.0, -0.5, 0.0, 0.7, 5.0, 40.0):
        assert student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_paired_t_interval_by_hand() -> None:
    d = [0.02, 0.025, 0.03, 0.035, 0.04]  # mean 0.03, s.d. 0.0079057
    half = 2.776445 * float(np.std(d, ddof=1)) / math.sqrt(5)
    low, high = paired_t_interval(d)
    assert (low, high) == pytest.approx((0.03 - half, 0.03 + half), abs=1e-7)
    assert paired_t_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert all(math.isnan(x) for x in paired_t_interval([1.0]))


@pytest.mark.parametrize(
    "wins, losses, p",
    [(5, 0, 0.0625), (0, 5, 0.0625), (6, 0, 0.03125), (3, 2, 1.0), (0, 0, 1.0), (8, 1, 0.0390625)],
)
def test_sign_test_exact(wins: int, losses: int, p: float) -> None:
    assert sign_test_p(wins, losses) == pytest.approx(p, abs=1e-15)


def test_labels_saved_intervals_by_hand() -> None:
    # Both reach: exact. Only the strategy: random needs more than its budget of 200.
    assert labels_saved_interval(100, 60, 200, 200) == (40, 40)
    assert labels_saved_interval(INF, 60, 200, 200) == (140, INF)
    # Only random reaches: the strategy needs more than its 150, saving at most -50.
    assert labels_saved_interval(100, INF, 200, 150) == (-INF, -50)
    assert labels_saved_interval(INF, INF, 200, 200) == (-INF, INF)
    assert saved_fraction_interval(100, 60, 200, 200) == pytest.approx((0.4, 0.4))
    assert saved_fraction_interval(INF, 60, 200, 200) == (pytest.approx(0.7), INF)
    assert saved_fraction_interval(100, INF, 200, 150) == (-INF, pytest.approx(-0.5))
    assert saved_fraction_interval(INF, INF, 200, 200) == (-INF, INF)


# ----------------------------------------------------------------------------- savings

CENSORED = {
    # labels per round 20, 30, 40, 50 (budget 50)
    "random": {0: [0.5, 0.7, 0.85, 0.91], 1: [0.5, 0.6, 0.8, 0.88], 2: [0.5, 0.8, 0.9, 0.95]},
    "bald": {0: [0.6, 0.9, 0.95, 0.97], 1: [0.5, 0.85, 0.92, 0.96], 2: [0.5, 0.7, 0.8, 0.85]},
}


def test_labels_saved_by_hand_with_censored_runs() -> None:
    saved = labels_saved_table(curves_table(CENSORED), thresholds=(0.95, 0.9))
    assert list(saved["threshold"]) == [0.9, 0.95] and list(saved["strategy"]) == ["bald"] * 2
    at90, at95 = saved.iloc[0], saved.iloc[1]
    # 90%: random 50, n.r. (> 50), 40; bald 30, 40, n.r. (> 50). Per seed: 20 exact,
    # >= 50 - 40 = 10, <= 40 - 50 = -10. Median of lows (20, 10, -inf) = 10, of highs
    # (20, inf, -10) = 20.
    assert at90["n_pairs"] == 3 and at90["pairs_censored"] == 2
    assert (at90["saved_median_low"], at90["saved_median_high"]) == (10, 20)
    # As % of random: 40% exact, >= 1 - 40/50 = 20%, <= 1 - 50/40 = -25%: median 20 to 40.
    assert at90["saved_pct_median_low"] == pytest.approx(20)
    assert at90["saved_pct_median_high"] == pytest.approx(40)
    # Mean curves: random 0.5, 0.7, 0.85, 0.913 -> 50; bald .53, .817, .89, .927 -> 50.
    assert at90["mean_curve_reference_labels"] == 50 and at90["mean_curve_strategy_labels"] == 50
    assert (at90["mean_curve_saved_low"], at90["mean_curve_saved_high"]) == (0, 0)
    # 95%: random n.r., n.r., 50; bald 40, 50, n.r.: >= 10, >= 0, <= 0 -> median >= 0.
    assert (at95["saved_median_low"], at95["saved_median_high"]) == (0, INF)
    assert at95["pairs_censored"] == 3
    # Neither mean curve reaches 95% (0.913, 0.927): unknown, not dropped.
    assert at95["mean_curve_reference_labels"] == INF
    assert at95["mean_curve_strategy_labels"] == INF
    assert (at95["mean_curve_saved_low"], at95["mean_curve_saved_high"]) == (-INF, INF)

    md = labels_saved_markdown(saved)
    assert "| `bald` | +10 to +20 | +20% to +40% | 2/3 | 50 | 50 | +0 | +0% |" in md
    assert "| `bald` | ≥ +0 | ≥ +0% | 3/3 | n.r. | n.r. | unknown | unknown |" in md


def test_labels_saved_exact_and_its_percentage() -> None:
    curves = {
        "random": {0: [0.5, 0.6, 0.7, 0.9], 1: [0.5, 0.6, 0.9, 0.95]},  # 50, 40
        "margin": {0: [0.5, 0.9, 0.95, 0.96], 1: [0.9, 0.92, 0.95, 0.97]},  # 30, 20
    }
    saved = labels_saved_table(curves_table(curves), thresholds=(0.9,)).iloc[0]
    # Per seed 20 (40%) and 20 (50%): median 20 labels, 45%.
    assert (saved["saved_median_low"], saved["saved_median_high"]) == (20, 20)
    assert saved["saved_pct_median_low"] == pytest.approx(45)
    # Mean curves: random (.5, .6, .8, .925) -> 50; margin (.7, .91, ...) -> 30.
    assert (saved["mean_curve_saved_low"], saved["mean_curve_saved_pct_low"]) == (
        20,
        pytest.approx(40),
    )
    assert saved["pairs_censored"] == 0


def test_labels_saved_needs_a_random_arm() -> None:
    df = curves_table({"bald": CENSORED["bald"], "margin": CENSORED["random"]})
    with pytest.raises(InvalidInputError, match="no 'random' arm"):
        labels_saved_table(df)


# ------------------------------------------------------------------------------ paired


def _shifted(deltas: list[float], n_rounds: int = 6) -> dict[str, dict[int, list[float]]]:
    """Random with seed noise, and ``good`` = random + deltas[seed] in every round."""
    rng = np.random.default_rng(0)
    random = {
        s: list(np.clip(0.5 + 0.07 * np.arange(n_rounds) + rng.normal(0, 0.03, n_rounds), 0, 0.9))
        for s in range(len(deltas))
    }
    good = {s: [a + deltas[s] for a in accs] for s, accs in random.items()}
    return {"random": random, "good": good}


def _row(summary: pd.DataFrame, strategy: str, metric: str, role: str = "random") -> pd.Series:
    rows = summary[
        (summary["strategy"] == strategy)
        & (summary["metric"] == metric)
        & (summary["reference_role"] == role)
    ]
    assert len(rows) == 1
    return rows.iloc[0]


def test_identical_arms_are_within_seed_noise() -> None:
    curves = _shifted([0.0] * 5)
    curves["same"] = curves.pop("good")
    summary, per_seed = paired_table(curves_table(curves), thresholds=(0.8,))
    for metric in ("aulc", "labels_to_80"):
        row = _row(summary, "same", metric)
        assert row["verdict"] == "within seed noise"
        assert (row["wins"], row["losses"], row["ties"]) == (0, 0, 5)
        assert row["mean_diff"] == 0 and row["sign_test_p"] == 1.0
    assert (per_seed["diff_low"] == 0).all()


def test_better_on_every_seed_is_more_than_seed_noise() -> None:
    deltas = [0.02, 0.025, 0.03, 0.035, 0.04]
    curves = _shifted(deltas)
    curves["same"] = dict(curves["random"])  # random's curves under another label
    summary, per_seed = paired_table(curves_table(curves), thresholds=(0.8,))
    row = _row(summary, "good", "aulc")
    # AULC is linear in the curve: the per-seed difference is the shift itself.
    aulc = per_seed[
        (per_seed["metric"] == "aulc")
        & (per_seed["reference_role"] == "random")
        & (per_seed["strategy"] == "good")
    ]
    assert list(aulc["diff_low"]) == pytest.approx(deltas)
    assert row["mean_diff"] == pytest.approx(0.03)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(paired_t_interval(deltas))
    assert row["ci_low"] > 0 and row["test"] == "paired t"
    assert row["verdict"] == "more than seed noise (better)"
    assert (row["wins"], row["losses"]) == (5, 0) and row["sign_test_p"] == 0.0625
    # The best strategy by AULC is `good`: `same` compared against it is worse; random
    # against it is not repeated (good against random, mirrored).
    worse = _row(summary, "same", "aulc", role="best")
    assert worse["reference"] == "good" and worse["verdict"] == "more than seed noise (worse)"
    assert worse["mean_diff"] == pytest.approx(-0.03)
    best_rows = summary[summary["reference_role"] == "best"]
    assert set(best_rows["strategy"]) == {"same"}


def test_mixed_signs_are_within_seed_noise() -> None:
    summary, _ = paired_table(
        curves_table(_shifted([0.03, -0.02, 0.01, -0.03, 0.02])), thresholds=(0.8,)
    )
    row = _row(summary, "good", "aulc")
    assert row["mean_diff"] == pytest.approx(0.002)
    assert row["ci_low"] < 0 < row["ci_high"] and row["verdict"] == "within seed noise"
    assert (row["wins"], row["losses"]) == (3, 2)


@pytest.mark.parametrize(
    "n_seeds, verdict", [(6, "more than seed noise (better)"), (5, "run more")]
)
def test_censored_labels_use_the_sign_test(n_seeds: int, verdict: str) -> None:
    # Random never reaches 90% within 50 labels; bald reaches it at 40 on every seed.
    curves = {
        "random": {s: [0.5, 0.6, 0.7, 0.8 + 0.01 * s] for s in range(n_seeds)},
        "bald": {s: [0.5, 0.7, 0.9, 0.95] for s in range(n_seeds)},
    }
    summary, per_seed = paired_table(curves_table(curves), thresholds=(0.9,))
    row = _row(summary, "bald", "labels_to_90")
    assert row["test"] == "sign test (censored runs)" and row["censored"] == n_seeds
    assert math.isnan(row["mean_diff"]) and math.isnan(row["ci_low"])
    assert (row["wins"], row["losses"]) == (n_seeds, 0)
    assert row["sign_test_p"] == pytest.approx(2 / 2**n_seeds)
    assert verdict in row["verdict"]
    labels = per_seed[(per_seed["metric"] == "labels_to_90") & (per_seed["reference"] == "random")]
    assert (labels["diff_low"] == 10).all() and (labels["diff_high"] == INF).all()
    md = paired_markdown(summary, per_seed)
    assert "≥ +10, ≥ +10" in md and "– (censored)" in md


def test_both_censored_is_unknown_not_a_tie() -> None:
    curves = {
        "random": {s: [0.5, 0.6, 0.7] for s in range(3)},
        "bald": {s: [0.5, 0.7, 0.8] for s in range(3)},
    }
    summary, _ = paired_table(curves_table(curves), thresholds=(0.9,))
    row = _row(summary, "bald", "labels_to_90")
    assert (row["wins"], row["losses"], row["ties"], row["unknown"]) == (0, 0, 0, 3)
    assert row["sign_test_p"] == 1.0 and "within seed noise" in row["verdict"]


def test_without_random_only_the_best_is_a_reference(tmp_path: Path, fx: SimpleNamespace) -> None:
    df = fx.synthetic_results({"bald": 25.0, "entropy": 35.0}, n_rounds=6)
    summary, _ = paired_table(df)
    assert set(summary["reference_role"]) == {"best"} and set(summary["reference"]) == {"bald"}
    run = fx.write_results_dir(tmp_path / "run", df)
    (run / "labels_saved.md").write_text("stale")
    names = [p.name for p in write_report(run)]
    assert "labels_saved.csv" not in names and not (run / "labels_saved.md").exists()
    assert "No `random` arm in these results" in (run / "paired.md").read_text()
    lines = verdict_lines(run)
    assert lines[0].startswith("no 'random' arm") and "against 'bald'" in lines[1]


def test_write_report_writes_the_tables_and_the_terminal_lines(results_dir: Path) -> None:
    write_report(results_dir)
    saved = pd.read_csv(results_dir / "labels_saved.csv")
    assert list(saved["strategy"].unique()) == ["bald", "batchbald", "entropy"]
    summary = pd.read_csv(results_dir / "paired.csv")
    per_seed = pd.read_csv(results_dir / "paired_per_seed.csv")
    assert set(summary["reference_role"]) == {"random", "best"}
    assert len(per_seed) == int(summary["n_seeds"].sum())
    md = (results_dir / "paired.md").read_text()
    assert "## Against `random`" in md and "Against the best strategy by mean AULC" in md
    lines = verdict_lines(results_dir)
    assert lines[0] == "paired over 5 seeds, against 'random' (positive = better):"
    assert [line.split(":")[0] for line in lines[1:]] == ["  bald", "  batchbald", "  entropy"]
    assert all("seed noise" in line and "to 95%" in line for line in lines[1:])


def test_a_single_strategy_has_nothing_to_compare(tmp_path: Path, fx: SimpleNamespace) -> None:
    run = fx.write_results_dir(tmp_path / "run", fx.synthetic_results({"random": 60.0}))
    write_report(run)
    assert pd.read_csv(run / "paired.csv").empty
    assert "No comparison: the results hold a single strategy." in (run / "paired.md").read_text()
    assert pd.read_csv(run / "labels_saved.csv").empty
    assert verdict_lines(run) == []


def test_an_arm_under_another_posterior_is_not_compared_with_random() -> None:
    curves = _shifted([0.02, 0.025, 0.03, 0.035, 0.04])
    posteriors = {"random": "mc_dropout", "good": "ensemble"}
    summary, _ = paired_table(curves_table(curves), thresholds=(0.8,), posteriors=posteriors)
    against_random = summary[
        (summary["reference_role"] == "random") & (summary["strategy"] == "good")
    ]
    assert set(against_random["verdict"]) == {OTHER_POSTERIOR}
    assert against_random["n_seeds"].tolist() == [0, 0]
    # Under the same posterior the same curves are compared as before.
    posteriors["good"] = "mc_dropout"
    summary, _ = paired_table(curves_table(curves), thresholds=(0.8,), posteriors=posteriors)
    assert _row(summary, "good", "aulc")["verdict"] == "more than seed noise (better)"


def test_the_report_reads_each_arms_posterior_from_the_resolved_config() -> None:
    config = {
        "posterior": {"name": "mc_dropout"},
        "strategies": [
            {"label": "random"},
            {"label": "bald"},
            {"label": "bald_ens", "posterior": {"name": "ensemble"}},
        ],
    }
    posteriors = arm_posteriors(config)
    assert posteriors["random"] == posteriors["bald"] != posteriors["bald_ens"]
    assert arm_posteriors(None) == {}


def test_a_posterior_comparison_compares_each_arm_with_the_random_arm_of_its_posterior() -> None:
    curves = _shifted([0.02, 0.025, 0.03, 0.035, 0.04])
    curves["random_ens"] = dict(curves["random"])
    curves["good_ens"] = dict(curves["good"])
    config = {
        "posterior": {"name": "mc_dropout"},
        "strategies": [
            {"name": "random", "label": "random"},
            {"name": "bald", "label": "good"},
            {"name": "random", "label": "random_ens", "posterior": {"name": "ensemble"}},
            {"name": "bald", "label": "good_ens", "posterior": {"name": "ensemble"}},
        ],
    }
    summary, _ = paired_table(
        curves_table(curves),
        thresholds=(0.8,),
        posteriors=arm_posteriors(config),
        random_for=random_arms(config),
    )
    against = summary[(summary["reference_role"] == "random") & (summary["metric"] == "aulc")]
    assert dict(zip(against["strategy"], against["reference"], strict=True)) == {
        "good": "random",
        "good_ens": "random_ens",
    }
    assert set(against["verdict"]) == {"more than seed noise (better)"}
