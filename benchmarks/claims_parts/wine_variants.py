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
    aulc = {k.replace(" ", "__"): f"{v['mean_aulc']:.1f}" for k, v in data["curves"].items()}
    return {"t": t, "bald": bald, "aulc": aulc}


def claims(c: Any) -> list[Any]:
    src = c.bench(PILOT_JSON, _derive)
    # The study's claims, once its results and README are committed.
    study = study_claims(c) if (c.ROOT / README).is_file() else []
    return study + [
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
            "3 seeds): forest {aulc[forest__random]}%, forest + label-spreading teacher "
            "{aulc[forest_st_ls_g5__random]}% (5 groups; {aulc[forest_st_ls_g1__random]}% "
            "with one), forest + its own predictions above 0.9 "
            "{aulc[forest_st_self_t0.9__random]}% (forest probabilities seldom pass 0.9, so "
            "few pseudo-labels); MLP {aulc[mlp__random]}%, MLP + label-spreading teacher "
            "above 0.7 {aulc[mlp_st_ls_t0.7__random]}%, MLP + its own predictions above 0.9 "
            "{aulc[mlp_st_self_t0.9__random]}%. Under BALD, 5 groups "
            "{aulc[forest_st_ls_g5__bald]}% against one group's {aulc[forest_st_ls_g1__bald]}%.",
            src,
        ),
        c.Claim(
            DOC,
            "{bald[forest]} nats for the forest, {bald[forest_st_ls_g5]} for forest + "
            "self-training with 5 groups and {bald[forest_st_ls_g1]} with one group",
            src,
        ),
    ]


STUDY = "wine_semi_variants"
README = f"benchmarks/results/{STUDY}/README.md"
TABULAR = "docs/tabular.md"
#: (README name, arm suffix) of the four posteriors.
POSTERIORS = [
    ("forest", "forest"),
    ("forest + self-training", "forest_st"),
    ("MLP", "mlp"),
    ("MLP + self-training", "mlp_st"),
]
STRATEGIES = [("random", "random"), ("margin", "margin"), ("BALD", "bald")]
STRATEGIES += [("budget-aware", "budget_aware")]
COLUMNS = [6, 8, 12, 20, 36]
PAIR = "{mean:+.1f} points [{ci_low:+.1f}, {ci_high:+.1f}], {wins}/{losses}, "


def _label(arm: str, suffix: str) -> str:
    """The arm's label: the forest's random arm is labelled ``random`` (the report's
    reference), every other ``<strategy>_<posterior>``."""
    return "random" if (arm, suffix) == ("random", "forest") else f"{arm}_{suffix}"


def study_texts(c: Any) -> list[tuple[str, str, Any]]:
    """(file, template, source) of every number and verdict of the study's README and
    the docs' summary of it."""
    out: list[tuple[str, str, Any]] = []
    row = " | ".join(f"{{acc[{n}]:.1f}}" for n in COLUMNS)
    for post, suffix in POSTERIORS:
        for name, arm in STRATEGIES:
            out.append(
                (
                    README,
                    f"| {name}, {post} | {row} | {{aulc_mean:.1f}} ± {{aulc_std:.1f}} |",
                    _merged(c, _label(arm, suffix)),
                )
            )
        for name, arm in STRATEGIES[1:]:
            out.append(
                (
                    README,
                    f"{post}, {name} against random: " + PAIR + c.VERDICT_NOISE,
                    c.paired(STUDY, f"{arm}_{suffix}", _label("random", suffix)),
                )
            )
    for base, suffix in (("forest", "forest"), ("MLP", "mlp")):
        for name, arm in STRATEGIES:
            text = f"{base} + self-training against {base}, both {name}: " + PAIR
            out.append(
                (
                    README,
                    text + c.VERDICT_NOISE,
                    _across(c, f"{arm}_{suffix}_st", _label(arm, suffix)),
                )
            )
    both = "{x[mean]:+.1f} points [{x[ci_low]:+.1f}, {x[ci_high]:+.1f}], {x[wins]}/{x[losses]}, "
    for name, arm in STRATEGIES:
        forest = _across(c, f"{arm}_forest_st", _label(arm, "forest"))
        mlp = _across(c, f"{arm}_mlp_st", f"{arm}_mlp")
        cell = both + c.VERDICT_NOISE.replace("{verdict", "{x[verdict]")
        text = f"| {name} | " + cell.replace("x[", "f[") + " | " + cell.replace("x[", "m[") + " |"
        out.append((TABULAR, text, c.joined(f=forest, m=mlp)))
        if arm == "bald":
            out.append(
                (
                    DOC,
                    "Under BALD, forest + self-training against the forest: "
                    + cell.replace("x[", "f[")
                    + "; MLP + self-training against the MLP: "
                    + cell.replace("x[", "m["),
                    c.joined(f=forest, m=mlp),
                )
            )
    return out


def _across(c: Any, arm: str, reference: str) -> Any:
    """``arm`` against ``reference`` under *another* posterior: the paired comparison of
    :func:`bayesal.report.paired.paired_table` without the per-posterior pairing (a
    posterior comparison, which the report does not write)."""

    def source(root: Any) -> dict[str, Any]:
        table, _ = c.paired_table(
            c._results(root, STUDY), c._thresholds(root, STUDY), references=(reference,)
        )
        rows = table[(table["strategy"] == arm) & (table["metric"] == "aulc")]
        if rows.empty:
            raise KeyError(f"{STUDY}: no paired row {arm} vs {reference}")
        return dict(c._row_values(rows.iloc[0]))

    source.__doc__ = f"across({STUDY!r}, {arm!r}, {reference!r})"
    return source


def _merged(c: Any, arm: str) -> Any:
    """medians (``acc[n]``) and summary (``aulc_mean``, ...) of one arm in one row."""
    medians, summary = c.medians(STUDY, arm), c.summary(STUDY, arm)

    def source(root: Any) -> dict[str, Any]:
        return {**medians(root), **summary(root)}

    source.__doc__ = f"medians+summary({STUDY!r}, {arm!r})"
    return source


def study_claims(c: Any) -> list[Any]:
    return [c.Claim(file, text, src) for file, text, src in study_texts(c)]
