"""Score one range of a pool under one posterior draw, chunk by chunk.

The pool is the list of input rows ``rows`` (positions ``0 .. N-1``: the scored ids in
order). A *plan* (:class:`ScorePlan`) says what to keep of each scored chunk, so that
``[N, K, C]`` is never held:

* ``top_k``: the candidates of a streaming top-k (:class:`~.topk.TopKCandidates`), for a
  pointwise strategy whose selector is top-k;
* ``scores``: every pointwise score (``N`` floats: 4-8 bytes per item), for stochastic
  selectors (power / softmax / softrank sample from all of them) and any other selector;
* ``prefilter``: the ``m`` best rows by BALD with their log-probs
  (:class:`~.topk.BestCandidates`), the candidate set of a joint strategy (BatchBALD);
* ``log_probs``: the log-probs themselves (exact joint selection: only for a pool whose
  ``[N, K, C]`` fits in memory).

**Same bits as the in-memory path.** Log-probs are computed in the chunks the learner has
always used: rows ``[i * chunk_size, (i + 1) * chunk_size)`` of the scored pool (a
forward pass's float sums can depend on how many rows it holds, so chunk boundaries are
never moved). Pointwise scores are computed on *score blocks*: the same chunks, except
for EPIG, whose block is its own row block (:func:`epig_row_block`), so that each call
of :func:`~bayesal.acquisition.epig.epig` does exactly what the one call over the whole
pool did on those rows. A range is a set of whole score blocks; it computes the chunks
that cover them, plus at most one chunk on either side when a block straddles a chunk
boundary (EPIG). Any split of the pool into ranges, run anywhere, gives the scores of
one pass over the whole pool, bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition.base import Strategy
from bayesal.acquisition.epig import EPIGScore
from bayesal.acquisition.information import mutual_information
from bayesal.data.source import PoolInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import PosteriorDraw
from bayesal.scoring.checks import check_score_chunk
from bayesal.scoring.exclusions import Exclusions
from bayesal.scoring.topk import BestCandidates, TopKCandidates

__all__ = [
    "PlanMode",
    "RangeResult",
    "ScorePlan",
    "ShardRange",
    "epig_row_block",
    "score_block_of",
    "score_range",
    "shard_ranges",
]

PlanMode = Literal["top_k", "scores", "prefilter", "log_probs"]
_MODES: tuple[str, ...] = ("top_k", "scores", "prefilter", "log_probs")


def epig_row_block(chunk_budget: int, num_targets: int, num_classes: int) -> int:
    """Pool rows per block of :func:`~bayesal.acquisition.epig.epig` (its ``n_chunk``):
    ``chunk_budget // (C^2 m_chunk)`` with ``m_chunk = min(M, chunk_budget // C^2)``."""
    c2 = num_classes * num_classes
    m_chunk = min(num_targets, max(1, chunk_budget // c2))
    return max(1, chunk_budget // (c2 * m_chunk))


def score_block_of(
    strategy: Strategy, chunk_size: int, num_targets: int | None, num_classes: int
) -> int:
    """Rows per ``strategy.score`` call that reproduce the in-memory scores bit for bit:
    EPIG's own row block for :class:`~bayesal.acquisition.epig.EPIGScore`, else the
    learner's chunk."""
    scorer = getattr(strategy, "scorer", None)
    if isinstance(scorer, EPIGScore) and num_targets:
        return epig_row_block(scorer.chunk_budget, num_targets, num_classes)
    return chunk_size


@dataclass(frozen=True)
class ScorePlan:
    """What every range keeps of its scored chunks (see the module docstring).

    Attributes:
        mode: ``top_k``, ``scores``, ``prefilter`` or ``log_probs``.
        num_items: N, the size of the scored pool.
        chunk_size: rows per forward pass, counted from position 0.
        score_block: rows per ``strategy.score`` call, counted from position 0.
        keep: ``top_k``: the batch size; ``prefilter``: the candidate set size m.
        seed: the seed of the prefilter's tie-breaking keys.
    """

    mode: PlanMode
    num_items: int
    chunk_size: int
    score_block: int
    keep: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise InvalidInputError(f"unknown scoring mode {self.mode!r}; one of {_MODES}")
        for name in ("num_items", "chunk_size", "score_block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if self.mode in ("top_k", "prefilter") and self.keep < 1:
            raise InvalidInputError(f"mode {self.mode!r} needs keep >= 1, got {self.keep}")


@dataclass(frozen=True)
class ShardRange:
    """Positions ``[own_start, own_stop)`` scored by one range, and the positions
    ``[compute_start, compute_stop)`` whose log-probs it computes to do so (whole chunks)."""

    own_start: int
    own_stop: int
    compute_start: int
    compute_stop: int

    def __len__(self) -> int:
        return self.own_stop - self.own_start


def _ceil_to(value: int, step: int, limit: int) -> int:
    return min(limit, -(-value // step) * step)


def shard_ranges(plan: ScorePlan, num_shards: int) -> list[ShardRange]:
    """Split the pool into at most ``num_shards`` ranges of whole chunks (about equal);
    each owns the score blocks that start in its chunks. Empty ranges are dropped."""
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise InvalidInputError(f"the number of shards must be >= 1, got {num_shards!r}")
    N, cs, nb = plan.num_items, plan.chunk_size, plan.score_block
    if plan.mode in ("prefilter", "log_probs"):
        nb = cs  # scored (BALD) or kept per chunk
    num_chunks = -(-N // cs)
    shards = min(num_shards, num_chunks)
    bounds = [round(i * num_chunks / shards) * cs for i in range(shards)] + [N]
    ranges = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        own_start = _ceil_to(a, nb, N)
        own_stop = _ceil_to(b, nb, N)
        if own_stop <= own_start:
            continue
        compute_start = (own_start // cs) * cs
        compute_stop = _ceil_to(own_stop, cs, N)
        ranges.append(ShardRange(own_start, own_stop, compute_start, compute_stop))
    return ranges


@dataclass
class RangeResult:
    """What one range kept (by plan mode), its score statistics and its timings.

    ``scores`` / ``log_probs`` cover positions ``[shard.own_start, shard.own_stop)``.
    ``stats`` is ``(sum of finite scores (float64), count of finite scores, max finite
    score)`` for ``top_k`` ranges. ``seconds`` splits the wall time into ``read`` (pool
    inputs), ``forward`` (log-probs), ``score`` (scores and candidate sets).
    """

    shard: ShardRange
    top: TopKCandidates | None = None
    scores: Tensor | None = None
    best: BestCandidates | None = None
    log_probs: Tensor | None = None
    stats: tuple[float, int, float] = (0.0, 0, -math.inf)
    seconds: dict[str, float] = field(default_factory=dict)
    rows_computed: int = 0


def _timed_batches(
    inputs: PoolInputs, rows: NDArray[np.int64], chunk_size: int, seconds: dict[str, float]
) -> Iterator[Tensor]:
    iterator = inputs.batches(rows, chunk_size)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            return
        finally:
            seconds["read"] += time.perf_counter() - t0
        yield batch


def _chunk_blocks(
    draw: PosteriorDraw,
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    shard: ShardRange,
    chunk_size: int,
    block: int,
    seconds: dict[str, float],
) -> Iterator[tuple[int, Tensor]]:
    """``(start, log_probs [n, K, C])`` of the score blocks of ``[own_start, own_stop)``.

    ``rows`` are the rows of positions ``[compute_start, compute_stop)``. Log-probs are
    computed chunk by chunk at chunk-aligned positions; blocks are slices of them (or the
    concatenation of two slices when a block straddles a chunk boundary)."""
    pending: list[Tensor] = []  # log-probs of positions [pending_start, ...)
    pending_start = shard.compute_start
    pending_rows = 0
    next_block = shard.own_start
    position = shard.compute_start
    for x in _timed_batches(inputs, rows, chunk_size, seconds):
        t0 = time.perf_counter()
        lp = draw.log_probs(x).detach().cpu()
        seconds["forward"] += time.perf_counter() - t0
        if len(lp) != len(x):
            raise InvalidInputError(
                f"the posterior draw returned {len(lp)} rows of log-probs for {len(x)} inputs"
            )
        position += len(x)
        pending.append(lp)
        pending_rows += len(lp)
        while next_block < shard.own_stop:
            stop = min(next_block + block, shard.own_stop)
            if pending_start + pending_rows < stop:
                break
            # Slice [next_block, stop) out of the pending chunks.
            parts, offset = [], pending_start
            for chunk in pending:
                a, b = max(next_block, offset), min(stop, offset + len(chunk))
                if a < b:
                    parts.append(chunk[a - offset : b - offset])
                offset += len(chunk)
            yield next_block, parts[0] if len(parts) == 1 else torch.cat(parts)
            next_block = stop
            # Drop chunks wholly before the next block.
            while pending and pending_start + len(pending[0]) <= next_block:
                pending_start += len(pending[0])
                pending_rows -= len(pending[0])
                pending.pop(0)
    if next_block < shard.own_stop:
        raise InvalidInputError(
            f"the pool gave {position - shard.compute_start} inputs for positions "
            f"[{shard.compute_start}, {shard.compute_stop})"
        )


def score_range(
    draw: PosteriorDraw,
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    plan: ScorePlan,
    shard: ShardRange,
    strategy: Strategy | None,
    *,
    generator: torch.Generator,
    log_probs_target_M_K_C: Tensor | None = None,
    exclusions: Exclusions | None = None,
) -> RangeResult:
    """Score positions ``[shard.own_start, shard.own_stop)`` of the pool under ``draw``.

    Args:
        draw: the posterior draw (the same K samples for every range).
        inputs: the pool's inputs.
        rows: input rows of positions ``[shard.compute_start, shard.compute_stop)``.
        plan: what to keep (see :class:`ScorePlan`).
        shard: the range (from :func:`shard_ranges`, or the whole pool).
        strategy: the pointwise strategy (``top_k`` and ``scores`` modes; its ``score``
            is called on every score block with ``generator=generator`` and, when given,
            ``log_probs_target_M_K_C=``); unused for ``prefilter`` (BALD) and
            ``log_probs``.
        generator: passed to ``strategy.score`` (the learner's selection generator, so a
            score that draws random numbers draws them as the in-memory path did).
        log_probs_target_M_K_C: target log-probs for strategies that read them (EPIG).
        exclusions: negative observations of scored items (positions in the whole
            pool): each block's log-probs are conditioned on them before anything reads
            them (:mod:`~bayesal.scoring.exclusions`).

    Returns:
        A :class:`RangeResult`.
    """
    if len(rows) != shard.compute_stop - shard.compute_start:
        raise InvalidInputError(
            f"{len(rows)} rows for positions [{shard.compute_start}, {shard.compute_stop})"
        )
    seconds = {"read": 0.0, "forward": 0.0, "score": 0.0}
    result = RangeResult(shard, seconds=seconds, rows_computed=len(rows))
    block = plan.score_block if plan.mode in ("top_k", "scores") else plan.chunk_size
    extra = {}
    if log_probs_target_M_K_C is not None:
        extra["log_probs_target_M_K_C"] = log_probs_target_M_K_C
    if plan.mode in ("top_k", "scores") and strategy is None:
        raise InvalidInputError(f"mode {plan.mode!r} needs the strategy")
    top = TopKCandidates(plan.keep) if plan.mode == "top_k" else None
    best = BestCandidates(plan.keep, plan.seed) if plan.mode == "prefilter" else None
    kept: list[Tensor] = []
    total, count, largest = 0.0, 0, -math.inf
    for start, lp in _chunk_blocks(draw, inputs, rows, shard, plan.chunk_size, block, seconds):
        t0 = time.perf_counter()
        if exclusions is not None:
            lp = exclusions.block(start, lp)
        positions = torch.arange(start, start + len(lp), dtype=torch.int64)
        if plan.mode == "log_probs":
            kept.append(lp)
        elif plan.mode == "prefilter":
            assert best is not None
            best.push(positions, mutual_information(lp), lp)
        else:
            assert strategy is not None
            raw = strategy.score(lp, generator=generator, **extra)  # type: ignore[attr-defined]
            scores = check_score_chunk(strategy.name, raw, len(lp)).detach().cpu()
            if top is not None:
                top.push(positions, scores)
                finite = scores[torch.isfinite(scores)]
                if len(finite):
                    total += float(finite.double().sum())
                    count += len(finite)
                    largest = max(largest, float(finite.max()))
            else:
                kept.append(scores)
        seconds["score"] += time.perf_counter() - t0
    if plan.mode == "log_probs":
        result.log_probs = torch.cat(kept) if len(kept) > 1 else kept[0]
    elif plan.mode == "scores":
        result.scores = torch.cat(kept) if len(kept) > 1 else kept[0]
    result.top, result.best = top, best
    result.stats = (total, count, largest)
    return result
