"""Scoring dispatch: where one query's pool is scored, and how.

:func:`score_and_select` picks the path for one draw of the posterior:

* **in memory** (:func:`score_in_memory`): a pool whose float32 log-probs ``[N, K, C]``
  fit in ``max_log_probs_bytes``, scored locally without a prefilter. Pointwise
  strategies keep ``scores_N`` only; others get the whole ``[N, K, C]``.
* **streamed** (:func:`score_streaming`): a larger pool, a joint strategy with a
  prefilter, or scoring on Ray. The pool is scored chunk by chunk (here, or in shards
  as Ray tasks by :class:`~bayesal.scoring.distributed.RayScorer`), keeping only what
  the selection needs (:mod:`bayesal.scoring`); the shards' results are merged and the
  strategy selects.

Both paths give the same picks for the same draw and generator. Each function reads the
learner's settings (strategy, chunk size, ...) and records ``learner.last_scores`` and
``learner.last_scoring``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from bayesal.acquisition.base import POOL_LOG_PROBS, Selection, is_pointwise, strategy_inputs
from bayesal.learner.embeddings import embedding_inputs
from bayesal.learner.seeds import _PREFILTER, stream_seed
from bayesal.posterior import FittedPosterior
from bayesal.posterior.base import PosteriorDraw
from bayesal.scoring.checks import check_score_chunk, check_scores_rank, check_selection
from bayesal.scoring.engine import (
    ScoringReport,
    finish_selection,
    log_probs_bytes,
    plan_scoring,
    range_seconds,
    resolve_prefilter,
    score_is_deterministic,
    score_locally,
)
from bayesal.scoring.exclusions import Exclusions

if TYPE_CHECKING:
    from bayesal.data.pool import IdArray
    from bayesal.learner import ActiveLearner

__all__ = ["ray_scorer", "score_and_select", "score_in_memory", "score_streaming"]


@torch.no_grad()
def score_and_select(
    learner: ActiveLearner,
    draw: PosteriorDraw,
    scored_ids: IdArray,
    batch_size: int,
    generator: torch.Generator,
    targets_M: Tensor | None,
    *,
    executor: str = "local",
    fitted: FittedPosterior | None = None,
    draw_seed: int = 0,
    r: int = 0,
    exclusions: Exclusions | None = None,
) -> tuple[Selection, float]:
    """The strategy's selection among ``scored_ids`` under one draw, and the time at
    which scoring ended. Inputs stream chunk by chunk (the pool is never copied).

    A pool whose log-probs fit (``max_log_probs_bytes``), scored locally without a
    prefilter, takes the in-memory path (:func:`score_in_memory`); otherwise the pool is
    streamed (:func:`score_streaming`). ``exclusions`` (negative observations of scored
    items, by position) condition the log-probs on both paths before the strategy
    reads them (:mod:`bayesal.scoring.exclusions`)."""
    rows = learner._rows_of(scored_ids)
    n_items = len(rows)
    fits = log_probs_bytes(n_items, draw.num_samples, learner.num_classes) <= (
        learner.max_log_probs_bytes
    )
    prefilter = None
    if not is_pointwise(learner.strategy, given_target=True):
        prefilter = resolve_prefilter(
            learner.prefilter, num_items=n_items, fits=fits, batch_size=batch_size
        )
    if executor == "local" and fits and prefilter is None:
        learner.last_scoring = ScoringReport("in_memory", None, n_items)
        return score_in_memory(
            learner, draw, rows, batch_size, generator, targets_M, exclusions=exclusions
        )
    return score_streaming(
        learner,
        draw,
        rows,
        batch_size,
        generator,
        targets_M,
        executor=executor,
        prefilter=prefilter,
        fitted=fitted,
        draw_seed=draw_seed,
        tie_seed=stream_seed(learner.seed, _PREFILTER, r),
        exclusions=exclusions,
    )


def score_in_memory(
    learner: ActiveLearner,
    draw: PosteriorDraw,
    rows: NDArray[np.int64],
    batch_size: int,
    generator: torch.Generator,
    targets_M: Tensor | None,
    *,
    exclusions: Exclusions | None = None,
) -> tuple[Selection, float]:
    """The original scoring path: pointwise scores chunk by chunk, concatenated; or,
    for other strategies, the whole ``[N, K, C]`` (and EPIG's targets) in memory."""
    strategy = learner.strategy
    inputs, chunk_size = learner.inputs, learner.chunk_size
    blocks = _conditioned_blocks(draw, inputs, rows, chunk_size, exclusions)
    if is_pointwise(strategy):
        # Only scores_N is kept, never [N, K, C] of the whole pool. (EPIG is held
        # whole here; score_streaming scores it in its own row blocks, with the
        # same bits, for pools that do not fit.)
        # Each chunk's scores are checked as the strategy returns them (a plugin may
        # return the wrong length or NaN: bayesal.scoring.checks).
        if getattr(strategy, "score_uses_generator", True):
            scores_N = torch.cat([_chunk_scores(strategy, lp.cpu(), generator) for lp in blocks])
        else:
            # Scored where the draw computes (a GPU): the scores come to the host
            # once, not [n, K, C] per chunk (on the CPU the same computation).
            scores_N = torch.cat([_chunk_scores(strategy, lp, generator) for lp in blocks]).cpu()
        scored = time.perf_counter()
        finite = scores_N[torch.isfinite(scores_N)]
        check_scores_rank(strategy.name, len(finite), len(scores_N))
        learner.last_scores = (
            {"mean": float(finite.mean()), "max": float(finite.max())} if len(finite) else {}
        )
        selection = strategy.select_from_scores(scores_N, batch_size, generator=generator)
        return check_selection(strategy.name, selection, batch_size, len(rows)), scored
    log_probs_N_K_C = None
    if POOL_LOG_PROBS in strategy_inputs(strategy):  # coreset, TypiClust: embeddings only
        log_probs_N_K_C = torch.cat([lp.cpu() for lp in blocks])
    log_probs_target_M_K_C = _target_log_probs(draw, targets_M, chunk_size)
    extra = embedding_inputs(learner, rows)
    scored = time.perf_counter()
    learner.last_scores = {}
    selection = strategy.select(
        log_probs_N_K_C,  # type: ignore[arg-type]
        batch_size,
        generator=generator,
        log_probs_target_M_K_C=log_probs_target_M_K_C,
        **extra,
    )
    return check_selection(strategy.name, selection, batch_size, len(rows)), scored


def score_streaming(
    learner: ActiveLearner,
    draw: PosteriorDraw,
    rows: NDArray[np.int64],
    batch_size: int,
    generator: torch.Generator,
    targets_M: Tensor | None,
    *,
    executor: str,
    prefilter: int | None,
    fitted: FittedPosterior | None,
    draw_seed: int,
    tie_seed: int,
    exclusions: Exclusions | None = None,
) -> tuple[Selection, float]:
    """Stream the pool (here or as Ray tasks, :mod:`bayesal.scoring`), keeping only
    what the selection needs; then merge and select."""
    strategy = learner.strategy
    t0 = time.perf_counter()
    log_probs_target_M_K_C = _target_log_probs(draw, targets_M, learner.chunk_size)
    plan = plan_scoring(
        strategy,
        num_items=len(rows),
        batch_size=batch_size,
        num_classes=learner.num_classes,
        chunk_size=learner.chunk_size,
        num_targets=None if targets_M is None else len(targets_M),
        prefilter=prefilter,
        seed=tie_seed,
    )
    if executor == "ray" and not score_is_deterministic(strategy, plan):
        warnings.warn(
            f"strategy {strategy.name!r} draws random numbers while scoring, in pool "
            "order: it is scored in this process, so that its picks match a local run",
            stacklevel=5,  # as before the split (same frames)
        )
        executor = "local"
    shards = 1
    if executor == "ray":
        assert fitted is not None
        results, seconds, shards = ray_scorer(learner).score(
            fitted,
            draw_seed,
            learner.inputs,
            rows,
            plan,
            strategy,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            exclusions=exclusions,
        )
    else:
        results = score_locally(
            draw,
            learner.inputs,
            rows,
            plan,
            strategy,
            generator=generator,
            log_probs_target_M_K_C=log_probs_target_M_K_C,
            exclusions=exclusions,
        )
        seconds = {"ship": 0.0, "score": time.perf_counter() - t0}
    scored = time.perf_counter()
    selection, summary, kept = finish_selection(
        plan,
        results,
        strategy,
        batch_size,
        generator=generator,
        log_probs_target_M_K_C=log_probs_target_M_K_C,
        select_inputs=lambda positions: embedding_inputs(learner, rows[positions.numpy()]),
    )
    seconds["merge"] = time.perf_counter() - scored
    learner.last_scores = summary
    learner.last_scoring = ScoringReport(
        path="ray" if executor == "ray" else "stream",
        mode=plan.mode,
        num_items=len(rows),
        num_shards=shards,
        prefilter=plan.keep if plan.mode == "prefilter" else None,
        candidates=kept,
        seconds={**seconds, **range_seconds(results)},
    )
    return selection, scored


def ray_scorer(learner: ActiveLearner) -> Any:
    """The learner's :class:`~bayesal.scoring.distributed.RayScorer`, made on first use
    (``learner.close()`` releases it)."""
    if learner._ray_scorer is None:
        from bayesal.scoring.distributed import RayScorer

        learner._ray_scorer = RayScorer(
            address=learner.ray_address, num_shards=learner.score_shards
        )
    return learner._ray_scorer


def _target_log_probs(
    draw: PosteriorDraw, targets_M: Tensor | None, chunk_size: int
) -> Tensor | None:
    """``[M, K, C]`` log-probs of EPIG's target inputs (None without targets)."""
    if targets_M is None:
        return None
    return torch.cat(
        [
            draw.log_probs(targets_M[i : i + chunk_size]).cpu()
            for i in range(0, len(targets_M), chunk_size)
        ]
    )


def _conditioned_blocks(
    draw: PosteriorDraw,
    inputs: Any,
    rows: NDArray[np.int64],
    chunk_size: int,
    exclusions: Exclusions | None,
) -> Iterator[Tensor]:
    """The ``[n, K, C]`` log-probs of the chunks of ``rows``, in order, on the draw's
    device, conditioned on ``exclusions`` (positions counted from the first row)."""
    start = 0
    for x in inputs.batches(rows, chunk_size):
        lp = draw.log_probs(x)
        if exclusions is not None:
            lp = exclusions.block(start, lp)
        start += len(lp)
        yield lp


def _chunk_scores(strategy: Any, log_probs_n_K_C: Tensor, generator: torch.Generator) -> Tensor:
    """``strategy.score`` of one chunk, checked (shape ``[n]``, floating, no NaN)."""
    scores = strategy.score(log_probs_n_K_C, generator=generator)
    return check_score_chunk(strategy.name, scores, len(log_probs_n_K_C))
