"""Claims of the segmentation study (issue 23: ``configs/shapes_segmentation.yaml``,
``benchmarks/results/shapes_segmentation``): every number and verdict its README, the
segmentation tutorial and docs/tasks.md state, recomputed from the committed results.csv
by ``bayesal.report.task_report`` (the code that writes summary.md and paired.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayesal.report.results_io import load_results, read_resolved_config
from bayesal.report.task_report import (
    configured_task_thresholds,
    task_paired_table,
    task_summary_table,
)

STUDY = "shapes_segmentation"
DIRECTORY = Path("benchmarks/results") / STUDY
README = str(DIRECTORY / "README.md")
ARMS = ("bald", "entropy")


def _inputs(root: Path) -> tuple[Any, Any, Any]:
    directory = root / DIRECTORY
    config = read_resolved_config(directory)
    return load_results(directory), configured_task_thresholds(config), config


def paired_row(c: Any, strategy: str) -> Any:
    """``strategy`` against random on the AULC of mIoU: ``mean``, ``ci_low``, ``ci_high``
    (in mIoU units, positive = better than random), ``wins``, ``losses``, ``n``,
    ``verdict`` (better | within seed noise | worse); ``*_pts``: the same x 100."""

    def source(root: Path) -> dict[str, Any]:
        df, thresholds, config = _inputs(root)
        paired, _ = task_paired_table(df, thresholds, config)
        rows = paired[(paired["strategy"] == strategy) & (paired["metric"] == "aulc")]
        r = rows.iloc[0]
        return {
            "mean": float(r["mean_diff"]),
            "ci_low": float(r["ci_low"]),
            "ci_high": float(r["ci_high"]),
            "mean_pts": 100 * float(r["mean_diff"]),
            "ci_low_pts": 100 * float(r["ci_low"]),
            "ci_high_pts": 100 * float(r["ci_high"]),
            "wins": int(r["wins"]),
            "losses": int(r["losses"]),
            "n": int(r["n_seeds"]),
            "verdict": c.verdict_choice(str(r["verdict"])),
        }

    return source


def summary_row(strategy: str) -> Any:
    """A row of summary.csv recomputed: AULC and final mIoU, mean and s.d. over seeds
    (``*_pts``: x 100), and the final pixel accuracy (%)."""

    def source(root: Path) -> dict[str, Any]:
        df, thresholds, _ = _inputs(root)
        summary = task_summary_table(df, thresholds)
        r = summary[summary["strategy"] == strategy].iloc[0]
        return {
            "aulc_pts": 100 * float(r["aulc_mean"]),
            "aulc_sd_pts": 100 * float(r["aulc_std"]),
            "final_pts": 100 * float(r["final_miou_mean"]),
            "final_sd_pts": 100 * float(r["final_miou_std"]),
            "accuracy_pct": 100 * float(r["final_pixel_accuracy_mean"]),
            "seeds": int(r["n_seeds"]),
        }

    return source


NAMES = {"random": "random", "bald": "BALD", "entropy": "entropy"}


def table_row(c: Any, strategy: str) -> Any:
    """The README's table row of ``strategy`` (its summary, and for BALD and entropy the
    paired comparison with random)."""
    name = NAMES[strategy]
    paired = (
        "{p[mean_pts]:+.1f} [{p[ci_low_pts]:+.1f}, {p[ci_high_pts]:+.1f}], {p[wins]}/{p[losses]}"
        if strategy != "random"
        else ""
    )
    text = (
        f"| {name} | {{s[aulc_pts]:.1f}} ± {{s[aulc_sd_pts]:.1f}} | {paired} | "
        "{s[final_pts]:.1f} ± {s[final_sd_pts]:.1f} | {s[accuracy_pct]:.1f} |"
    )
    sources = {"s": summary_row(strategy)}
    if strategy != "random":
        sources["p"] = paired_row(c, strategy)
    return c.Claim(README, text, c.joined(**sources))


def verdict(c: Any, strategy: str) -> Any:
    """The README's verdict sentence of ``strategy`` against random."""
    return c.Claim(
        README,
        f"Per-pixel {NAMES[strategy]} (mean-reduced) "
        "{verdict:beats random by more than seed noise|is within seed noise of random|"
        "falls below random by more than seed noise} on the AULC of mIoU: "
        "{mean_pts:+.1f} points [{ci_low_pts:+.1f}, {ci_high_pts:+.1f}], "
        "{wins}/{losses} seeds",
        paired_row(c, strategy),
    )


def claims(c: Any) -> list[Any]:
    """The README's table and verdicts (present only once the study is committed)."""
    if not (Path(__file__).resolve().parents[2] / DIRECTORY / "results.csv").is_file():
        return []
    return [
        *(table_row(c, s) for s in ("random", "bald", "entropy")),
        *(verdict(c, s) for s in ARMS),
    ]
