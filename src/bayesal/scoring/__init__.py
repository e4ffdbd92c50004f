"""Scoring pools that do not fit in memory, locally or on a Ray cluster.

The learner (:class:`~bayesal.ActiveLearner`) uses this package when the pool's
log-probs ``[N, K, C]`` would not fit (``max_log_probs_bytes``), when a joint strategy is
prefiltered, or when scoring runs on Ray; pools that fit are scored as they always were.
See ``docs/scale.md``.

* :mod:`~.topk`: a streaming top-k that selects exactly what
  :func:`~bayesal.acquisition.selection.top_k` selects on the whole score vector, and the
  candidate set of a prefilter;
* :mod:`~.stream`: one range of the pool scored chunk by chunk under one posterior draw,
  keeping only what the selection needs (bit for bit the in-memory scores);
* :mod:`~.engine`: the plan (what to keep, by strategy), merging ranges and selecting;
* :mod:`~.distributed`: shards as Ray tasks (the posterior shipped once);
* :mod:`~.exclusions`: negative observations ("item i is not class c"), conditioned on
  per posterior sample in every scored block.
"""

from bayesal.scoring.distributed import RayScorer, RayScoringUnavailableError
from bayesal.scoring.engine import (
    DEFAULT_MAX_LOG_PROBS_BYTES,
    DEFAULT_PREFILTER,
    EXECUTORS,
    ScoringReport,
    finish_selection,
    plan_scoring,
    resolve_prefilter,
)
from bayesal.scoring.stream import ScorePlan, ShardRange, score_range, shard_ranges
from bayesal.scoring.topk import BestCandidates, TopKCandidates, select_top_k

__all__ = [
    "DEFAULT_MAX_LOG_PROBS_BYTES",
    "DEFAULT_PREFILTER",
    "EXECUTORS",
    "BestCandidates",
    "RayScorer",
    "RayScoringUnavailableError",
    "ScorePlan",
    "ScoringReport",
    "ShardRange",
    "TopKCandidates",
    "finish_selection",
    "plan_scoring",
    "resolve_prefilter",
    "score_range",
    "select_top_k",
    "shard_ranges",
]
