"""Learning curves (test accuracy against labels) and the shared figure style.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas: no pyplot, no
display, no global figure registry, so report code is safe in worker processes and
leaves matplotlib's global state alone (style goes through ``rc_context``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bayesal._atomic import atomic_savefig
from bayesal.report.results_io import validate_results

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Figure style for every report figure (paper-sized fonts, light grid, no top/right spines).
STYLE: dict[RcKeyType, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "savefig.dpi": 200,
    "figure.dpi": 100,
    "image.interpolation": "nearest",
}

# Okabe-Ito colour-blind-safe palette; well-known strategies keep a fixed colour so that
# figures of different experiments can be compared at a glance; random is always grey.
_FIXED_COLORS: dict[str, str] = {
    "random": "#7f7f7f",
    "bald": "#0072B2",
    "batchbald": "#D55E00",
    "entropy": "#009E73",
    "max_entropy": "#009E73",
    "margin": "#CC79A7",
    "least_confidence": "#E69F00",
    "variation_ratios": "#56B4E9",
    "mean_std": "#8C564B",
    "epig": "#000000",
}
_FALLBACK_COLORS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#8C564B",
    "#BCBD22",
    "#17BECF",
    "#9467BD",
    "#E377C2",
)
_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*")


def strategy_colors(labels: Iterable[str]) -> dict[str, str]:
    """A colour per strategy label: fixed for well-known names, then the palette in order.

    Deterministic for a given list of labels, so every figure of one report that is
    drawn from the same label list uses the same colours.
    """
    labels = list(dict.fromkeys(labels))
    colors = {label: _FIXED_COLORS[label] for label in labels if label in _FIXED_COLORS}
    free = [c for c in _FALLBACK_COLORS if c not in colors.values()]
    i = 0
    for label in labels:
        if label not in colors:
            colors[label] = free[i % len(free)] if free else _FALLBACK_COLORS[0]
            i += 1
    return colors


def new_figure(figsize: tuple[float, float], **kwargs: Any) -> Figure:
    """A Figure with an Agg canvas and constrained layout (call inside ``rc_context(STYLE)``)."""
    fig = Figure(figsize=figsize, layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_learning_curves(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    thresholds: Sequence[float] = (),
    strategy_order: Sequence[str] | None = None,
) -> Path:
    """Plot test accuracy against number of labels, one line per strategy, to a PNG.

    Each line is the mean over seeds at each number of labels; the shaded band is
    ±1 sample standard deviation over seeds (stated in the legend title). The title
    gives the number of seeds. ``thresholds`` draws faint horizontal reference lines
    (e.g. ``(0.9, 0.95)``). ``strategy_order`` fixes the legend order and colours
    (default: order of first appearance). Written atomically; returns ``path``.

    Raises:
        InvalidInputError: malformed results table.
    """
    df = validate_results(df)
    labels = list(strategy_order) if strategy_order is not None else list(df["strategy"].unique())
    colors = strategy_colors(labels)
    seeds_per_strategy = df.groupby("strategy", sort=False)["seed"].nunique()
    distinct_counts = sorted(
        {int(seeds_per_strategy[s]) for s in labels if s in seeds_per_strategy}
    )

    with rc_context(STYLE):
        fig = new_figure((6.4, 4.2))
        ax = fig.add_subplot()
        for i, label in enumerate(labels):
            runs = df[df["strategy"] == label]
            if runs.empty:
                continue
            stats = runs.groupby("n_labels")["test_accuracy"].agg(["mean", "std", "count"])
            x = stats.index.to_numpy(dtype=np.float64)
            mean = stats["mean"].to_numpy()
            std = np.nan_to_num(stats["std"].to_numpy())  # one seed: no band
            name = label
            if len(distinct_counts) > 1:
                name = f"{label} (n={int(seeds_per_strategy[label])})"
            markevery = max(1, len(x) // 12)
            ax.plot(
                x,
                mean,
                color=colors[label],
                marker=_MARKERS[i % len(_MARKERS)],
                markersize=4,
                markevery=markevery,
                linewidth=1.6,
                label=name,
                zorder=3,
            )
            ax.fill_between(
                x, mean - std, mean + std, color=colors[label], alpha=0.18, linewidth=0, zorder=2
            )
        for t in thresholds:
            ax.axhline(t, color="0.4", linestyle=":", linewidth=0.9, zorder=1)
            ax.annotate(
                f"{100 * t:g}%",
                xy=(0.0, t),
                xycoords=("axes fraction", "data"),
                xytext=(3, 2),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=8,
                color="0.35",
            )
        ax.set_xlabel("Number of labelled examples")
        ax.set_ylabel("Test accuracy")
        ax.yaxis.set_major_formatter(lambda v, _pos: f"{100 * v:.0f}%")
        ax.grid(True, which="major")
        if len(distinct_counts) == 1:
            seeds_text = f"{distinct_counts[0]} seed{'s' if distinct_counts[0] != 1 else ''}"
        else:
            seeds_text = f"{distinct_counts[0]}–{distinct_counts[-1]} seeds per strategy"
        ax.set_title(f"Learning curves (mean over {seeds_text})")
        legend = {"title": "shaded: ±1 s.d. over seeds", "title_fontsize": 8}
        if len(labels) <= 5:
            ax.legend(loc="lower right", frameon=True, framealpha=0.9, **legend)
        else:  # many lines: keep the legend off the curves
            fig.set_size_inches(8.2, 4.4)
            fig.legend(loc="outside right upper", frameon=False, **legend)
        return atomic_savefig(fig, path)
