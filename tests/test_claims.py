"""The numbers and verdicts that READMEs and docs state agree with the committed raw files
(benchmarks/claims.py); reads committed files only."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesal.report.paired import arm_posteriors, paired_table, random_arms
from bayesal.report.results_io import load_results, read_resolved_config
from bayesal.report.task_report import (
    configured_task_thresholds,
    is_task_results,
    task_paired_table,
)

ROOT = Path(__file__).resolve().parents[1]


def _load_claims():  # benchmarks/ is not a package: load the script as a module
    spec = importlib.util.spec_from_file_location("bayesal_claims", ROOT / "benchmarks/claims.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bayesal_claims"] = module
    spec.loader.exec_module(module)
    return module


claims = _load_claims()


def test_every_registered_claim_in_the_repository_matches_its_raw_data() -> None:
    failures = claims.check(ROOT)
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize(
    "study",
    sorted(
        p.parent.name
        for p in (ROOT / "benchmarks/results").glob("*/paired.csv")
        if (p.parent / "results.csv").is_file()
    ),
)
def test_committed_paired_verdicts_equal_the_recomputation_from_results_csv(study: str) -> None:
    directory = ROOT / "benchmarks/results" / study
    committed = pd.read_csv(directory / "paired.csv")
    config = read_resolved_config(directory)
    results = load_results(directory)
    if is_task_results(results):  # a task study: its report's paired table
        recomputed, _ = task_paired_table(results, configured_task_thresholds(config), config)
    else:
        thresholds = sorted(
            int(m.rsplit("_", 1)[1]) / 100
            for m in committed["metric"].unique()
            if m.startswith("labels_to_")
        )
        recomputed, _ = paired_table(
            results,
            thresholds,
            posteriors=arm_posteriors(config) or None,
            random_for=random_arms(config),
        )
    keys = ["strategy", "reference", "metric"]
    merged = committed.merge(recomputed, on=keys, suffixes=("_committed", "_recomputed"))
    assert len(merged) == len(committed) == len(recomputed)
    assert (merged["verdict_committed"] == merged["verdict_recomputed"]).all()
    assert (merged["wins_committed"] == merged["wins_recomputed"]).all()
    assert np.allclose(
        merged["mean_diff_committed"], merged["mean_diff_recomputed"], equal_nan=True
    )


# ------------------------------------------------------------------ a synthetic tiny study


def _write_study(root: Path, diffs: list[float]) -> None:
    """benchmarks/results/toy/results.csv: random and bald over len(diffs) seeds, 3 rounds;
    bald's accuracy is random's plus diffs[seed] at every round after the first."""
    rows = []
    for seed, diff in enumerate(diffs):
        for label, extra in (("random", 0.0), ("bald", diff)):
            for rnd in range(3):
                rows.append(
                    {
                        "strategy": label,
                        "seed": seed,
                        "round": rnd,
                        "n_labels": 10 + 10 * rnd,
                        "test_accuracy": 0.5 + 0.1 * rnd + 0.01 * seed + (extra if rnd else 0.0),
                        "test_nll": 1.0,
                        "train_seconds": 1.0,
                        "score_seconds": 0.5,
                        "select_seconds": 0.0,
                        "eval_seconds": 0.25,
                        "acquired_ids": "" if rnd == 2 else f"{3 * rnd + seed}",
                    }
                )
    study = root / "benchmarks/results/toy"
    study.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(study / "results.csv", index=False)


TOY_CLAIM = [
    claims.Claim(
        "README.md",
        "BALD " + claims.VERDICT + " random (AULC {mean:+.1f} points, {wins}/{losses})",
        claims.paired("toy", "bald"),
    )
]
# bald better on 3 seeds, worse on 2: AULC +2.1 points, 3/2, within seed noise.
NOISY = [0.06, -0.02, 0.06, -0.02, 0.06]
# bald better on every seed: AULC +4.3 points, 5/0, more than seed noise.
CLEAR = [0.06, 0.05, 0.06, 0.055, 0.06]


def test_a_readme_saying_beats_random_fails_where_the_paired_verdict_is_within_noise(
    tmp_path: Path,
) -> None:
    _write_study(tmp_path, NOISY)
    (tmp_path / "README.md").write_text("On toy, BALD beats random (AULC +2.1 points, 3/2).\n")
    failures = claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"])
    assert "expected 'BALD is within seed noise of random (AULC +2.1 points, 3/2)'" in failures[0]
    # ... and the "beats random" it does say is then outside every claim:
    assert "'beats random' is stated outside every registered claim" in failures[1]


def test_a_readme_saying_within_seed_noise_passes_where_the_paired_verdict_is_within_noise(
    tmp_path: Path,
) -> None:
    _write_study(tmp_path, NOISY)
    (tmp_path / "README.md").write_text(
        "On toy, BALD is within seed\nnoise of random (AULC +2.1 points, 3/2).\n"
    )
    assert claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"]) == []


def test_a_readme_saying_beats_random_passes_where_the_paired_verdict_is_better(
    tmp_path: Path,
) -> None:
    _write_study(tmp_path, CLEAR)
    (tmp_path / "README.md").write_text("BALD beats random (AULC +4.3 points, 5/0).\n")
    assert claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"]) == []


def test_a_readme_with_a_wrong_wins_losses_count_fails(tmp_path: Path) -> None:
    _write_study(tmp_path, CLEAR)
    (tmp_path / "README.md").write_text("BALD beats random (AULC +4.3 points, 4/1).\n")
    failures = claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"])
    assert "expected 'BALD beats random (AULC +4.3 points, 5/0)'" in failures[0]


def test_a_readme_with_a_wrong_number_fails(tmp_path: Path) -> None:
    _write_study(tmp_path, CLEAR)
    (tmp_path / "README.md").write_text("BALD beats random (AULC +5.0 points, 5/0).\n")
    failures = claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"])
    assert "expected 'BALD beats random (AULC +4.3 points, 5/0)'" in failures[0]


def test_beats_random_stated_outside_every_registered_claim_fails(tmp_path: Path) -> None:
    _write_study(tmp_path, CLEAR)
    (tmp_path / "README.md").write_text(
        "BALD beats random (AULC +4.3 points, 5/0).\n\nAnd margin beats random on every seed.\n"
    )
    failures = claims.check(tmp_path, TOY_CLAIM, files=[tmp_path / "README.md"])
    assert len(failures) == 2
    assert all("outside every registered claim" in f for f in failures)


def test_every_vs_says_not_every_strategy_beats_random_when_one_is_within_noise(
    tmp_path: Path,
) -> None:
    _write_study(tmp_path, NOISY)
    values = claims.every_vs("toy")(tmp_path)
    assert format(values["all"], "every|not every") == "not every"
    assert (values["better"], values["n"]) == (0, 1)


def test_trial_seconds_sums_the_timings_of_every_round_of_a_trial(tmp_path: Path) -> None:
    _write_study(tmp_path, CLEAR)
    values = claims.trial_seconds("toy")(tmp_path)
    assert values["median"] == pytest.approx(3 * 1.75)
    assert values["n"] == 10


def test_mean_curve_reports_a_dip_below_the_threshold_after_the_first_crossing(
    tmp_path: Path,
) -> None:
    study = tmp_path / "benchmarks/results/curve"
    study.mkdir(parents=True)
    accuracy = [0.90, 0.99, 0.97, 0.96, 0.985, 0.99]
    pd.DataFrame(
        {
            "strategy": "bald",
            "seed": 0,
            "round": range(6),
            "n_labels": [20, 21, 22, 23, 24, 25],
            "test_accuracy": accuracy,
            "test_nll": 1.0,
            "train_seconds": 0.0,
            "score_seconds": 0.0,
            "select_seconds": 0.0,
            "eval_seconds": 0.0,
            "acquired_ids": ["1", "2", "3", "4", "5", ""],
        }
    ).to_csv(study / "results.csv", index=False)
    values = claims.mean_curve("curve", "bald", 0.98)(tmp_path)
    assert (values["first"], values["dip_from"], values["dip_to"], values["settled"]) == (
        21,
        22,
        23,
        24,
    )
    assert format(values["stays"], "stays|falls back") == "falls back"
    assert values["dip_min"] == pytest.approx(96.0)


def test_the_old_ensemble_readme_saying_every_strategy_beats_random_fails_on_the_real_results(
    tmp_path: Path,
) -> None:
    """The statement issue 21 found, against the committed mnist_encoder_ensemble results:
    BALD against random is within seed noise there, so "every strategy beats random" and
    "BALD +2.0, 5/0" must fail."""
    study = "benchmarks/results/mnist_encoder_ensemble"
    (tmp_path / study).mkdir(parents=True)
    for name in ("results.csv", "config.resolved.yaml", "results.manifest.json", "paired.csv"):
        (tmp_path / study / name).write_bytes((ROOT / study / name).read_bytes())
    readme = tmp_path / study / "README.md"
    readme.write_text(
        "With the ensemble every strategy beats random on AULC over the 5 seeds (paired: "
        "margin +4.7, PowerBALD +3.3, TypiClust +3.0, EPIG +2.4 points, 5/0 each; BALD "
        "+2.0, 5/0).\n"
    )
    ours = [c for c in claims.CLAIMS if c.file == f"{study}/README.md"]
    failures = claims.check(tmp_path, ours, files=[readme])
    assert any("4 of the 5 strategies beat random" in f for f in failures)
    assert any("BALD is within seed noise of random: +2.0 [-0.2, +4.3], 4/1" in f for f in failures)
    assert any("'every strategy beats' is stated outside" in f for f in failures)
