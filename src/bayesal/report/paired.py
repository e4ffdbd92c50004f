"""Labels saved against random, and a paired comparison of strategies over seeds.

Seed s of every strategy starts from the same initial labelled set (and the same
pool, test set and network initialisation seed), so the run of strategy A and the run
of strategy B with the same seed form a *pair*, and their difference is free of the
seed-to-seed variation they share. Two tables come from the pairs:

**Labels saved** (``labels_saved.csv`` / ``.md``): for each strategy and threshold t,
how many fewer labels than random it needs to reach test accuracy t.

- *Per seed*: random's labels to t minus the strategy's, seed by seed; their median over
  seeds, also as a percentage of random's labels.
- *Mean curve*: random's labels to t read off its mean learning curve (accuracy
  averaged over seeds) minus the strategy's.

A run that never reaches t within its budget (the labels of its last round, B) is
*censored*: it needs more than B labels, which bounds the saving on one side only. So
every saving is an interval ``[low, high]``: exact when both runs reach t; at least
``B_random - S`` when random never reaches it (written "≥ X"); at most ``R - B_strategy``
when the strategy never reaches it ("≤ X"); unknown when neither does. The median over
seeds of such intervals is itself an interval (the median of the lows, the median of the
highs: the median is monotone in every value), so nothing is dropped and nothing is
guessed. Written only when the results hold a ``random`` arm.

**Paired comparison** (``paired.csv`` / ``.md``, per-seed differences in
``paired_per_seed.csv``): every strategy against ``random`` (when present) and against
the best strategy (highest mean AULC), on AULC and on labels to each threshold.
Differences are signed so that positive means "the strategy is better": AULC of the
strategy minus the reference's, labels of the reference minus the strategy's (labels
saved). Per comparison: the mean difference, wins / losses / ties over seeds, an exact
two-sided sign test, and a verdict:

- with no censored run: the 95% paired *t* confidence interval of the mean difference
  (Student's t with n - 1 degrees of freedom); "more than seed noise" when it excludes 0;
- with a censored run (labels only: its difference is a bound, not a number): the
  exact sign test on the seeds whose sign is known, "more than seed noise" when p < 0.05
  (it needs at least 6 seeds that all agree; with fewer the verdict says so).

An arm is compared with ``random`` only when both run under the same posterior (read
from ``config.resolved.yaml``); an arm under another posterior gets the verdict "not
compared: random runs under another posterior" and no labels-saved row, since its
difference would mix the strategy's effect with the posterior's.

The verdict is about seed noise only: the variation between seeds of this study's
protocol (initial set, training randomness, acquisitions). It says nothing of other
datasets, budgets, models or hyper-parameters, and a pair of runs on the same seed is
not independent of the test set both are evaluated on.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesal._atomic import atomic_write_text
from bayesal.errors import InvalidInputError
from bayesal.report.results_io import validate_results
from bayesal.report.tables import (
    _check_thresholds,
    _per_seed,
    labels_to_threshold_of_mean_curve,
    threshold_key,
)
from bayesal.thresholds import DEFAULT_THRESHOLDS, threshold_stem

LABELS_SAVED_CSV = "labels_saved.csv"
LABELS_SAVED_MD = "labels_saved.md"
PAIRED_CSV = "paired.csv"
PAIRED_MD = "paired.md"
PAIRED_PER_SEED_CSV = "paired_per_seed.csv"

#: The label of the arm that savings are counted against.
RANDOM_LABEL = "random"
#: The reference name of the best strategy (highest mean AULC) in the paired table.
BEST = "best"
#: Two-sided level of the confidence interval and of the sign test.
ALPHA = 0.05

MORE = "more than seed noise"
WITHIN = "within seed noise"

# ---------------------------------------------------------------------------- statistics


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b), for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise InvalidInputError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on
    :func:`student_t_cdf`, to about 1e-12): ``student_t_quantile(0.975, 4) = 2.776``."""
    if not 0.0 < p < 1.0:
        raise InvalidInputError(f"a quantile needs 0 < p < 1, got {p}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def paired_t_interval(diffs: Sequence[float], level: float = 1.0 - ALPHA) -> tuple[float, float]:
    """The ``level`` confidence interval of the mean of paired differences (Student's t,
    n - 1 degrees of freedom). ``(nan, nan)`` for fewer than 2 differences; ``(m, m)``
    when every difference is the same ``m``."""
    d = np.asarray(diffs, dtype=np.float64)
    if len(d) < 2:
        return math.nan, math.nan
    mean = float(d.mean())
    half = (
        student_t_quantile(0.5 + level / 2.0, len(d) - 1) * float(d.std(ddof=1)) / math.sqrt(len(d))
    )
    return mean - half, mean + half


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the probability, when each decided seed is a win or a
    loss with probability 1/2, of a split at least as uneven as ``wins``:``losses``
    (ties are left out before). 1.0 when no seed is decided."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def _quantile(values: Sequence[float], q: float) -> float:
    """Quantile ``q`` (linear interpolation) of values that may be -inf or +inf: infinite
    whenever it interpolates towards an infinite value with non-zero weight."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if len(v) == 0:
        return math.nan
    pos = (len(v) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    if frac == 0.0:
        return float(v[lo])
    if math.isinf(v[lo]) or math.isinf(v[hi]):
        if math.isinf(v[lo]) and math.isinf(v[hi]) and v[lo] != v[hi]:
            return math.nan
        return float(v[hi]) if math.isinf(v[hi]) else float(v[lo])
    return float(v[lo] + frac * (v[hi] - v[lo]))


# ------------------------------------------------------------------------------ savings


def labels_saved_interval(
    reference: float, strategy: float, reference_budget: float, strategy_budget: float
) -> tuple[float, float]:
    """Labels saved (``reference - strategy``) as ``(low, high)``.

    ``reference`` / ``strategy``: labels to reach the threshold, NaN or inf when never
    reached; a never-reaching run needs more than its budget (labels at its last round).
    Exact ``(d, d)`` when both reach it; ``(budget_ref - strategy, inf)`` when only the
    strategy does; ``(-inf, reference - budget_strategy)`` when only the reference does;
    ``(-inf, inf)`` when neither does.
    """
    ref_ok = math.isfinite(reference)
    strat_ok = math.isfinite(strategy)
    if ref_ok and strat_ok:
        return reference - strategy, reference - strategy
    if strat_ok:
        return reference_budget - strategy, math.inf
    if ref_ok:
        return -math.inf, reference - strategy_budget
    return -math.inf, math.inf


def saved_fraction_interval(
    reference: float, strategy: float, reference_budget: float, strategy_budget: float
) -> tuple[float, float]:
    """Labels saved as a fraction of the reference's labels, ``1 - strategy / reference``,
    as ``(low, high)`` with the censoring rules of :func:`labels_saved_interval` (the
    trivial upper bound 1 of a censored reference is written ``inf``, "no bound")."""
    ref_ok = math.isfinite(reference)
    strat_ok = math.isfinite(strategy)
    if (reference <= 0) if ref_ok else (reference_budget <= 0):
        return math.nan, math.nan  # no labels to take a fraction of
    if ref_ok and strat_ok:
        value = 1.0 - strategy / reference
        return value, value
    if strat_ok:  # (at most 1 - strategy / inf = 1: no bound worth writing)
        return 1.0 - strategy / reference_budget, math.inf
    if ref_ok:
        return -math.inf, 1.0 - strategy_budget / reference
    return -math.inf, math.inf


def _mean_curve_budget(runs: pd.DataFrame) -> float:
    """Labels at the last round present in every seed (the mean curve's last point)."""
    n_seeds = runs["seed"].nunique()
    by_round = runs.groupby("round", sort=True).agg(
        n_labels=("n_labels", "median"), seeds=("seed", "nunique")
    )
    return float(by_round[by_round["seeds"] == n_seeds]["n_labels"].iloc[-1])


def _pairs(seeds: pd.DataFrame, strategy: str, reference: str) -> pd.DataFrame:
    """Per-seed rows of ``strategy`` joined with ``reference`` on the seeds both have."""
    a = seeds[seeds["strategy"] == strategy].set_index("seed")
    b = seeds[seeds["strategy"] == reference].set_index("seed")
    common = sorted(set(a.index) & set(b.index))
    return a.loc[common].join(b.loc[common].add_suffix("_ref"))


def _savings(
    df: pd.DataFrame, seeds: pd.DataFrame, thresholds: Sequence[float], reference: str
) -> pd.DataFrame:
    rows = []
    strategies = [s for s in dict.fromkeys(df["strategy"]) if s != reference]
    ref_runs = df[df["strategy"] == reference]
    for t in thresholds:
        key = threshold_key(float(t))
        ref_curve = labels_to_threshold_of_mean_curve(ref_runs, float(t))
        ref_budget = _mean_curve_budget(ref_runs)
        for label in strategies:
            pairs = _pairs(seeds, label, reference)
            saved, frac = [], []
            censored = 0
            for _, p in pairs.iterrows():
                args = (
                    float(p[f"{key}_ref"]) if not pd.isna(p[f"{key}_ref"]) else math.inf,
                    float(p[key]) if not pd.isna(p[key]) else math.inf,
                    float(p["final_n_labels_ref"]),
                    float(p["final_n_labels"]),
                )
                censored += int(not (math.isfinite(args[0]) and math.isfinite(args[1])))
                saved.append(labels_saved_interval(*args))
                frac.append(saved_fraction_interval(*args))
            runs = df[df["strategy"] == label]
            curve = labels_to_threshold_of_mean_curve(runs, float(t))
            curve_args = (ref_curve, curve, ref_budget, _mean_curve_budget(runs))
            c_lo, c_hi = labels_saved_interval(*curve_args)
            cf_lo, cf_hi = saved_fraction_interval(*curve_args)
            rows.append(
                {
                    "strategy": label,
                    "reference": reference,
                    "threshold": float(t),
                    "n_pairs": len(pairs),
                    "pairs_censored": censored,
                    "saved_median_low": _quantile([s[0] for s in saved], 0.5),
                    "saved_median_high": _quantile([s[1] for s in saved], 0.5),
                    "saved_pct_median_low": 100 * _quantile([f[0] for f in frac], 0.5),
                    "saved_pct_median_high": 100 * _quantile([f[1] for f in frac], 0.5),
                    "mean_curve_reference_labels": ref_curve,
                    "mean_curve_strategy_labels": curve,
                    "mean_curve_saved_low": c_lo,
                    "mean_curve_saved_high": c_hi,
                    "mean_curve_saved_pct_low": 100 * cf_lo,
                    "mean_curve_saved_pct_high": 100 * cf_hi,
                }
            )
    return pd.DataFrame(rows, columns=SAVED_COLUMNS)


SAVED_COLUMNS = [
    "strategy",
    "reference",
    "threshold",
    "n_pairs",
    "pairs_censored",
    "saved_median_low",
    "saved_median_high",
    "saved_pct_median_low",
    "saved_pct_median_high",
    "mean_curve_reference_labels",
    "mean_curve_strategy_labels",
    "mean_curve_saved_low",
    "mean_curve_saved_high",
    "mean_curve_saved_pct_low",
    "mean_curve_saved_pct_high",
]


def labels_saved_table(
    df: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    reference: str = RANDOM_LABEL,
) -> pd.DataFrame:
    """Labels each strategy saves against ``reference`` (random) at equal accuracy.

    One row per threshold x strategy (thresholds ascending, strategies in order of first
    appearance, the reference left out). Columns: ``strategy``, ``reference``,
    ``threshold``, ``n_pairs`` (seeds both have), ``pairs_censored`` (pairs where a run
    never reaches t), ``saved_median_low`` / ``_high`` (median over seeds of the per-seed
    labels saved; equal when exact, ``inf`` / ``-inf`` for an open side),
    ``saved_pct_median_low`` / ``_high`` (the same as a percentage of the reference's
    labels), ``mean_curve_reference_labels`` / ``mean_curve_strategy_labels`` (labels to t
    of the mean curves, ``inf`` = not reached), ``mean_curve_saved_low`` / ``_high`` and
    ``mean_curve_saved_pct_low`` / ``_high``. The rules are in this module's docstring.

    Raises:
        InvalidInputError: malformed table, invalid thresholds, or no ``reference`` arm.
    """
    thresholds = _check_thresholds(thresholds)
    df = validate_results(df)
    if reference not in set(df["strategy"]):
        raise InvalidInputError(
            f"no {reference!r} arm in the results: labels saved are counted against it "
            f"(strategies: {sorted(set(df['strategy']))})"
        )
    return _savings(df, _per_seed(df, thresholds), thresholds, reference)


# ------------------------------------------------------------------------------- paired


def _metric_pairs(pairs: pd.DataFrame, metric: str) -> Iterator[tuple[int, float, float]]:
    """``(seed, low, high)`` of the signed difference (positive: strategy better)."""
    for seed, p in pairs.iterrows():
        if metric == "aulc":
            d = float(p["aulc"]) - float(p["aulc_ref"])
            yield int(seed), d, d
        else:
            ref = float(p[f"{metric}_ref"])
            own = float(p[metric])
            lo, hi = labels_saved_interval(
                math.inf if math.isnan(ref) else ref,
                math.inf if math.isnan(own) else own,
                float(p["final_n_labels_ref"]),
                float(p["final_n_labels"]),
            )
            yield int(seed), lo, hi


def _compare(per_seed: list[tuple[int, float, float]]) -> dict[str, object]:
    """The row statistics of one comparison from its per-seed ``(seed, low, high)``."""
    n = len(per_seed)
    lows = [lo for _, lo, _ in per_seed]
    highs = [hi for _, _, hi in per_seed]
    exact = all(lo == hi and math.isfinite(lo) for lo, hi in zip(lows, highs, strict=True))
    wins = sum(lo > 0 for lo in lows)
    losses = sum(hi < 0 for hi in highs)
    ties = sum(lo == 0 == hi for lo, hi in zip(lows, highs, strict=True))
    unknown = n - wins - losses - ties
    p = sign_test_p(wins, losses)
    row: dict[str, object] = {
        "n_seeds": n,
        "censored": sum(
            not (lo == hi and math.isfinite(lo)) for lo, hi in zip(lows, highs, strict=True)
        ),
        "mean_diff": float(np.mean(lows)) if exact and n else math.nan,
        "median_diff_low": _quantile(lows, 0.5),
        "median_diff_high": _quantile(highs, 0.5),
        "ci_low": math.nan,
        "ci_high": math.nan,
        "wins": wins,
        "losses": losses,
        "ties": ties,
        "unknown": unknown,
        "sign_test_p": p,
    }
    if any(math.isnan(x) for x in lows + highs):
        row.update(test="none", verdict="not comparable (NaN values)")
        return row
    if exact:
        if n < 2:
            row.update(test="paired t", verdict="too few seeds (need at least 2)")
            return row
        ci_low, ci_high = paired_t_interval(lows)
        row.update(ci_low=ci_low, ci_high=ci_high, test="paired t")
        if ci_low > 0:
            row["verdict"] = f"{MORE} (better)"
        elif ci_high < 0:
            row["verdict"] = f"{MORE} (worse)"
        else:
            row["verdict"] = WITHIN
        return row
    row["test"] = "sign test (censored runs)"
    decided = wins + losses
    if p < ALPHA:
        row["verdict"] = f"{MORE} ({'better' if wins > losses else 'worse'})"
    elif sign_test_p(decided, 0) >= ALPHA:
        row["verdict"] = (
            f"{WITHIN} (a sign test over {decided} decided seed(s) cannot reach p < "
            f"{ALPHA:g}; run more seeds)"
        )
    else:
        row["verdict"] = WITHIN
    return row


def best_strategy(seeds: pd.DataFrame) -> str | None:
    """The strategy with the highest mean AULC over seeds (ties: first in order), or None
    when no strategy has an AULC (single-round runs)."""
    means = seeds.groupby("strategy", sort=False)["aulc"].mean().dropna()
    if means.empty:
        return None
    return str(means.idxmax())


#: The verdict of an arm that random cannot be compared with: another posterior.
OTHER_POSTERIOR = "not compared: random runs under another posterior"


def arm_posteriors(config: Mapping[str, Any] | None) -> dict[str, str]:
    """``{arm label: its posterior}`` (the canonical JSON of the arm's ``posterior``
    section, else the experiment's) from a resolved config; ``{}`` when unknown."""
    if not isinstance(config, Mapping):
        return {}
    top = config.get("posterior")
    out = {}
    for arm in config.get("strategies") or []:
        if isinstance(arm, Mapping) and isinstance(arm.get("label"), str):
            own = arm.get("posterior")
            out[arm["label"]] = json.dumps(own if own is not None else top, sort_keys=True)
    return out


def random_arms(config: Mapping[str, Any] | None) -> dict[str, str]:
    """``{posterior: label of its random arm}`` from a resolved config: the arms whose
    strategy is ``random`` (the one labelled ``random`` first), keyed like
    :func:`arm_posteriors`."""
    posteriors = arm_posteriors(config)
    arms = [
        arm
        for arm in (config or {}).get("strategies") or []
        if isinstance(arm, Mapping) and arm.get("name") == RANDOM_LABEL
    ]
    arms.sort(key=lambda arm: arm.get("label") != RANDOM_LABEL)
    out: dict[str, str] = {}
    for arm in arms:
        label = arm.get("label")
        if isinstance(label, str) and label in posteriors:
            out.setdefault(posteriors[label], label)
    return out


def _paired(
    df: pd.DataFrame,
    seeds: pd.DataFrame,
    thresholds: Sequence[float],
    references: Sequence[str],
    posteriors: Mapping[str, str] | None = None,
    random_for: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    strategies = list(dict.fromkeys(df["strategy"]))
    metrics = ["aulc"] + [threshold_key(float(t)) for t in thresholds]
    best = best_strategy(seeds)
    rows, per_seed_rows = [], []
    done: set[str] = set()
    compared: set[frozenset[str]] = set()
    for ref_name in references:
        reference = best if ref_name == BEST else ref_name
        if reference is None or reference not in strategies or reference in done:
            continue  # absent, or already compared against (random is the best)
        done.add(reference)
        for label in strategies:
            own = reference
            if ref_name == RANDOM_LABEL and posteriors is not None and random_for:
                # The random arm under this arm's own posterior (a posterior comparison
                # gives each posterior one); none: not compared.
                own = random_for.get(posteriors.get(label, ""), reference)
                if label in random_for.values():
                    continue  # a random arm itself
            if label == own or frozenset((label, own)) in compared:
                continue  # (random against the best: the best against random, mirrored)
            compared.add(frozenset((label, own)))
            pairs = _pairs(seeds, label, own)
            # Against random only under the same posterior: else the difference would
            # mix the strategy's effect with the posterior's.
            confounded = (
                ref_name == RANDOM_LABEL
                and posteriors is not None
                and posteriors.get(label) != posteriors.get(own)
            )
            for metric in metrics:
                diffs = [] if confounded else list(_metric_pairs(pairs, metric))
                if confounded:
                    rows.append(
                        {
                            "strategy": label,
                            "reference": own,
                            "reference_role": ref_name,
                            "metric": metric,
                            **_compare([]),
                            "test": "none",
                            "verdict": OTHER_POSTERIOR,
                        }
                    )
                    continue
                rows.append(
                    {
                        "strategy": label,
                        "reference": own,
                        "reference_role": ref_name,
                        "metric": metric,
                        **_compare(diffs),
                    }
                )
                per_seed_rows += [
                    {
                        "strategy": label,
                        "reference": own,
                        "reference_role": ref_name,
                        "metric": metric,
                        "seed": seed,
                        "diff_low": lo,
                        "diff_high": hi,
                    }
                    for seed, lo, hi in diffs
                ]
    columns = [
        "strategy",
        "reference",
        "reference_role",
        "metric",
        "n_seeds",
        "censored",
        "mean_diff",
        "median_diff_low",
        "median_diff_high",
        "ci_low",
        "ci_high",
        "wins",
        "losses",
        "ties",
        "unknown",
        "sign_test_p",
        "test",
        "verdict",
    ]
    per_seed_columns = [
        "strategy",
        "reference",
        "reference_role",
        "metric",
        "seed",
        "diff_low",
        "diff_high",
    ]
    return (
        pd.DataFrame(rows, columns=columns),
        pd.DataFrame(per_seed_rows, columns=per_seed_columns),
    )


def paired_table(
    df: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    references: Sequence[str] = (RANDOM_LABEL, BEST),
    posteriors: Mapping[str, str] | None = None,
    random_for: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every strategy against each reference, paired by seed: ``(summary, per_seed)``.

    ``references`` are arm labels, or :data:`BEST` for the strategy with the highest
    mean AULC; one that the results lack is skipped, and so is a pair already compared
    the other way round (random against the best, when the best was compared against
    random). Metrics: ``aulc`` (difference in
    normalised AULC, a fraction) and ``labels_to_<100t>`` per threshold (labels saved).
    Positive differences mean the strategy is better. ``summary`` columns: ``strategy``,
    ``reference``, ``reference_role`` (the name asked for: ``random``, ``best``, ...),
    ``metric``, ``n_seeds``, ``censored`` (seeds whose difference is only a bound),
    ``mean_diff`` (NaN with censored seeds), ``median_diff_low`` / ``_high``, ``ci_low`` /
    ``ci_high`` (95% paired t interval; NaN with censored seeds), ``wins``, ``losses``,
    ``ties``, ``unknown`` (seeds whose sign is unknown: both censored), ``sign_test_p``,
    ``test`` and ``verdict``. ``per_seed``: ``seed``, ``diff_low``, ``diff_high`` per
    comparison. The rules are in this module's docstring. ``posteriors`` (``{label:
    posterior}``, :func:`arm_posteriors`): an arm whose posterior is not random's is not
    compared with random (verdict :data:`OTHER_POSTERIOR`, no statistics), unless
    ``random_for`` (``{posterior: random arm label}``, :func:`random_arms`) names a random
    arm under its posterior: then it is compared with that one.

    Raises:
        InvalidInputError: malformed table or invalid thresholds.
    """
    thresholds = _check_thresholds(thresholds)
    df = validate_results(df)
    return _paired(df, _per_seed(df, thresholds), thresholds, references, posteriors, random_for)


# ----------------------------------------------------------------------------- Markdown


def _fmt_bound(low: float, high: float, fmt: str = "{:+g}", unit: str = "") -> str:
    if math.isnan(low) or math.isnan(high):
        return "–"
    if low == high:
        return fmt.format(low) + unit
    if math.isinf(low) and math.isinf(high):
        return "unknown"
    if math.isinf(high):
        return "≥ " + fmt.format(low) + unit
    if math.isinf(low):
        return "≤ " + fmt.format(high) + unit
    return f"{fmt.format(low)}{unit} to {fmt.format(high)}{unit}"


def _fmt_needed(labels: float, budget_note: str = "") -> str:
    return "n.r." + budget_note if math.isinf(labels) or math.isnan(labels) else f"{labels:g}"


def labels_saved_markdown(saved: pd.DataFrame, title: str = "Labels saved against random") -> str:
    """Render :func:`labels_saved_table`'s output: one table per threshold."""
    lines = [f"# {title}", ""]
    if saved.empty:
        lines += ["No strategy besides the reference: nothing to compare.", ""]
    for t, rows in saved.groupby("threshold", sort=True):
        reference = rows["reference"].iloc[0]
        lines += [
            f"## To {threshold_stem(float(t))}% test accuracy",
            "",
            f"| Strategy | Per seed: median saved | % of `{reference}`'s labels | Censored pairs "
            f"| Mean curve: `{reference}` needs | strategy needs | saved | % |",
            "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for _, r in rows.iterrows():
            cells = [
                f"`{r['strategy']}`",
                _fmt_bound(r["saved_median_low"], r["saved_median_high"]),
                _fmt_bound(r["saved_pct_median_low"], r["saved_pct_median_high"], "{:+.0f}", "%"),
                f"{int(r['pairs_censored'])}/{int(r['n_pairs'])}",
                _fmt_needed(r["mean_curve_reference_labels"]),
                _fmt_needed(r["mean_curve_strategy_labels"]),
                _fmt_bound(r["mean_curve_saved_low"], r["mean_curve_saved_high"]),
                _fmt_bound(
                    r["mean_curve_saved_pct_low"], r["mean_curve_saved_pct_high"], "{:+.0f}", "%"
                ),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(SAVED_NOTES_MD)
    return "\n".join(lines)


SAVED_NOTES_MD = """\
**How to read this table**

- *Saved*: labels the reference (`random`) needs to reach the test accuracy, minus the
  labels the strategy needs (initial labels included in both); positive = fewer labels.
  *%*: the saving as a percentage of the reference's labels.
- *Per seed*: the saving of each seed (same seed = same initial labelled set), then the
  median over seeds. *Mean curve*: read off the learning curves averaged over seeds.
- A run that never reaches the accuracy within its budget (the labels at its last
  round) is censored: it needs more than its budget. A saving is then a bound: "≥ X"
  when only the reference never reaches it, "≤ X" when only the strategy never does,
  "unknown" when neither does; a median over such seeds is a range "X to Y" (the
  median of the lower bounds to the median of the upper bounds). *Censored pairs*: how
  many seeds have a censored run. n.r. = not reached.
"""


def _fmt_diff(metric: str, value: float) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{100 * value:+.1f}" if metric == "aulc" else f"{value:+.0f}"


def _metric_name(metric: str) -> str:
    if metric == "aulc":
        return "AULC (points)"
    return f"labels saved to {metric.removeprefix('labels_to_')}%"


def paired_markdown(
    summary: pd.DataFrame, per_seed: pd.DataFrame, title: str = "Paired comparison over seeds"
) -> str:
    """Render :func:`paired_table`'s output: one table per reference."""
    lines = [f"# {title}", ""]
    if summary.empty:
        lines += ["No comparison: the results hold a single strategy.", ""]
    by_seed = per_seed.groupby(["strategy", "reference", "metric"], sort=False)
    for (role, reference), rows in summary.groupby(["reference_role", "reference"], sort=False):
        heading = (
            f"Against `{reference}`"
            if role in (reference, RANDOM_LABEL)
            else f"Against the best strategy by mean AULC (`{reference}`)"
        )
        lines += [
            f"## {heading}",
            "",
            "| Strategy | Metric | Per seed (strategy − reference) | Mean [95% CI] "
            "| W/L/T | Sign test p | Verdict |",
            "| :--- | :--- | :--- | ---: | ---: | ---: | :--- |",
        ]
        for _, r in rows.iterrows():
            metric = r["metric"]
            if r["verdict"] == OTHER_POSTERIOR:
                lines.append(
                    f"| `{r['strategy']}` | {_metric_name(metric)} | – | – | – | – "
                    f"| {r['verdict']} |"
                )
                continue
            seeds = by_seed.get_group((r["strategy"], r["reference"], metric))
            diffs = ", ".join(
                _fmt_diff(metric, lo) if metric == "aulc" else _fmt_bound(lo, hi)
                for lo, hi in zip(seeds["diff_low"], seeds["diff_high"], strict=True)
            )
            if math.isnan(r["mean_diff"]):
                mean = "– (censored)" if r["censored"] else "–"
            else:
                mean = _fmt_diff(metric, r["mean_diff"])
                if not math.isnan(r["ci_low"]):
                    mean += (
                        f" [{_fmt_diff(metric, r['ci_low'])}, {_fmt_diff(metric, r['ci_high'])}]"
                    )
            wlt = f"{int(r['wins'])}/{int(r['losses'])}/{int(r['ties'])}"
            if int(r["unknown"]):
                wlt += f" (+{int(r['unknown'])} unknown)"
            lines.append(
                f"| `{r['strategy']}` | {_metric_name(metric)} | {diffs} | {mean} | {wlt} "
                f"| {r['sign_test_p']:.3g} | {r['verdict']} |"
            )
        lines.append("")
    lines.append(PAIRED_NOTES_MD)
    return "\n".join(lines)


PAIRED_NOTES_MD = """\
**How to read this table**

- Runs with the same seed share their initial labelled set, so each seed gives one
  paired difference, signed so that **positive means the strategy is better**: AULC of
  the strategy minus the reference's (percentage points), or the labels the reference
  needs minus the strategy's (labels saved; a censored run gives a bound, see
  `labels_saved.md`). Per-seed values are in `paired_per_seed.csv`.
- *Mean [95% CI]*: mean difference over seeds and its 95% paired t confidence interval
  (Student's t, n − 1 degrees of freedom). *W/L/T*: seeds where the strategy is better /
  worse / equal. *Sign test p*: exact two-sided sign test over the seeds that are not
  tied (assumes nothing about the size of differences).
- *Verdict*: "more than seed noise" when the 95% interval excludes 0; for labels with a
  censored run (no mean exists), when the sign test gives p < 0.05, which needs at least
  6 seeds that all agree. "Within seed noise" means these seeds cannot tell the two
  apart: not that they are equal. The verdict is about this protocol's seed-to-seed
  variation only (initial set, training randomness), on this dataset and test set; it
  does not say a difference carries over to other data, budgets or models, and with
  many comparisons about one in twenty "more than seed noise" verdicts at 95% can be
  chance.
"""


# ------------------------------------------------------------------------------ writing


def write_paired_files(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    posteriors: Mapping[str, str] | None = None,
    random_for: Mapping[str, str] | None = None,
) -> list[Path]:
    """Write ``labels_saved.csv``/``.md`` (only with a ``random`` arm), ``paired.csv``,
    ``paired.md`` and ``paired_per_seed.csv`` of ``df`` into ``results_dir``
    (atomically); return the paths. Without a random arm, ``paired.md`` says why there
    is no labels-saved table, and an older ``labels_saved.*`` is removed (it described
    other results)."""
    directory = Path(results_dir)
    thresholds = _check_thresholds(thresholds)
    df = validate_results(df)
    seeds = _per_seed(df, thresholds)
    written: list[Path] = []
    has_random = RANDOM_LABEL in set(df["strategy"])
    if has_random:
        comparable = df
        if posteriors is not None:  # labels saved against random under the same posterior
            same = [k for k, v in posteriors.items() if v == posteriors.get(RANDOM_LABEL)]
            comparable = df[df["strategy"].isin(same)]
        saved = _savings(
            comparable,
            seeds[seeds["strategy"].isin(comparable["strategy"])],
            thresholds,
            RANDOM_LABEL,
        )
        md = labels_saved_markdown(
            saved, title=f"Labels saved against `{RANDOM_LABEL}`: `{directory.name}`"
        )
        written += [
            atomic_write_text(directory / LABELS_SAVED_CSV, saved.to_csv(index=False)),
            atomic_write_text(directory / LABELS_SAVED_MD, md),
        ]
    else:
        for name in (LABELS_SAVED_CSV, LABELS_SAVED_MD):
            (directory / name).unlink(missing_ok=True)
    summary, per_seed = _paired(df, seeds, thresholds, (RANDOM_LABEL, BEST), posteriors, random_for)
    md = paired_markdown(
        summary, per_seed, title=f"Paired comparison over seeds: `{directory.name}`"
    )
    if not has_random:
        md = md.replace(
            "\n\n",
            f"\n\nNo `{RANDOM_LABEL}` arm in these results: no labels-saved table and no "
            "comparison against random (add a `random` strategy to the config to get "
            "them).\n\n",
            1,
        )
    written += [
        atomic_write_text(directory / PAIRED_CSV, summary.to_csv(index=False)),
        atomic_write_text(directory / PAIRED_MD, md),
        atomic_write_text(directory / PAIRED_PER_SEED_CSV, per_seed.to_csv(index=False)),
    ]
    return written


def verdict_lines(results_dir: str | os.PathLike[str]) -> list[str]:
    """Short lines for a terminal from the written ``paired.csv`` and ``labels_saved.csv``
    of ``results_dir``: per strategy against random (else against the best), its AULC
    verdict and, per threshold, the labels saved (median over seeds). Empty when the
    files are absent."""
    directory = Path(results_dir)
    path = directory / PAIRED_CSV
    if not path.is_file():
        return []
    summary = pd.read_csv(path, keep_default_na=True)
    if summary.empty:
        return []
    if "primary_metric" in summary.columns:  # another task's (task_report)
        from bayesal.report.task_report import task_verdict_lines

        return task_verdict_lines(summary)
    role = RANDOM_LABEL if (summary["reference_role"] == RANDOM_LABEL).any() else BEST
    rows = summary[summary["reference_role"] == role]
    reference = str(rows["reference"].iloc[0])
    saved_path = directory / LABELS_SAVED_CSV
    saved = pd.read_csv(saved_path) if saved_path.is_file() else None
    n = int(rows["n_seeds"].max())
    lines = [f"paired over {n} seeds, against {reference!r} (positive = better):"]
    if role != RANDOM_LABEL:
        lines.insert(0, f"no {RANDOM_LABEL!r} arm: no labels saved against random")
    for label, group in rows.groupby("strategy", sort=False):
        parts = []
        for _, r in group.iterrows():
            if r["metric"] == "aulc" and r["verdict"] == OTHER_POSTERIOR:
                parts.append(str(r["verdict"]))
            elif r["metric"] == "aulc":
                mean = _fmt_diff("aulc", r["mean_diff"])
                parts.append(
                    f"AULC {mean} points, {int(r['wins'])}/{int(r['losses'])} wins/losses: "
                    f"{r['verdict']}"
                )
        if saved is not None:
            for _, s in saved[saved["strategy"] == label].iterrows():
                saved_text = _fmt_bound(s["saved_median_low"], s["saved_median_high"])
                saved_text += " labels" if saved_text != "unknown" else " (not reached)"
                parts.append(f"to {threshold_stem(float(s['threshold']))}%: {saved_text}")
        own = str(group["reference"].iloc[0])
        named = label if own == reference else f"{label} (against {own})"
        lines.append(f"  {named}: " + "; ".join(parts))
    return lines


__all__ = [
    "BEST",
    "LABELS_SAVED_CSV",
    "LABELS_SAVED_MD",
    "PAIRED_CSV",
    "PAIRED_MD",
    "PAIRED_PER_SEED_CSV",
    "RANDOM_LABEL",
    "best_strategy",
    "labels_saved_interval",
    "labels_saved_markdown",
    "labels_saved_table",
    "paired_markdown",
    "paired_t_interval",
    "arm_posteriors",
    "random_arms",
    "paired_table",
    "saved_fraction_interval",
    "sign_test_p",
    "student_t_cdf",
    "student_t_quantile",
    "verdict_lines",
    "write_paired_files",
]
