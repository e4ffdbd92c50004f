"""Posterior pictures of 2-D datasets: an ``on_round`` callback that evaluates each listed
round's posterior draw on a grid covering the training inputs (the arrays of a snapshot
file, :data:`bayesal.results_schema.SNAPSHOT_ARRAYS`)."""

from __future__ import annotations

import numpy as np
import torch

from bayesal.acquisition import expected_entropy, mean_log_probs, predictive_entropy
from bayesal.data.dataset import Dataset
from bayesal.loop import RoundContext
from bayesal.posterior.base import log_probs_in_chunks


def _grid_axes(train_x_N_2: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = train_x_N_2.min(axis=0), train_x_N_2.max(axis=0)
    margin = 0.15 * (high - low)
    return tuple(  # type: ignore[return-value]
        np.linspace(low[d] - margin[d], high[d] + margin[d], resolution, dtype=np.float32)
        for d in range(2)
    )


class SnapshotRecorder:
    """An ``on_round`` callback that records the posterior on a 2-D grid.

    For each listed round: ``mean_prob`` (p(class 1) averaged over the K samples of the
    round's posterior draw), ``predictive_entropy`` H[mean_k p_k] and
    ``expected_entropy`` mean_k H[p_k] (their difference is BALD), all ``[G, G]`` indexed
    ``[iy, ix]`` at ``(grid_x[ix], grid_y[iy])``; ``labelled_mask`` (labelled before the
    round's acquisition) and ``acquired_mask`` (acquired in the round) over the N
    training ids.
    """

    def __init__(self, dataset: Dataset, rounds: list[int], resolution: int) -> None:
        self.train_x = dataset.train_x.numpy().astype(np.float32)
        self.train_y = dataset.train_y.numpy().astype(np.int64)
        self.grid_x, self.grid_y = _grid_axes(self.train_x, resolution)
        yy, xx = np.meshgrid(self.grid_y, self.grid_x, indexing="ij")
        self.points_P_2 = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], axis=1))
        self.wanted = set(rounds)
        self.taken: dict[str, list[np.ndarray]] = {}
        self.rounds: list[int] = []

    def __call__(self, ctx: RoundContext) -> None:
        if ctx.record.round not in self.wanted:
            return
        g = len(self.grid_x)
        with torch.no_grad():
            log_probs_P_K_C = log_probs_in_chunks(ctx.draw, self.points_P_2, 4096).double()
        fields = {
            "mean_prob": mean_log_probs(log_probs_P_K_C)[:, 1].exp(),
            "predictive_entropy": predictive_entropy(log_probs_P_K_C),
            "expected_entropy": expected_entropy(log_probs_P_K_C),
        }
        labelled = np.zeros(len(self.train_y), dtype=bool)
        labelled[ctx.labelled_ids] = True
        acquired = np.zeros(len(self.train_y), dtype=bool)
        acquired[list(ctx.record.acquired_ids)] = True
        for name, values_P in fields.items():
            self.taken.setdefault(name, []).append(values_P.reshape(g, g).float().numpy())
        self.taken.setdefault("labelled_mask", []).append(labelled)
        self.taken.setdefault("acquired_mask", []).append(acquired)
        self.rounds.append(ctx.record.round)

    def arrays(self) -> dict[str, np.ndarray]:
        """The snapshot arrays in the documented ``.npz`` format."""
        return {
            "grid_x": self.grid_x,
            "grid_y": self.grid_y,
            "rounds": np.asarray(self.rounds, dtype=np.int64),
            **{name: np.stack(values) for name, values in self.taken.items()},
            "train_x": self.train_x,
            "train_y": self.train_y,
        }
