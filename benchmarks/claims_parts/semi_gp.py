"""Issue 20's studies under the graph_gp posterior (MNIST and the digits, 2 -> 220 labels):
their READMEs' tables, verdicts, targets and timings, and the summaries of them in the
README and docs/semi_supervised.md."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

MNIST = "mnist_semi_gp"
DIGITS = "digits_semi_gp"
TIMING = f"{MNIST}/timing_100"
DOC = "docs/semi_supervised.md"

#: (name in the tables, label in results.csv)
ARMS = [
    ("random", "random"),
    ("margin", "margin"),
    ("BALD", "bald"),
    ("EPIG", "epig"),
    ("TypiClust", "typiclust"),
    ("budget-aware", "budget_aware"),
]
BAYESIAN = ("bald", "epig", "budget_aware")
COLUMNS = {
    MNIST: (2, 10, 16, 20, 30, 40, 60, 100, 150, 220),
    DIGITS: (2, 10, 20, 30, 50, 70, 100, 150, 220),
}


def _merged(*sources: Callable[[Path], Mapping[str, Any]]) -> Callable[[Path], Mapping[str, Any]]:
    """Several sources' fields in one mapping (later ones win on a shared name)."""

    def source(root: Path) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        for src in sources:
            out.update(src(root))
        return out

    return source


def _readme(study: str) -> str:
    return f"benchmarks/results/{study}/README.md"


def _final_range(c: Any, study: str) -> Callable[[Path], Mapping[str, Any]]:
    """The lowest and highest mean final accuracy (%) over the study's arms."""

    def source(root: Path) -> Mapping[str, Any]:
        finals = [c.summary(study, label)(root)["final_mean"] for _, label in ARMS]
        return {"lo": min(finals), "hi": max(finals)}

    return source


def _final_images(c: Any, study: str, n_test: int) -> Callable[[Path], Mapping[str, Any]]:
    """Whether every trial's last round has the same test accuracy, and how many of the
    ``n_test`` test images that is."""

    def source(root: Path) -> Mapping[str, Any]:
        df = c._results(root, study)
        last = df[df["round"] == df.groupby(["strategy", "seed"])["round"].transform("max")]
        correct = sorted({round(float(a) * n_test) for a in last["test_accuracy"]})
        return {"same": c.yes_no(len(correct) == 1), "correct": correct[0]}

    return source


def _targets(c: Any, study: str, t: int) -> Callable[[Path], Mapping[str, Any]]:
    """Issue 20's targets: the best median labels to t% over all arms and over the
    Bayesian ones (and which), and whether a Bayesian arm is ahead of random on AULC on
    every seed with the paired interval above zero."""

    def source(root: Path) -> Mapping[str, Any]:
        labels = {label: c.summary(study, label)(root)[f"l{t}_median"] for _, label in ARMS}
        labels = {k: (math.inf if math.isnan(v) else float(v)) for k, v in labels.items()}
        best = min(labels.values())
        best_bayes = min(labels[b] for b in BAYESIAN)
        ahead = []
        for b in BAYESIAN:
            p = c.paired(study, b)(root)
            if p["wins"] == p["n"] and p["ci_low"] > 0:
                ahead.append(b)
        return {
            "best": f"{best:.0f}",
            "best_bayes": f"{best_bayes:.0f}",
            "best_met": c.yes_no(best <= 50),
            "bayes_met": c.yes_no(best_bayes <= 60),
            "ahead_met": c.yes_no(bool(ahead)),
            "ahead": ", ".join(ahead) if ahead else "none",
        }

    return source


def _timing_target(c: Any) -> Callable[[Path], Mapping[str, Any]]:
    def source(root: Path) -> Mapping[str, Any]:
        worst = c.trial_seconds(TIMING)(root)["max"]
        return {"worst": worst, "met": c.yes_no(worst <= 60.0), "under30": c.yes_no(worst < 30)}

    return source


def _study(c: Any, study: str, t: int) -> list[Any]:
    readme = _readme(study)
    out = c.study_claims(
        study,
        [(name, label, "random") for name, label in ARMS if label != "random"],
        ARMS,
        COLUMNS[study],
    )
    out += [
        c.Claim(
            readme,
            f"| {name} | {{l{t}_median_text}} [{{l{t}_q25_text}}, {{l{t}_q75_text}}] "
            f"({{l{t}_reached}}/{{n}}) | {{final_mean:.1f}} |",
            c.summary(study, label),
        )
        for name, label in ARMS
    ]
    out.append(
        c.Claim(
            readme,
            "Every arm ends at {lo:.1f}-{hi:.1f}% (mean final accuracy",
            _final_range(c, study),
        )
    )
    return out


def claims(c: Any) -> list[Any]:
    phases = c.bench(f"benchmarks/results/{MNIST}/budget_phases.json", c._phases_derived)
    out = _study(c, MNIST, 95) + _study(c, DIGITS, 95)
    # MNIST: the budget-aware arm's phases, the targets, the timings.
    out += [
        c.Claim(_readme(MNIST), text, phases)
        for text in [
            "picks checked equal to `results.csv` {all_equal:on every seed|not on every seed}",
            "first BALD round came after {labels_min} to {labels_max} labels (rounds "
            "{first_min} to {first_max}; median after {labels_median})",
            "its {rounds} rounds {cov_min} to {cov_max} picked by coverage, {late_min} to "
            "{late_max} by BALD",
        ]
    ]
    out += [
        c.Claim(
            _readme(MNIST),
            "**95% with at most 50 labels for the best strategy: {best_met:met|missed}** "
            "({best} labels, median); **at most 60 for the best Bayesian one: "
            "{bayes_met:met|missed}** ({best_bayes}); **a Bayesian strategy ahead of random "
            "on AULC on 5 of 5 seeds with the paired interval above zero: "
            "{ahead_met:met|missed}** ({ahead})",
            _targets(c, MNIST, 95),
        ),
        c.Claim(
            _readme(MNIST),
            "not ahead\nof TypiClust, which is not Bayesian ({mean:+.1f} points [{ci_low:+.1f}, "
            "{ci_high:+.1f}], {wins}/{losses}, " + c.VERDICT_NOISE,
            c.paired(MNIST, "budget_aware", "typiclust"),
        ),
        c.Claim(
            _readme(MNIST),
            "by 16 labels it is at {b[acc][16]:.1f}% (median), random at {r[acc][16]:.1f}%",
            c.joined(b=c.medians(MNIST, "budget_aware"), r=c.medians(MNIST, "random")),
        ),
        c.Claim(
            _readme(MNIST),
            "**The 60 s target per 100-acquisition trial is {met:met|missed}** on this run: "
            "the slowest arm took {worst:.1f} s",
            _timing_target(c),
        ),
        c.Claim(
            _readme(MNIST),
            "round 0 (the graph and its eigenvectors, once per trial) took {s[median]:.1f} s "
            "in the study and {t[median]:.1f} s alone",
            c.joined(s=c.round0_seconds(MNIST), t=c.round0_seconds(TIMING)),
        ),
    ]
    out += [
        c.Claim(
            _readme(MNIST),
            f"| {name} | {{s[median]:.1f}} | {{t[median]:.1f}} |",
            c.joined(s=c.trial_seconds(MNIST, label), t=c.trial_seconds(TIMING, label)),
        )
        for name, label in ARMS
    ]
    # Verdict phrases of the summaries.
    out += [
        c.Claim(
            "README.md",
            "the Bayesian strategy ahead of\nrandom {all_seeds:on every seed|not on every seed} "
            "is the budget-aware one",
            c.paired(MNIST, "budget_aware"),
        ),
        c.Claim(
            _readme(DIGITS),
            "strategy is the Bayesian one ahead of random {all_seeds:on every seed|not on every "
            "seed}",
            c.paired(DIGITS, "budget_aware"),
        ),
        *[
            c.Claim(
                file,
                "BALD and EPIG alone are {verdict:ahead|not ahead|not ahead} of random by more "
                "than seed noise",
                c.paired(MNIST, arm),
            )
            for file in ("README.md", _readme(MNIST))
            for arm in ("bald", "epig")
        ],
    ]
    # The README's summary of the MNIST study.
    out += [
        c.Claim(
            "README.md",
            "a 100-acquisition trial takes {under30:under|over} 30 s on 2 cores",
            _timing_target(c),
        ),
        c.Claim(
            "README.md",
            "the budget-aware strategy " + c.VERDICT + " random on AULC by more than seed "
            "noise ({mean:+.1f} points,\n{wins}/{losses})",
            c.paired(MNIST, "budget_aware"),
        ),
        c.Claim(
            "README.md",
            "and reaches 95% at {l95_median_text} labels (median;",
            c.summary(MNIST, "budget_aware"),
        ),
        c.Claim("README.md", "random at {l95_median_text}); margin", c.summary(MNIST, "random")),
        c.Claim("README.md", "BALD (95% at {l95_median_text} labels)", c.summary(MNIST, "bald")),
        *[
            c.Claim(
                "README.md",
                "and EPIG alone stay {verdict:above|within seed noise of|below} random on\nAULC",
                c.paired(MNIST, arm),
            )
            for arm in ("bald", "epig")
        ],
    ]
    # docs/semi_supervised.md's summary of the MNIST study.
    out += [
        c.Claim(
            DOC,
            "The budget-aware strategy " + c.VERDICT + " random on AULC ({mean:+.1f} points, "
            "{wins}/{losses}) and reaches 95% at {l95_median_text} labels (median)",
            _merged(c.paired(MNIST, "budget_aware"), c.summary(MNIST, "budget_aware")),
        ),
        c.Claim(DOC, "random needs {l95_median_text}. BALD", c.summary(MNIST, "random")),
        c.Claim(DOC, "BALD ({mean:+.1f} points) and", c.paired(MNIST, "bald")),
        c.Claim(
            DOC,
            "EPIG ({mean:+.1f} points)\n  alone are {verdict:above|within seed noise of|below} "
            "random on AULC",
            c.paired(MNIST, "epig"),
        ),
        c.Claim(
            DOC,
            "though BALD's median reaches 95% at\n  {l95_median_text} labels",
            c.summary(MNIST, "bald"),
        ),
        c.Claim(DOC, "switched to BALD after {labels_min} to {labels_max}\n  labels", phases),
        c.Claim(
            DOC,
            "it is not ahead of TypiClust ({verdict:better|within seed noise|worse})",
            c.paired(MNIST, "budget_aware", "typiclust"),
        ),
    ]
    # docs/semi_supervised.md's summary of the digits study, and of BALD under graph_gp.
    out += [
        c.Claim(
            DOC,
            "budget-aware strategy " + c.VERDICT + " random on AULC ({mean:+.1f} points, "
            "{wins}/{losses}), as do margin and\n  TypiClust",
            c.paired(DIGITS, "budget_aware"),
        ),
        *[
            c.Claim(
                DOC, "{verdict:as do|unlike|unlike} margin and\n  TypiClust", c.paired(DIGITS, arm)
            )
            for arm in ("margin", "typiclust")
        ],
        *[
            c.Claim(
                DOC,
                "BALD and EPIG are {verdict:above|within seed noise of|below} random. Labels "
                "to 95%",
                c.paired(DIGITS, arm),
            )
            for arm in ("bald", "epig")
        ],
        c.Claim(
            DOC,
            "margin {m[l95_median_text]}, the budget-aware strategy {b[l95_median_text]}, "
            "BALD {d[l95_median_text]}, random {r[l95_median_text]}.",
            c.joined(
                m=c.summary(DIGITS, "margin"),
                b=c.summary(DIGITS, "budget_aware"),
                d=c.summary(DIGITS, "bald"),
                r=c.summary(DIGITS, "random"),
            ),
        ),
        *[
            c.Claim(
                DOC,
                "Under `graph_gp` it is {verdict:above|within seed noise of|below} random\n"
                "  instead on MNIST and on the digits, and so is EPIG",
                c.paired(study, arm),
            )
            for study in (MNIST, DIGITS)
            for arm in ("bald", "epig")
        ],
    ]
    # The digits: what every arm ends at, the comparisons, the encoder, the timings.
    out += [
        c.Claim(
            _readme(DIGITS),
            "every seed at {same:the same|not the same}\n{correct} of 540 test images",
            _final_images(c, DIGITS, 540),
        ),
        c.Claim(
            _readme(DIGITS),
            "against it, margin ({m[verdict]:better|within\nseed noise|worse}) and TypiClust "
            "({t[verdict]:better|within seed noise|worse})",
            c.joined(
                m=c.paired(DIGITS, "margin", "budget_aware"),
                t=c.paired(DIGITS, "typiclust", "budget_aware"),
            ),
        ),
        c.Claim(
            _readme(DIGITS),
            "(median {b[l95_median_text]} and {e[l95_median_text]} labels against "
            "{r[l95_median_text]})",
            c.joined(
                b=c.summary(DIGITS, "bald"),
                e=c.summary(DIGITS, "epig"),
                r=c.summary(DIGITS, "random"),
            ),
        ),
    ]
    # The digits: the encoder, the timings.
    out += [
        c.Claim(
            _readme(DIGITS),
            "The encoder trained {steps:,} steps in {train_seconds:.1f} s when it was first built",
            c.bench(f"benchmarks/results/{DIGITS}/encoder.json"),
        ),
        *[
            c.Claim(
                _readme(DIGITS),
                f"| {name} | {{median:.1f}} |",
                c.trial_seconds(DIGITS, label),
            )
            for name, label in ARMS
        ],
    ]
    return out
