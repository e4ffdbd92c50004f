"""bayesal's labels-to-accuracy table beside published MNIST numbers.

Two sources, each quoted as published and converted to bayesal's counting convention
(``n_labels``: every label the evaluated model was trained on, the initial ones included):

- **Gal, Islam & Ghahramani (2017)**, "Deep Bayesian Active Learning with Image Data"
  (ICML), Table 1: the number of images *acquired* (beyond the 20 initial labels) to
  reach 10% and 5% test error on MNIST, i.e. 90% and 95% test accuracy. Converted with
  ``labels = 20 + acquired``.
- **The seed study** this project grew from: labels to reach 95% MNIST test accuracy.
  It states labels, not acquisitions, so they are read as total labels (no conversion).

``write_comparison`` writes ``published_comparison.md`` and ``published_comparison.csv``
into a results directory; :func:`bayesal.report.write_report` calls it when the
directory's resolved config names the MNIST dataset (or when asked explicitly).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesal._atomic import atomic_write_text
from bayesal.errors import InvalidInputError
from bayesal.report.results_io import (  # noqa: F401  (read_resolved_config: re-exported)
    read_resolved_config,
    validate_results,
)
from bayesal.report.tables import (
    labels_to_threshold_of_mean_curve,
    summary_table,
    threshold_key,
)
from bayesal.results_schema import RESOLVED_CONFIG_FILE  # noqa: F401  (re-exported)

COMPARISON_CSV = "published_comparison.csv"
COMPARISON_MD = "published_comparison.md"

#: Datasets whose reports get the comparison by default.
COMPARED_DATASETS: tuple[str, ...] = ("mnist",)

#: Initial labelled set of Gal et al. (2017): acquired counts + this = total labels.
GAL2017_INITIAL_LABELS = 20
#: Their protocol, as far as it fixes the counts: initial labels, labels per acquisition,
#: acquisitions.
GAL2017_PROTOCOL = {"initial_labels": 20, "acquisition_size": 10, "rounds": 100}

THRESHOLDS: tuple[float, float] = (0.90, 0.95)


@dataclass(frozen=True)
class PublishedNumber:
    """One published "labels to reach accuracy ``threshold``" figure.

    ``labels`` is in bayesal's convention (total labels, initial included); ``as_published``
    is the figure exactly as the source prints it (acquired images for Gal et al.).
    """

    source: str
    strategy: str
    published_name: str
    threshold: float
    as_published: int
    labels: int


SOURCES: dict[str, str] = {
    "gal2017": "Gal, Islam & Ghahramani (2017), Deep Bayesian Active Learning with Image "
    "Data, ICML, Table 1 (images acquired beyond 20 initial labels to reach 10% / 5% test "
    "error)",
    "seed_study": "the seed study of this project (labels to reach 95% test accuracy)",
}


def _gal(strategy: str, name: str, to_90: int, to_95: int) -> list[PublishedNumber]:
    return [
        PublishedNumber("gal2017", strategy, name, t, n, n + GAL2017_INITIAL_LABELS)
        for t, n in ((0.90, to_90), (0.95, to_95))
    ]


#: Every published number, keyed by bayesal strategy name.
PUBLISHED: tuple[PublishedNumber, ...] = (
    *_gal("random", "Random", 255, 835),
    *_gal("bald", "BALD", 145, 335),
    *_gal("variation_ratios", "Var Ratios", 120, 295),
    *_gal("entropy", "Max Entropy", 165, 355),
    PublishedNumber("seed_study", "random", "random", 0.95, 670, 670),
    PublishedNumber("seed_study", "margin", "margin", 0.95, 320, 320),
    PublishedNumber("seed_study", "entropy", "entropy", 0.95, 460, 460),
    PublishedNumber("seed_study", "bald", "BALD", 0.95, 400, 400),
)


def published_table() -> pd.DataFrame:
    """:data:`PUBLISHED` as a long table (one row per source x strategy x threshold)."""
    return pd.DataFrame([vars(p) for p in PUBLISHED])


def published_number(source: str, strategy: str, threshold: float) -> PublishedNumber | None:
    """The :data:`PUBLISHED` number of ``source`` for ``strategy`` at ``threshold``, or None."""
    for p in PUBLISHED:
        if p.source == source and p.strategy == strategy and math.isclose(p.threshold, threshold):
            return p
    return None


def _pct(threshold: float) -> str:
    return f"{100 * threshold:g}"


def comparison_table(
    df: pd.DataFrame,
    *,
    initial_labels: int | None = None,
    strategy_names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """bayesal's labels to 90% / 95% per strategy, beside the published numbers.

    Args:
        df: a results table (``results.csv`` rows; validated here).
        initial_labels: the run's initial labelled set, to express bayesal's counts as
            acquisitions too (``None``: the smallest ``n_labels`` in the table).
        strategy_names: arm label -> registered strategy name (from the resolved config);
            labels not in it are taken to be strategy names. Published numbers are
            matched by strategy name.

    Returns one row per arm of ``df`` (in order), then one per published strategy that
    ``df`` lacks. For each threshold t (stem ``labels_to_<100t>``): ``_median``,
    ``_q25``, ``_q75``, ``_reached`` (as :func:`~bayesal.report.tables.summary_table`),
    ``_mean_curve`` (labels at which the accuracy averaged over seeds first reaches t),
    ``acquired_to_<100t>_median`` (median minus ``initial_labels``), and the published
    ``gal2017_acquired_to_<100t>`` / ``gal2017_labels_to_<100t>``; plus
    ``seed_study_labels_to_95``. NaN = not reached / not published.
    """
    df = validate_results(df)
    if initial_labels is None:
        initial_labels = int(df["n_labels"].min())
    names = dict(strategy_names or {})
    summary = summary_table(df, THRESHOLDS).set_index("strategy")
    rows: list[dict[str, Any]] = []
    labels = list(summary.index)
    missing = sorted(
        {p.strategy for p in PUBLISHED} - {names.get(label, label) for label in labels},
        key=[p.strategy for p in PUBLISHED].index,
    )
    for label in [*labels, *missing]:
        name = names.get(label, label)
        row: dict[str, Any] = {"strategy": label, "strategy_name": name}
        ours = summary.loc[label] if label in summary.index else None
        row["n_seeds"] = int(ours["n_seeds"]) if ours is not None else 0
        runs = df[df["strategy"] == label]
        for t in THRESHOLDS:
            key = threshold_key(t)
            for stat in ("median", "q25", "q75"):
                row[f"{key}_{stat}"] = float(ours[f"{key}_{stat}"]) if ours is not None else np.nan
            row[f"{key}_reached"] = int(ours[f"{key}_reached"]) if ours is not None else 0
            mean_curve = labels_to_threshold_of_mean_curve(runs, t) if len(runs) else math.inf
            row[f"{key}_mean_curve"] = np.nan if math.isinf(mean_curve) else mean_curve
            row[f"acquired_to_{_pct(t)}_median"] = row[f"{key}_median"] - initial_labels
            gal = published_number("gal2017", name, t)
            row[f"gal2017_acquired_to_{_pct(t)}"] = gal.as_published if gal else np.nan
            row[f"gal2017_labels_to_{_pct(t)}"] = gal.labels if gal else np.nan
        seed = published_number("seed_study", name, 0.95)
        row["seed_study_labels_to_95"] = seed.labels if seed else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _num(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:g}"


def _ours(row: pd.Series, t: float) -> str:
    key = threshold_key(t)
    if row["n_seeds"] == 0:
        return "–"
    med, q1, q3 = (row[f"{key}_{s}"] for s in ("median", "q25", "q75"))

    def fmt(x: float) -> str:
        return "n.r." if math.isnan(x) else f"{x:g}"

    return f"**{fmt(med)}** [{fmt(q1)}, {fmt(q3)}] ({int(row[f'{key}_reached'])}/{row['n_seeds']})"


def _mean_curve(row: pd.Series, t: float) -> str:
    if row["n_seeds"] == 0:
        return "–"
    value = row[f"{threshold_key(t)}_mean_curve"]
    return "n.r." if math.isnan(value) else f"{value:g}"


def _gal_cell(row: pd.Series, t: float) -> str:
    labels, acquired = row[f"gal2017_labels_to_{_pct(t)}"], row[f"gal2017_acquired_to_{_pct(t)}"]
    if math.isnan(labels):
        return "–"
    return f"{labels:g} ({acquired:g})"


def protocol_notes(config: Mapping[str, Any] | None) -> list[str]:
    """Lines describing the run's protocol (from its resolved config) and how it differs
    from Gal et al.'s counts; empty without a config."""
    if not config:
        return []
    init, size, rounds = (config.get(k) for k in ("initial_labels", "acquisition_size", "rounds"))
    post = config.get("posterior") or {}
    k = post.get("num_samples") or post.get("members")
    test = config.get("test_subset")
    lines = [
        f"Protocol of these results: {init} initial labels, {size} per acquisition, "
        f"{rounds} acquisitions, posterior {post.get('name')} (K = {k}), "
        f"pool subset {config.get('pool_subset') or 'none'} scored per round, "
        f"test set {'a ' + str(test) + '-example subset' if test else 'complete'}."
    ]
    differ = [
        f"{field} {config.get(field)} (Gal et al.: {value})"
        for field, value in GAL2017_PROTOCOL.items()
        if config.get(field) != value
    ]
    if test:
        differ.append(f"test_subset {test} (Gal et al.: the full test set)")
    if differ:
        lines.append(
            "**Not the Gal et al. protocol** (" + "; ".join(differ) + "): compare with care."
        )
    return lines


CONVENTIONS_MD = """\
**Counting conventions**

- *bayesal*: per seed, `n_labels` (every label the model was trained on, the initial
  ones included) at the first round whose test accuracy is ≥ t; **median** [Q1, Q3] over
  all n seeds, a seed that never reaches t counting as infinitely many labels, so
  "n.r." (not reached) when the statistic depends on such a seed; (k/n) seeds reached t.
  *Mean curve*: the first `n_labels` at which the accuracy averaged over seeds is ≥ t
  (published numbers are usually read off such averaged curves).
- *Gal et al. 2017, Table 1*: images **acquired** beyond the 20 initial labels to reach
  10% / 5% test error (= 90% / 95% accuracy). Shown as `labels (acquired)` with
  labels = 20 + acquired, bayesal's convention.
- *Seed study*: labels to reach 95% as stated there, read as total labels (initial
  included); it gives no 90% figure.
"""


def comparison_markdown(
    table: pd.DataFrame, notes: Sequence[str] = (), title: str = "Labels to 90% / 95%"
) -> str:
    """Render :func:`comparison_table` as Markdown, with ``notes`` and the conventions."""
    headers = [
        "Strategy",
        "90%: bayesal median [IQR] (k/n)",
        "90%: mean curve",
        "90%: Gal 2017 labels (acquired)",
        "95%: bayesal median [IQR] (k/n)",
        "95%: mean curve",
        "95%: Gal 2017 labels (acquired)",
        "95%: seed study",
    ]
    lines = [f"# {title}", ""]
    lines += [*notes, ""] if notes else []
    lines += ["| " + " | ".join(headers) + " |", "| :--- |" + " ---: |" * (len(headers) - 1)]
    for _, row in table.iterrows():
        label = f"`{row['strategy']}`"
        if row["strategy_name"] != row["strategy"]:
            label += f" ({row['strategy_name']})"
        cells = [label]
        for t in THRESHOLDS:
            cells += [_ours(row, t), _mean_curve(row, t), _gal_cell(row, t)]
        cells.append(_num(row["seed_study_labels_to_95"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + CONVENTIONS_MD


def comparison_wanted(config: Mapping[str, Any] | None) -> bool:
    """True when the resolved config's dataset is one of :data:`COMPARED_DATASETS`."""
    dataset = (config or {}).get("dataset") or {}
    return isinstance(dataset, Mapping) and dataset.get("name") in COMPARED_DATASETS


def write_comparison(
    results_dir: str | os.PathLike[str],
    df: pd.DataFrame,
    config: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``published_comparison.csv`` and ``.md`` into ``results_dir``; return the paths.

    ``config`` (the resolved config, e.g. from :func:`read_resolved_config`) supplies
    the initial labels, the arm label -> strategy name map and the protocol notes.
    """
    directory = Path(results_dir)
    names: dict[str, str] = {}
    initial = None
    if config:
        for arm in config.get("strategies") or []:
            if isinstance(arm, Mapping) and "name" in arm:
                names[str(arm.get("label") or arm["name"])] = str(arm["name"])
        if isinstance(config.get("initial_labels"), int):
            initial = int(config["initial_labels"])
    table = comparison_table(df, initial_labels=initial, strategy_names=names)
    if table.empty:
        raise InvalidInputError(f"no strategies to compare in {directory}")
    csv_path = atomic_write_text(directory / COMPARISON_CSV, table.to_csv(index=False))
    md = comparison_markdown(
        table,
        protocol_notes(config),
        title=f"`{directory.name}`: labels to 90% / 95% MNIST test accuracy vs published",
    )
    md_path = atomic_write_text(directory / COMPARISON_MD, md)
    return [csv_path, md_path]
