"""Figures of 2-D runs (TwoMoons) drawn from snapshot files: where each strategy acquires.

A snapshot (``snapshots/<label>__seed<s>.npz``, see
:func:`bayesal.report.results_io.validate_snapshot`) holds, for some rounds, the
model's MC-averaged predictive probability of class 1 on a grid over the plane, the
predictive and expected entropies on that grid, and which training points were
labelled before / acquired in that round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from bayesal._atomic import atomic_savefig
from bayesal.errors import InvalidInputError
from bayesal.report.curves import STYLE, new_figure, strategy_colors
from bayesal.report.results_io import Snapshot, validate_snapshot

#: Default largest number of round columns in the acquisition grid.
MAX_GRID_COLUMNS = 6

_PROB_CMAP = "RdBu_r"  # diverging: class 0 blue, class 1 red, 0.5 white
_ENTROPY_CMAP = "viridis"
_BALD_CMAP = "magma"
_CLASS_COLORS = ("#08306B", "#67000D")  # dark blue / dark red: readable on the RdBu field
_STAR_COLOR = "#FFD21F"


def _round_index(snapshot: Mapping[str, np.ndarray], round_: int, source: str) -> int:
    rounds: list[int] = np.asarray(snapshot["rounds"]).tolist()
    if round_ not in rounds:
        raise InvalidInputError(f"{source} has no round {round_}; its rounds are {rounds}")
    return rounds.index(round_)


def _pick_rounds(rounds: Sequence[int], max_columns: int) -> list[int]:
    """All rounds if few, else ``max_columns`` evenly spaced ones including first and last."""
    rounds = list(rounds)
    if len(rounds) <= max_columns:
        return rounds
    idx = np.unique(np.round(np.linspace(0, len(rounds) - 1, max_columns)).astype(int))
    return [rounds[i] for i in idx]


def _draw_points(ax: Axes, snap: Mapping[str, np.ndarray], r: int, acquired: bool = True) -> None:
    """Pool points faint, labelled points by class, this round's acquisitions as stars."""
    x_N_2, y_N = snap["train_x"], snap["train_y"]
    labelled_N = snap["labelled_mask"][r]
    acquired_N = snap["acquired_mask"][r]
    ax.scatter(x_N_2[:, 0], x_N_2[:, 1], s=3, c="0.5", alpha=0.35, linewidths=0, zorder=2)
    for cls, color in enumerate(_CLASS_COLORS):
        sel = labelled_N & (y_N == cls)
        ax.scatter(
            x_N_2[sel, 0],
            x_N_2[sel, 1],
            s=16,
            c=color,
            edgecolors="white",
            linewidths=0.6,
            zorder=4,
        )
    if acquired and acquired_N.any():
        ax.scatter(
            x_N_2[acquired_N, 0],
            x_N_2[acquired_N, 1],
            s=110,
            marker="*",
            c=_STAR_COLOR,
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
        )


def _legend_handles() -> list[Line2D]:
    return [
        Line2D([], [], linestyle="", marker="o", markersize=3, color="0.5", alpha=0.6,
               label="unlabelled pool"),
        Line2D([], [], linestyle="", marker="o", markersize=5, color=_CLASS_COLORS[0],
               markeredgecolor="white", label="labelled, class 0"),
        Line2D([], [], linestyle="", marker="o", markersize=5, color=_CLASS_COLORS[1],
               markeredgecolor="white", label="labelled, class 1"),
        Line2D([], [], linestyle="", marker="*", markersize=11, color=_STAR_COLOR,
               markeredgecolor="black", label="acquired this round"),
        Line2D([], [], color="black", linewidth=1.2, label="decision boundary ($\\bar p = 0.5$)"),
    ]  # fmt: skip


def _decision_contour(ax: Axes, snap: Mapping[str, np.ndarray], prob_Gy_Gx: np.ndarray) -> None:
    # contour() warns on a field that never crosses 0.5; skip it then.
    if np.nanmin(prob_Gy_Gx) < 0.5 < np.nanmax(prob_Gy_Gx):
        ax.contour(
            snap["grid_x"], snap["grid_y"], prob_Gy_Gx, levels=[0.5], colors="black",
            linewidths=1.2, zorder=3,
        )  # fmt: skip


def _aspect(snap: Mapping[str, np.ndarray]) -> float:
    """Height / width of the plotted plane (panels use equal axis scales)."""
    gx, gy = snap["grid_x"], snap["grid_y"]
    width = float(np.ptp(gx)) or 1.0
    return float(np.clip((float(np.ptp(gy)) or 1.0) / width, 0.3, 3.0))


def _frame(ax: Axes, snap: Mapping[str, np.ndarray]) -> None:
    gx, gy = snap["grid_x"], snap["grid_y"]
    ax.set_xlim(float(gx.min()), float(gx.max()))
    ax.set_ylim(float(gy.min()), float(gy.max()))
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_linewidth(0.6)


def plot_acquisition_grid(
    snapshots: Mapping[str, Snapshot],
    path: str | os.PathLike[str],
    seed: int,
    rounds: Sequence[int] | None = None,
    max_columns: int = MAX_GRID_COLUMNS,
) -> Path:
    """Draw where each strategy acquires: one row per strategy, one column per round.

    Each panel shows the predictive probability of class 1 (diverging colormap, fixed
    0..1 scale, one shared colourbar), the 0.5 decision contour, the training pool
    faintly, labelled points coloured by class, and the points acquired in that round
    as black-edged stars. Column titles give the round, each panel the number of labels.

    Args:
        snapshots: ``{strategy label: snapshot arrays}`` for one seed (e.g. the result
            of :func:`~bayesal.report.results_io.load_snapshots`, or open ``np.load``).
        path: PNG to write (atomically).
        seed: the seed the snapshots belong to (for the title).
        rounds: the rounds to show (default: the first strategy's snapshot rounds,
            thinned to ``max_columns`` evenly spaced ones including first and last).
        max_columns: largest number of columns when ``rounds`` is not given.

    Raises:
        InvalidInputError: no snapshots, a malformed snapshot, or an unknown round.
    """
    if not snapshots:
        raise InvalidInputError("plot_acquisition_grid needs at least one snapshot")
    snaps = {label: validate_snapshot(s, f"snapshot {label!r}") for label, s in snapshots.items()}
    labels = list(snaps)
    if rounds is None:
        rounds = _pick_rounds(snaps[labels[0]]["rounds"].tolist(), max_columns)
    rounds = [int(r) for r in rounds]
    if not rounds:
        raise InvalidInputError("plot_acquisition_grid needs at least one round to show")
    known = set().union(*(s["rounds"].tolist() for s in snaps.values()))
    unknown = [r for r in rounds if r not in known]
    if unknown:
        raise InvalidInputError(
            f"round(s) {unknown} are in no snapshot; available rounds: {sorted(known)}"
        )
    colors = strategy_colors(labels)
    n_rows, n_cols = len(labels), len(rounds)
    panel_w = 1.9
    panel_h = panel_w * _aspect(snaps[labels[0]])
    with rc_context(STYLE):
        fig = new_figure((panel_w * n_cols + 1.5, (panel_h + 0.25) * n_rows + 1.0))
        axes = fig.subplots(n_rows, n_cols, squeeze=False)
        mesh = None
        for i, label in enumerate(labels):
            snap = snaps[label]
            snap_rounds = snap["rounds"].tolist()
            for j, round_ in enumerate(rounds):
                ax = axes[i, j]
                _frame(ax, snap)
                if round_ not in snap_rounds:
                    ax.text(0.5, 0.5, "no snapshot", ha="center", va="center",
                            transform=ax.transAxes, color="0.4")  # fmt: skip
                else:
                    r = snap_rounds.index(round_)
                    prob = snap["mean_prob"][r]
                    mesh = ax.pcolormesh(
                        snap["grid_x"], snap["grid_y"], prob, cmap=_PROB_CMAP, vmin=0.0,
                        vmax=1.0, shading="gouraud", rasterized=True, zorder=1,
                    )  # fmt: skip
                    _decision_contour(ax, snap, prob)
                    _draw_points(ax, snap, r)
                    n_lab = int(snap["labelled_mask"][r].sum())
                    n_acq = int(snap["acquired_mask"][r].sum())
                    note = f"{n_lab} labels" + (f", +{n_acq}" if n_acq else "")
                    ax.text(
                        0.03, 0.03, note, transform=ax.transAxes, ha="left", va="bottom",
                        fontsize=8, zorder=6,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                              "alpha": 0.8},
                    )  # fmt: skip
                if i == 0:
                    ax.set_title(f"Round {round_}")
                if j == 0:
                    ax.set_ylabel(label, fontsize=11, fontweight="bold", color=colors[label])
        if mesh is not None:
            cbar = fig.colorbar(mesh, ax=axes, shrink=0.9 if n_rows > 1 else 1.0, pad=0.015)
            cbar.set_label(r"$\bar p(y{=}1 \mid x)$")
        fig.suptitle(f"Where each strategy acquires (seed {seed})")
        fig.legend(
            handles=_legend_handles(),
            loc="outside lower center",
            ncol=5,
            frameon=False,
            fontsize=9,
            handletextpad=0.3,
            columnspacing=1.2,
        )
        return atomic_savefig(fig, path)


def plot_bald_anatomy(
    snapshot: Snapshot,
    path: str | os.PathLike[str],
    round: int,
    title: str | None = None,
) -> Path:
    """Four panels over the plane at one round: why BALD acquires where it does.

    Panels: predictive entropy ``H[p̄]`` (total uncertainty), expected entropy
    ``E_k H[p_k]`` (aleatoric part; same colour scale as the first panel), BALD
    ``= H[p̄] - E_k H[p_k]`` (epistemic part, clipped at 0 for display), and the mean
    probability of class 1. Labelled points and the points acquired in that round are
    overlaid; each panel has its colourbar. Entropies are in nats.

    Args:
        snapshot: one strategy's snapshot arrays (ideally the MC-dropout BALD run).
        path: PNG to write (atomically).
        round: a round number listed in ``snapshot["rounds"]``.
        title: figure title (default names the round and the number of labels).

    Raises:
        InvalidInputError: a malformed snapshot or a round it does not hold.
    """
    snap = validate_snapshot(snapshot)
    r = _round_index(snap, int(round), "snapshot")
    pred = snap["predictive_entropy"][r]
    expected = snap["expected_entropy"][r]
    bald = np.clip(pred - expected, 0.0, None)
    prob = snap["mean_prob"][r]
    ent_max = float(max(np.nanmax(pred), np.nanmax(expected), 1e-12))
    bald_max = float(max(np.nanmax(bald), 1e-12))
    n_lab = int(snap["labelled_mask"][r].sum())
    panels = [
        (pred, _ENTROPY_CMAP, 0.0, ent_max, r"Predictive entropy $\mathbb{H}[\bar p]$", "nats"),
        (
            expected,
            _ENTROPY_CMAP,
            0.0,
            ent_max,
            r"Expected entropy $\mathbb{E}_k\,\mathbb{H}[p_k]$",
            "nats",
        ),
        (
            bald,
            _BALD_CMAP,
            0.0,
            bald_max,
            r"BALD $= \mathbb{H}[\bar p] - \mathbb{E}_k\,\mathbb{H}[p_k]$",
            "nats",
        ),
        (prob, _PROB_CMAP, 0.0, 1.0, r"Mean probability $\bar p(y{=}1 \mid x)$", "probability"),
    ]
    panel_w = 3.4
    panel_h = panel_w * _aspect(snap)
    with rc_context(STYLE):
        fig = new_figure((2 * (panel_w + 1.0) + 0.2, 2 * (panel_h + 0.45) + 0.9))
        axes = fig.subplots(2, 2).ravel()
        for ax, (field, cmap, vmin, vmax, panel_title, unit) in zip(axes, panels, strict=True):
            _frame(ax, snap)
            mesh = ax.pcolormesh(
                snap["grid_x"], snap["grid_y"], field, cmap=cmap, vmin=vmin, vmax=vmax,
                shading="gouraud", rasterized=True, zorder=1,
            )  # fmt: skip
            if cmap == _PROB_CMAP:
                _decision_contour(ax, snap, prob)
            _draw_points(ax, snap, r)
            ax.set_title(panel_title)
            # A colourbar exactly as tall as its panel (equal-aspect panels leave slack).
            cax = ax.inset_axes((1.03, 0.0, 0.045, 1.0))
            cbar = fig.colorbar(mesh, cax=cax)
            cbar.set_label(unit)
        fig.suptitle(
            title or f"Anatomy of BALD at round {int(round)} ({n_lab} labels; stars: acquired next)"
        )
        fig.legend(
            handles=_legend_handles(),
            loc="outside lower center",
            ncol=3,
            frameon=False,
            fontsize=9,
        )
        return atomic_savefig(fig, path)
