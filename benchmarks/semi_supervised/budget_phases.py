"""In which rounds did the ``budget_aware`` arm of a study pick by coverage (ProbCover)
and in which by its ``late`` uncertainty score? Re-runs the arm's trials in this process
with the strategy's coverage recorded, checks that the picks equal the committed
``results.csv`` (so the phases are those of the committed run), and writes one JSON file.

    flock /tmp/bayesal-heavy.lock .venv/bin/python benchmarks/semi_supervised/budget_phases.py \\
        configs/mnist_semi_gp.yaml benchmarks/results/mnist_semi_gp/results.csv \\
        --out benchmarks/results/mnist_semi_gp/budget_phases.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import bayesal.acquisition.coverage as cov
from bayesal.experiment import load_config
from bayesal.experiment.trial import compute_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--label", default="budget_aware")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = load_config(args.config)
    committed: dict[tuple[int, int], list[int]] = {}
    with args.results.open() as f:
        for row in csv.DictReader(f):
            if row["strategy"] == args.label:
                ids = row["acquired_ids"].replace(";", " ").replace(",", " ").split()
                committed[(int(row["seed"]), int(row["round"]))] = [int(i) for i in ids]
    seen: list[float] = []
    measured = cov.coverage

    def recording(*a: Any, **k: Any) -> float:
        value = float(measured(*a, **k))
        seen.append(value)
        return value

    cov.coverage = recording  # type: ignore[assignment]
    strategy = next(s for s in config.strategies if s.label == args.label)
    switch = float(strategy.params.get("switch_coverage", 0.9))
    seeds = range(args.seeds) if args.seeds is not None else list(config.seeds)
    out: dict[str, Any] = {"config": str(args.config), "label": args.label, "seeds": []}
    for seed in seeds:
        seen.clear()
        result = compute_trial(config, args.label, seed)
        same = all(
            committed.get((seed, r.round)) == [int(i) for i in r.acquired_ids]
            for r in result.records
            if r.acquired_ids
        )
        first_late = next((i for i, c in enumerate(seen) if c >= switch), None)
        out["seeds"].append(
            {
                "seed": seed,
                "picks_equal_committed": same,
                "coverage_per_round": [round(c, 4) for c in seen],
                "rounds": len(seen),
                "coverage_rounds": sum(c < switch for c in seen),
                "late_rounds": sum(c >= switch for c in seen),
                "first_late_round": first_late,
            }
        )
        print(out["seeds"][-1]["seed"], same, first_late, flush=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
