"""Embeddings: what embedding strategies (BADGE, coreset, TypiClust) read, and the
k-center greedy cold start.

:func:`embedding_inputs` turns the learner's ``embed`` setting (``"auto"``,
``"features"``, ``"inputs"`` or a callable) and its fitted model into the
``embeddings_N_D`` / ``labelled_embeddings_L_D`` keyword inputs of a strategy's
``select``, computed chunk by chunk for the items the strategy selects among only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from bayesal.acquisition.base import EMBEDDINGS, LABELLED_EMBEDDINGS, strategy_inputs
from bayesal.data.source import PoolInputs
from bayesal.device import model_dtype, to_model_input
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import evaluation_mode

if TYPE_CHECKING:
    from bayesal.learner import ActiveLearner

__all__ = ["embed_rows", "embedder", "embedding_inputs", "kcenter_greedy"]


def embedding_inputs(learner: ActiveLearner, rows: NDArray[np.int64]) -> dict[str, Tensor]:
    """The embedding keyword inputs of the strategy's ``select`` for the input rows
    ``rows`` (the items it selects among, in that order): ``embeddings_N_D`` and
    ``labelled_embeddings_L_D`` (every labelled item, sorted by id) as it declares
    them (``{}`` for a strategy that reads none). Chunked, on the CPU. Sets
    ``learner.last_embed``."""
    inputs = strategy_inputs(learner.strategy)
    if not inputs & {EMBEDDINGS, LABELLED_EMBEDDINGS}:
        learner.last_embed = None
        return {}
    embed, kind = embedder(learner)
    learner.last_embed = kind
    pool_N_D = embed_rows(learner.inputs, embed, rows, learner.chunk_size)
    extra: dict[str, Tensor] = {}
    if EMBEDDINGS in inputs:
        extra["embeddings_N_D"] = pool_N_D
    if LABELLED_EMBEDDINGS in inputs:
        labelled = learner._rows_of(learner.pool.labelled_ids)
        extra["labelled_embeddings_L_D"] = (
            embed_rows(learner.inputs, embed, labelled, learner.chunk_size)
            if len(labelled)
            else pool_N_D.new_zeros(0, pool_N_D.shape[1])
        )
    return extra


def embedder(learner: ActiveLearner) -> tuple[Callable[[Tensor], Tensor], str]:
    """``(x -> embeddings, kind)`` for the learner's ``embed`` setting and fitted model
    (it fits the posterior if the labels changed)."""
    device = learner.device
    if callable(learner.embed):
        user = learner.embed
        return (lambda x: user(x.to(device))), "callable"
    if learner.embed == "inputs":
        return (lambda x: x), "inputs"
    models = list(getattr(learner.fit(), "models", None) or [])
    model = models[0] if models else None
    if not (isinstance(model, nn.Module) and callable(getattr(model, "features", None))):
        if learner.embed == "features":
            raise InvalidInputError(
                f"embed='features', but the trained model ({type(model).__name__}) has "
                "no features(x) method returning its penultimate features [n, D]; add "
                "one (see bayesal.models.features.FeatureModel), or pass "
                "embed='inputs' or a callable x -> [n, D]"
            )
        return (lambda x: x), "inputs"
    net: nn.Module = model
    dtype = model_dtype(net)

    def features(x: Tensor) -> Tensor:
        with evaluation_mode(net):
            # features(x) was checked to exist above; nn.Module does not declare it.
            out: Tensor = net.features(to_model_input(x, device, dtype))  # type: ignore[operator]
            return out

    return features, "features"


def embed_rows(
    inputs: PoolInputs,
    embed: Callable[[Tensor], Tensor],
    rows: NDArray[np.int64],
    chunk_size: int,
) -> Tensor:
    """``[len(rows), D]`` embeddings of the input rows, chunk by chunk, on the CPU
    (float32 unless the embedder returns float64)."""
    parts = []
    with torch.no_grad():
        for x in inputs.batches(rows, chunk_size):
            out = embed(x)
            if not isinstance(out, Tensor) or out.ndim < 1 or len(out) != len(x):
                got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise InvalidInputError(
                    f"embed must map {len(x)} inputs to embeddings [{len(x)}, D], got {got}"
                )
            out = out.detach().reshape(len(x), -1).cpu()
            if out.dtype != torch.float64:
                out = out.float()
            parts.append(out)
    return torch.cat(parts)


def kcenter_greedy(
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    n: int,
    generator: torch.Generator,
    *,
    embed: Callable[[Tensor], Tensor] | None = None,
    chunk_size: int = 4096,
    device: torch.device | None = None,
) -> NDArray[np.int64]:
    """``n`` of ``rows`` chosen by k-center greedy (farthest-first traversal) in Euclidean
    distance on the flattened inputs (or on ``embed(inputs)``, run without gradients on
    ``device``): the first at random, each next one the farthest from those chosen.
    Streams the inputs in chunks (one pass per pick); memory ``O(len(rows))``. Returns
    positions into ``rows``, in pick order."""
    if n > len(rows):
        raise InvalidInputError(f"cannot pick {n} of {len(rows)} items")

    def features(batch: Tensor) -> Tensor:
        if embed is not None:
            with torch.no_grad():
                batch = embed(batch.to(device)).cpu()
        return batch.reshape(len(batch), -1).double()

    first = int(torch.randint(len(rows), (1,), generator=generator))
    picks = [first]
    min_dist = torch.full((len(rows),), math.inf, dtype=torch.float64)
    centre = features(inputs.take(rows[[first]]))
    for _ in range(n - 1):
        start = 0
        for batch in inputs.batches(rows, chunk_size):
            f = features(batch)
            d = ((f - centre) ** 2).sum(dim=1)
            min_dist[start : start + len(f)] = torch.minimum(min_dist[start : start + len(f)], d)
            start += len(f)
        min_dist[picks] = -1.0
        nxt = int(torch.argmax(min_dist))
        picks.append(nxt)
        centre = features(inputs.take(rows[[nxt]]))
    return np.asarray(picks, dtype=np.int64)
