"""Score a pool too large for ``[N, K, C]`` and select from it, locally or on Ray.

:func:`plan_scoring` decides what each scored chunk leaves behind
(:class:`~.stream.ScorePlan`), :func:`score_pool` scores the pool (one range in this
process, or shards as Ray tasks, :mod:`~.distributed`) and :func:`finish_selection`
merges the ranges and selects:

* a pointwise strategy with a top-k selector keeps a streaming top-k: the selection is
  that of :func:`~bayesal.acquisition.selection.top_k` on the whole score vector (same
  positions, same scores, same use of the generator);
* a pointwise strategy with any other selector (power / softmax / softrank sampling)
  gathers all N scores (4-8 bytes per item: 8 MB for a million) and calls
  ``select_from_scores`` as the in-memory path does;
* EPIG is pointwise given its target log-probs (computed once, M x K x C): scored like
  the above, in EPIG's own row blocks, bit for bit the one-call scores;
* a joint strategy (BatchBALD, or any strategy that is not pointwise) runs on a
  candidate set: the ``prefilter`` best items by BALD (a cheap first pass, with their
  log-probs kept), or, with ``prefilter=None``, on the whole pool's log-probs. An
  embedding strategy (BADGE, coreset, TypiClust) is joint too: its embeddings are
  computed after the merge, for the candidates only (``finish_selection(select_inputs=)``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition.base import Selection, Strategy, is_pointwise
from bayesal.acquisition.epig import EPIGScore
from bayesal.acquisition.scored import FunctionScore, ScoredStrategy, TopKSelector
from bayesal.data.source import PoolInputs
from bayesal.errors import InvalidInputError
from bayesal.posterior.base import PosteriorDraw
from bayesal.scoring.checks import check_scores_rank, check_selection
from bayesal.scoring.exclusions import Exclusions
from bayesal.scoring.stream import (
    RangeResult,
    ScorePlan,
    ShardRange,
    score_block_of,
    score_range,
)
from bayesal.scoring.topk import BestCandidates, TopKCandidates, select_top_k

__all__ = [
    "DEFAULT_MAX_LOG_PROBS_BYTES",
    "DEFAULT_PREFILTER",
    "EXECUTORS",
    "ScoringReport",
    "check_prefilter",
    "finish_selection",
    "log_probs_bytes",
    "plan_scoring",
    "range_seconds",
    "resolve_prefilter",
    "score_is_deterministic",
    "score_locally",
    "uses_top_k_selector",
]

#: Candidate set size of a joint strategy under ``prefilter="auto"`` on a large pool.
DEFAULT_PREFILTER = 2000
#: A pool whose log-probs ``[N, K, C]`` (float32) take more than this is streamed.
DEFAULT_MAX_LOG_PROBS_BYTES = 1 << 30
#: Where a pool is scored.
EXECUTORS: tuple[str, ...] = ("local", "ray")


@dataclass(frozen=True)
class ScoringReport:
    """How the last query scored its pool.

    Attributes:
        path: ``in_memory`` (the pool's log-probs or scores held whole, as always for
            pools that fit), ``stream`` (chunk by chunk in this process) or ``ray``.
        mode: the plan's mode (``top_k``, ``scores``, ``prefilter``, ``log_probs``), or
            None on the in-memory path.
        num_items: N, the items scored.
        num_shards: ranges scored (1 locally).
        prefilter: the candidate set size of a joint strategy (None: exact).
        candidates: items kept for the selection (top-k candidates, prefilter set).
        seconds: wall-clock split: ``ship`` (Ray: ``ray.put`` of the posterior, pool
            reference and targets), ``score`` (scoring: all shards, in parallel on Ray),
            ``merge`` (merging shards and selecting), and, summed over ranges, ``read``,
            ``forward`` and ``score_compute`` (inside the ranges).
    """

    path: str
    mode: str | None
    num_items: int
    num_shards: int = 1
    prefilter: int | None = None
    candidates: int = 0
    seconds: Mapping[str, float] = field(default_factory=dict)


def resolve_prefilter(
    prefilter: int | str | None, *, num_items: int, fits: bool, batch_size: int
) -> int | None:
    """The candidate set size for a joint strategy, or None for an exact selection.

    ``"auto"``: :data:`DEFAULT_PREFILTER` when the pool's log-probs do not fit
    (``fits`` False), else exact. An int m: m whenever the pool has more than m items.
    None: always exact. The size is raised to ``batch_size`` when smaller.
    """
    if prefilter is None:
        return None
    if prefilter == "auto":
        size = None if fits else DEFAULT_PREFILTER
    else:
        size = check_prefilter(prefilter)  # type: ignore[assignment]
    if size is None or num_items <= size:
        return None
    return max(size, batch_size)


def check_prefilter(prefilter: object) -> int | str | None:
    """``prefilter`` if it is ``"auto"``, None or an int >= 1; else InvalidInputError."""
    if prefilter is None or prefilter == "auto":
        return prefilter
    if isinstance(prefilter, bool) or not isinstance(prefilter, int | np.integer) or prefilter < 1:
        raise InvalidInputError(
            f"prefilter must be 'auto', None (exact) or a candidate count >= 1, got {prefilter!r}"
        )
    return int(prefilter)


def uses_top_k_selector(strategy: Strategy) -> bool:
    """True for a :class:`~bayesal.acquisition.scored.ScoredStrategy` whose selection is
    the plain :class:`~bayesal.acquisition.scored.TopKSelector` (then a streaming top-k
    selects exactly what ``select_from_scores`` would)."""
    return (
        isinstance(strategy, ScoredStrategy)
        and type(strategy.selector) is TopKSelector
        and type(strategy).select_from_scores is ScoredStrategy.select_from_scores
    )


def score_is_deterministic(strategy: Strategy, plan: ScorePlan) -> bool:
    """Whether the plan's per-chunk scores draw no random numbers, so that shards may
    score in any order and place (BALD prefilter, kept log-probs, a function score that
    takes no generator, EPIG). Unknown scorers count as random."""
    if plan.mode in ("prefilter", "log_probs"):
        return True
    scorer = getattr(strategy, "scorer", None)
    if isinstance(scorer, FunctionScore):
        return not scorer.uses_generator
    return isinstance(scorer, EPIGScore)


def plan_scoring(
    strategy: Strategy,
    *,
    num_items: int,
    batch_size: int,
    num_classes: int,
    chunk_size: int,
    num_targets: int | None,
    prefilter: int | None,
    seed: int = 0,
) -> ScorePlan:
    """The :class:`~.stream.ScorePlan` for ``strategy`` on a pool of ``num_items``.

    ``prefilter`` is the resolved candidate set size (:func:`resolve_prefilter`) for a
    joint strategy; ``seed`` seeds its tie-breaking keys.
    """
    if is_pointwise(strategy, given_target=True):
        block = score_block_of(strategy, chunk_size, num_targets, num_classes)
        if uses_top_k_selector(strategy):
            return ScorePlan("top_k", num_items, chunk_size, block, keep=batch_size)
        return ScorePlan("scores", num_items, chunk_size, block)
    if prefilter is not None and num_items > prefilter:
        return ScorePlan("prefilter", num_items, chunk_size, chunk_size, keep=prefilter, seed=seed)
    return ScorePlan("log_probs", num_items, chunk_size, chunk_size)


def score_locally(
    draw: PosteriorDraw,
    inputs: PoolInputs,
    rows: NDArray[np.int64],
    plan: ScorePlan,
    strategy: Strategy,
    *,
    generator: torch.Generator,
    log_probs_target_M_K_C: Tensor | None,
    exclusions: Exclusions | None = None,
) -> list[RangeResult]:
    """The whole pool as one range in this process (``exclusions``: negative
    observations to condition on, :mod:`~.exclusions`)."""
    whole = ShardRange(0, plan.num_items, 0, plan.num_items)
    return [
        score_range(
            draw,
            inputs,
            rows,
            plan,
            whole,
            strategy,
            generator=generator,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            exclusions=exclusions,
        )
    ]


def _check_cover(plan: ScorePlan, results: list[RangeResult]) -> list[RangeResult]:
    ordered = sorted(results, key=lambda r: r.shard.own_start)
    expected = 0
    for result in ordered:
        if result.shard.own_start != expected:
            raise InvalidInputError(
                f"scored ranges do not cover the pool: gap or overlap at position {expected}"
            )
        expected = result.shard.own_stop
    if expected != plan.num_items:
        raise InvalidInputError(f"scored ranges stop at {expected} of {plan.num_items} items")
    return ordered


def finish_selection(
    plan: ScorePlan,
    results: list[RangeResult],
    strategy: Strategy,
    batch_size: int,
    *,
    generator: torch.Generator,
    log_probs_target_M_K_C: Tensor | None = None,
    select_inputs: Callable[[Tensor], Mapping[str, Tensor]] | None = None,
) -> tuple[Selection, dict[str, float], int]:
    """Merge the ranges' results and select ``batch_size`` positions of the pool.

    ``select_inputs`` (joint strategies): given the positions ``[M]`` of the items the
    strategy selects among (the prefilter's candidates, or the whole pool), in the order
    of the log-probs it is handed, the extra keyword inputs of its ``select`` (the
    learner's ``embeddings_N_D=`` / ``labelled_embeddings_L_D=``), computed for those
    items only.

    Returns the selection (positions into the scored pool, in pick order), the score
    summary ``{"mean", "max"}`` of finite scores for pointwise strategies (``{}`` for
    joint ones) and the number of items kept for the selection.
    """
    results = _check_cover(plan, results)
    if plan.mode == "top_k":
        parts = [r.top for r in results if r.top is not None]
        merged = parts[0] if len(parts) == 1 else TopKCandidates.merge(parts)
        selection = select_top_k(merged, plan.num_items, batch_size, generator=generator)
        total = sum(r.stats[0] for r in results)
        count = sum(r.stats[1] for r in results)
        largest = max(r.stats[2] for r in results)
        check_scores_rank(strategy.name, count, plan.num_items)
        summary = {"mean": total / count, "max": largest} if count else {}
        return selection, summary, len(merged)
    if plan.mode == "scores":
        pieces = [r.scores for r in results if r.scores is not None]
        scores_N = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        finite = scores_N[torch.isfinite(scores_N)]
        check_scores_rank(strategy.name, len(finite), len(scores_N))
        summary = {"mean": float(finite.mean()), "max": float(finite.max())} if len(finite) else {}
        selection = strategy.select_from_scores(scores_N, batch_size, generator=generator)  # type: ignore[attr-defined]
        selection = check_selection(strategy.name, selection, batch_size, len(scores_N))
        return selection, summary, len(scores_N)
    if plan.mode == "prefilter":
        best = [r.best for r in results if r.best is not None]
        merged_best = best[0] if len(best) == 1 else BestCandidates.merge(best)
        positions_M, _, log_probs_M_K_C = merged_best.in_position_order()
        extra = {} if select_inputs is None else dict(select_inputs(positions_M))
        inner = strategy.select(
            log_probs_M_K_C,
            batch_size,
            generator=generator,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            **extra,
        )
        inner = check_selection(strategy.name, inner, batch_size, len(positions_M))
        indices_B = positions_M[inner.indices_B.cpu()]
        return Selection(indices_B=indices_B, scores_B=inner.scores_B), {}, len(positions_M)
    pieces = [r.log_probs for r in results if r.log_probs is not None]
    log_probs_N_K_C = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
    extra = {}
    if select_inputs is not None:
        extra = dict(select_inputs(torch.arange(len(log_probs_N_K_C), dtype=torch.int64)))
    selection = strategy.select(
        log_probs_N_K_C,
        batch_size,
        generator=generator,
        log_probs_target_M_K_C=log_probs_target_M_K_C,
        **extra,
    )
    selection = check_selection(strategy.name, selection, batch_size, len(log_probs_N_K_C))
    return selection, {}, len(log_probs_N_K_C)


def range_seconds(results: list[RangeResult]) -> dict[str, float]:
    """The ranges' ``read`` / ``forward`` / ``score`` seconds, summed (CPU-seconds of
    all shards together on Ray)."""
    out = {"read": 0.0, "forward": 0.0, "score_compute": 0.0}
    for r in results:
        out["read"] += r.seconds.get("read", 0.0)
        out["forward"] += r.seconds.get("forward", 0.0)
        out["score_compute"] += r.seconds.get("score", 0.0)
    return out


def log_probs_bytes(num_items: int, num_samples: int, num_classes: int) -> int:
    """Bytes of ``[N, K, C]`` float32 log-probs."""
    return num_items * num_samples * num_classes * 4
