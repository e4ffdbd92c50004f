"""The learner's random streams: every random choice reads its own stream derived from
the learner ``seed`` by ``numpy.random.SeedSequence(seed, spawn_key=(stream, round,
member))``. The stream numbers are part of what makes a run reproducible (and a saved
learner resume exactly): never renumber them, only add new ones at the end."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["stream_seed"]

# Independent random streams (the first element of the SeedSequence spawn key). The
# first seven are those of the original simulation loop, so its results do not change.
_INITIAL, _MODEL_INIT, _TRAIN, _SUBSET, _DRAW, _SELECT, _TARGET, _COLD = range(8)
# The tie-breaking keys of a joint strategy's prefilter (bayesal.scoring).
_PREFILTER = 8


def stream_seed(seed: int, stream: int, *keys: int) -> int:
    """A 63-bit seed for one random stream of the run ``seed`` (e.g. round r's training)."""
    state = np.random.SeedSequence(seed, spawn_key=(stream, *keys)).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)
