"""The self_training posterior's pilot on wine (docs/semi_supervised.md;
benchmarks/semi_supervised/measure_self_training.py ->
benchmarks/results/semi_supervised/self_training.json)."""

from __future__ import annotations

from typing import Any

PILOT_JSON = "benchmarks/results/semi_supervised/self_training.json"
DOC = "docs/semi_supervised.md"


def _derive(data: dict[str, Any]) -> dict[str, Any]:
    """``t[labels][threshold]``: (mean pseudo-labels, % right) as written; ``bald[arm]``."""
    t = {
        int(labels.split()[0]): {
            th: (f"{v['pseudo_labels_mean']:.1f}", f"{100 * v['right_share']:.1f}")
            for th, v in rows.items()
        }
        for labels, rows in data["teacher"].items()
    }
    bald = {k: f"{v:.2f}" for k, v in data["disagreement_mean_bald_6_labels"].items()}
    return {"t": t, "bald": bald}


def claims(c: Any) -> list[Any]:
    src = c.bench(PILOT_JSON, _derive)
    return [
        c.Claim(
            DOC,
            "members) at 6 labels pseudo-labels on average {t[6][0.7][0]} of the 118 "
            "unlabelled wines above 0.7, {t[6][0.7][1]}% of them right; above 0.9 only "
            "{t[6][0.9][0]} ({t[6][0.9][1]}% right); above 0.5, {t[6][0.5][0]} but "
            "{t[6][0.5][1]}% right. At 30 labels, 0.7 still passes {t[30][0.7][0]} "
            "({t[30][0.7][1]}% right).",
            src,
        ),
        c.Claim(
            DOC,
            "{bald[forest]} nats for the forest, {bald[forest_st_ls_g5]} for forest + "
            "self-training with 5 groups and {bald[forest_st_ls_g1]} with one group",
            src,
        ),
    ]
