"""Claims of the text study (issue 23): benchmarks/results/text_healthtweets/README.md."""

from __future__ import annotations

from typing import Any

STUDY = "text_healthtweets"
README = f"benchmarks/results/{STUDY}/README.md"
NAMES = {"bald": "BALD", "margin": "margin", "epig": "EPIG"}


def claims(c: Any) -> list[Any]:
    out = [
        c.Claim(
            README,
            "| random | {aulc_mean:.1f} ± {aulc_std:.1f} | | {final_mean:.1f} ± {final_std:.1f} |",
            c.summary(STUDY, "random"),
        ),
        c.Claim(
            README,
            "median {median:.1f} s, from {min:.1f} to {max:.1f} s over the {n} trials",
            c.trial_seconds(STUDY),
        ),
        c.Claim(
            README,
            "Accuracy climbs from about {r20[mean]:.0f}% at 20 labels to {r300[mean]:.0f}% at "
            "300 for random",
            c.joined(
                r20=c.accuracy_at(STUDY, "random", 20), r300=c.accuracy_at(STUDY, "random", 300)
            ),
        ),
        c.Claim(
            README,
            "Verdict (paired, AULC): BALD is {b[verdict]:beats|within seed noise of|falls below} "
            "random, margin is {m[verdict]:beats|within seed noise of|falls below} random, EPIG "
            "is {e[verdict]:beats|within seed noise of|falls below} random.",
            c.joined(
                b=c.paired(STUDY, "bald"), m=c.paired(STUDY, "margin"), e=c.paired(STUDY, "epig")
            ),
        ),
        c.Claim(
            README,
            "each wins {b[wins]} of the {b[n]} seeds",
            c.joined(b=c.paired(STUDY, "bald")),
        ),
    ]
    for strategy, name in NAMES.items():
        out.append(
            c.Claim(
                README,
                f"| {name} | "
                + "{s[aulc_mean]:.1f} ± {s[aulc_std]:.1f} | {p[mean]:+.1f} [{p[ci_low]:+.1f}, "
                "{p[ci_high]:+.1f}], {p[wins]}/{p[losses]} | {s[final_mean]:.1f} ± "
                "{s[final_std]:.1f} |",
                c.joined(s=c.summary(STUDY, strategy), p=c.paired(STUDY, strategy)),
            )
        )
        # The same verdict on both label thresholds.
        for metric in ("labels_to_20", "labels_to_25"):
            out.append(
                c.Claim(
                    README,
                    "On labels to 20% and 25% accuracy every comparison is "
                    "{verdict:better than|within seed noise|worse than} as well",
                    c.paired(STUDY, strategy, metric=metric),
                )
            )
    return out
