"""The stopping report (stopping.csv / .md, figures/stopping.png) on synthetic results."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from bayesal.errors import InvalidInputError
from bayesal.report import load_results, stopping_table, write_report
from bayesal.report.stopping import (
    STOPPING_COLUMNS,
    plot_stopping,
    run_evidence,
    stopping_markdown,
    stopping_rules,
)
from bayesal.stopping import get_stopping_rule

RULES = [
    {"name": "budget", "label": "budget", "params": {"max_labels": 30}},
    {"name": "stabilizing_predictions", "label": "sp", "params": {"threshold": 0.9}},
    {"name": "accuracy_plateau", "label": "plateau", "params": {"window": 3}},
]


def with_evidence(df: pd.DataFrame) -> pd.DataFrame:
    """Stopping columns: kappa rising to 1 with the round, BALD falling."""
    out = df.copy()
    r = out["round"].to_numpy()
    out["stop_agreement"] = np.where(r == 0, np.nan, 1 - 0.5 / (1 + r))
    out["stop_mean_entropy"] = 1.0 / (1 + r)
    out["stop_mean_bald"] = 0.2 / (1 + r)
    return out


def write_dir(fx: SimpleNamespace, root: Path, df: pd.DataFrame, rules: list) -> Path:
    fx.write_results_dir(root, df)
    config = {"name": "synthetic", "rounds": int(df["round"].max()), "stopping": {"rules": rules}}
    (root / "config.resolved.yaml").write_text(yaml.safe_dump(config))
    return root


def test_run_evidence_reads_the_columns(fx: SimpleNamespace) -> None:
    df = with_evidence(fx.synthetic_results({"bald": 25.0}, seeds=(0,), n_rounds=3))
    evidence = run_evidence(df)
    assert [e.n_labels for e in evidence] == [10, 15, 20, 25]
    assert evidence[0].agreement is None and evidence[1].agreement == pytest.approx(0.75)
    assert evidence[2].uncertainty == pytest.approx({"entropy": 1 / 3, "bald": 0.2 / 3})
    assert evidence[3].accuracy == pytest.approx(df["test_accuracy"].iloc[3])
    bare = run_evidence(fx.synthetic_results({"bald": 25.0}, seeds=(0,), n_rounds=1))
    assert all(e.agreement is None and e.uncertainty == {} for e in bare)


def test_stopping_table_definitions(fx: SimpleNamespace) -> None:
    df = with_evidence(fx.synthetic_results({"bald": 25.0, "random": 60.0}, seeds=(0, 1)))
    rules = {r["label"]: get_stopping_rule(r["name"], **r["params"]) for r in RULES}
    table = stopping_table(df, rules)
    assert tuple(table.columns) == STOPPING_COLUMNS and len(table) == 2 * 2 * 3
    budget = table[table["rule"] == "budget"]
    assert (budget["stop_round"] == 4).all() and (budget["labels_at_stop"] == 30).all()
    # kappa_r = 1 - 0.5 / (1 + r): the mean over rounds r-2..r is 0.897 at r = 5, 0.915 at 6
    sp = table[table["rule"] == "sp"]
    assert (sp["stop_round"] == 6).all()
    assert sp["reason"].str.startswith("kappa 0.900, 0.917, 0.929 over the last 3 rounds").all()
    for _, row in table.iterrows():
        run = df[(df["strategy"] == row["strategy"]) & (df["seed"] == row["seed"])]
        acc = run["test_accuracy"].to_numpy()
        assert row["final_accuracy"] == acc[-1] and row["final_labels"] == 110
        first = int(np.argmax(acc >= acc[-1] - 0.01 - 1e-6))
        assert row["labels_to_final_minus_1pt"] == run["n_labels"].iloc[first]
        if row["rule"] == "plateau" and not pd.isna(row["stop_round"]):
            a = acc[: int(row["stop_round"]) + 1]
            assert a[-3:].max() - a[:-3].max() < 0.005
            assert row["accuracy_at_stop"] == a[-1]


def test_a_rule_that_never_stops(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = fx.synthetic_results({"bald": 25.0}, seeds=(0, 1), n_rounds=4)  # no evidence columns
    table = stopping_table(df, {"sp": get_stopping_rule("stabilizing_predictions")})
    assert table["stop_round"].isna().all() and table["labels_at_stop"].isna().all()
    assert table["accuracy_at_stop"].isna().all()
    assert (table["reason"] == "no stop-set agreement recorded").all()
    md = stopping_markdown(table)
    assert "| `bald` | `sp` | 0/2 | never (s0: never, s1: never) | – |" in md
    path = plot_stopping(df, table, tmp_path / "never.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_write_report_with_rules(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = with_evidence(fx.synthetic_results(seeds=(0, 1, 2), n_rounds=12))
    root = write_dir(fx, tmp_path / "run", df, RULES)
    written = {p.relative_to(root).as_posix() for p in write_report(root)}
    assert {"stopping.csv", "stopping.md", "figures/stopping.png"} <= written
    table = pd.read_csv(root / "stopping.csv")
    assert tuple(table.columns) == STOPPING_COLUMNS
    assert len(table) == 4 * 3 * 3
    assert list(table["rule"].unique()) == ["budget", "sp", "plateau"]
    assert load_results(root)["stop_mean_bald"].dtype == float
    md = (root / "stopping.md").read_text()
    assert md.startswith("# Stopping rules: `run`") and "How to read this table" in md


def test_no_rules_no_stopping_files(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = with_evidence(fx.synthetic_results(seeds=(0, 1), n_rounds=3))
    root = write_dir(fx, tmp_path / "run", df, [])
    names = {p.name for p in write_report(root)}
    assert not {"stopping.csv", "stopping.md", "stopping.png"} & names


def test_an_unbuildable_rule_is_skipped_with_a_warning(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = fx.synthetic_results(seeds=(0, 1), n_rounds=3)
    root = write_dir(fx, tmp_path / "run", df, [{"name": "not_a_rule"}])
    with pytest.warns(UserWarning, match="skipping the stopping report: unknown stopping rule"):
        names = {p.name for p in write_report(root)}
    assert "summary.csv" in names and "stopping.csv" not in names


def test_stopping_rules_of_a_config() -> None:
    assert stopping_rules(None) == {} and stopping_rules({"stopping": None}) == {}
    rules = stopping_rules({"stopping": {"rules": RULES}})
    assert list(rules) == ["budget", "sp", "plateau"] and rules["sp"].threshold == 0.9  # type: ignore[attr-defined]
    unlabelled = {"name": "budget", "params": {"max_labels": 3}}
    assert list(stopping_rules({"stopping": {"rules": [unlabelled]}})) == ["budget"]
    with pytest.raises(InvalidInputError, match="appears twice"):
        stopping_rules({"stopping": {"rules": [RULES[0], RULES[0]]}})
    with pytest.raises(InvalidInputError, match="not a mapping"):
        stopping_rules({"stopping": {"rules": ["budget"]}})
    with pytest.raises(InvalidInputError, match="max_labels"):
        stopping_rules({"stopping": {"rules": [{"name": "budget"}]}})


def test_non_numeric_evidence_is_refused(fx: SimpleNamespace, tmp_path: Path) -> None:
    df = with_evidence(fx.synthetic_results(seeds=(0,), n_rounds=2)).astype(
        {"stop_agreement": object}
    )
    df.loc[1, "stop_agreement"] = "high"
    root = tmp_path / "bad"
    fx.write_results_dir(root, df)
    with pytest.raises(InvalidInputError, match="column 'stop_agreement' must hold numbers"):
        load_results(root)
    good = with_evidence(fx.synthetic_results(seeds=(0,), n_rounds=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_results(fx.write_results_dir(tmp_path / "ok", good))
    assert math.isnan(loaded["stop_agreement"].iloc[0])  # "nan" in round 0 reads as NaN
