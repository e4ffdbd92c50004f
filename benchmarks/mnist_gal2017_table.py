"""The Gal et al. (2017) protocol results as the table in the README and docs/mnist.md.

Reads a results directory written by ``bayesal run configs/mnist_gal2017.yaml`` and
prints one markdown table, rows sorted by the median labels to 95%: per strategy, labels
to reach 95% test accuracy for every seed (– = seed not run), their median [IQR]
(unreached seeds count as infinitely many labels, as in ``summary.md``), Gal et al.'s
Table 1 and the seed study in the same convention (all labels, the 20 initial ones
included), labels to 90%, and final accuracy (mean ± s.d. over seeds). Every number comes
from ``bayesal.report``.

    .venv/bin/python benchmarks/mnist_gal2017_table.py benchmarks/results/mnist_gal2017
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bayesal.report import load_results, per_seed_table, summary_table
from bayesal.report.published import published_number


def fmt(x: float) -> str:
    return "n.r." if math.isnan(x) or math.isinf(x) else f"{x:g}"


def published(source: str, strategy: str, threshold: float) -> str:
    number = published_number(source, strategy, threshold)
    return "–" if number is None else str(number.labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    args = parser.parse_args()
    df = load_results(args.results_dir, complete=False)  # partial studies print too
    per_seed = per_seed_table(df)
    summary = summary_table(df).sort_values(
        "labels_to_95_median", na_position="last", kind="stable"
    )
    seeds = sorted(per_seed["seed"].unique())

    print(
        "| Strategy | Labels to 95%, seeds " + ", ".join(map(str, seeds)) + " | median [IQR] "
        "| Gal et al. 2017 | seed study | Labels to 90%: median | Final acc. (%) |"
    )
    print("| :--- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for _, row in summary.iterrows():
        label = row["strategy"]
        runs = per_seed[per_seed["strategy"] == label].set_index("seed")
        by_seed = ", ".join(
            fmt(runs.loc[s, "labels_to_95"]) if s in runs.index else "–" for s in seeds
        )
        iqr = f"[{fmt(row['labels_to_95_q25'])}, {fmt(row['labels_to_95_q75'])}]"
        acc = f"{100 * row['final_accuracy_mean']:.1f}"
        if not math.isnan(row["final_accuracy_std"]):
            acc += f" ± {100 * row['final_accuracy_std']:.1f}"
        print(
            f"| `{label}` | {by_seed} | **{fmt(row['labels_to_95_median'])}** {iqr} "
            f"| {published('gal2017', label, 0.95)} | {published('seed_study', label, 0.95)} "
            f"| {fmt(row['labels_to_90_median'])} | {acc} |"
        )


if __name__ == "__main__":
    main()
